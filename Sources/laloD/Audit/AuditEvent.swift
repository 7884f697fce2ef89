import Shared

/// What a subsystem asks the audit log to record. Sequence, time and hashes are added by the
/// writer, in commit order.
struct AuditEvent: Sendable {
    enum Kind: String, Sendable {
        case call, denial, session, role, system
    }

    enum Outcome: String, Sendable {
        case ok, error, denied
    }

    var kind: Kind
    var uid: Int64
    var user: String
    var pid: Int32
    var sessionId: Int64
    var method: String
    var outcome: Outcome
    var errorKind: ErrorKind?
    var durationMicros: Int64
    var paramsDigest: String
    var detail: JSONValue?

    static func system(_ method: String, outcome: Outcome = .ok, errorKind: ErrorKind? = nil,
                       detail: JSONValue? = nil) -> AuditEvent {
        AuditEvent(kind: .system, uid: Int64(getuid()), user: "laloD", pid: getpid(), sessionId: 0, method: method,
                   outcome: outcome, errorKind: errorKind, durationMicros: 0, paramsDigest: digestOfParams(nil),
                   detail: detail)
    }
}

#if canImport(Glibc)
import Glibc
#endif
