import Shared

/// What a subsystem asks the audit log to record. Sequence, time and hashes are added by the
/// writer, in commit order.
struct AuditEvent: Sendable {
    enum Kind: String, Sendable {
        case call, denial, session, role, system, secret, model, tool
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

    static func system(
        _ method: String, outcome: Outcome = .ok, errorKind: ErrorKind? = nil,
        detail: JSONValue? = nil
    ) -> AuditEvent {
        AuditEvent(
            kind: .system, uid: Int64(getuid()), user: "laloD", pid: getpid(), sessionId: 0, method: method,
            outcome: outcome, errorKind: errorKind, durationMicros: 0, paramsDigest: digestOfParams(nil),
            detail: detail)
    }
}

#if canImport(Glibc)
    import Glibc
#endif

extension AuditEvent {
    /// An entry made on behalf of `actor` by a subsystem (a secret read, a model call).
    init(
        _ kind: Kind, _ method: String, by actor: AuditActor, outcome: Outcome = .ok, errorKind: ErrorKind? = nil,
        durationMicros: Int64 = 0, detail: JSONValue? = nil
    ) {
        self.init(
            kind: kind, uid: actor.uid, user: actor.user, pid: actor.pid, sessionId: actor.sessionId, method: method,
            outcome: outcome, errorKind: errorKind, durationMicros: durationMicros,
            paramsDigest: digestOfParams(nil), detail: detail)
    }
}

/// Who an audit entry is about: a session's caller, or the daemon itself.
struct AuditActor: Sendable, Equatable {
    var uid: Int64
    var user: String
    var pid: Int32
    var sessionId: Int64

    static var daemon: AuditActor { AuditActor(uid: Int64(getuid()), user: "laloD", pid: getpid(), sessionId: 0) }

    init(uid: Int64, user: String, pid: Int32, sessionId: Int64) {
        self.uid = uid
        self.user = user
        self.pid = pid
        self.sessionId = sessionId
    }

    init(session: Session) {
        self.init(
            uid: Int64(session.principal.uid), user: session.principal.user, pid: session.principal.pid,
            sessionId: session.id)
    }
}
