import Shared

/// A subsystem's failure that its caller may see: a stable kind, a message safe to show, the
/// parameter it is about, and structured detail.
///
/// Subsystems (sandbox, tools, workflows, secrets, models) throw their own types conforming to
/// this and never speak JSON-RPC; the dispatcher turns any of them into the wire's error in one
/// place (`Server/DaemonError+RPC.swift`), where the audit log records it. Anything else a
/// handler throws becomes a generic internal error, so nothing unvetted reaches a client.
protocol DaemonError: Error, Sendable, CustomStringConvertible {
    var kind: ErrorKind { get }
    var message: String { get }
    /// Dotted path of the parameter at fault (`params.path`), when there is one.
    var field: String? { get }
    var detail: [String: JSONValue] { get }
    init(kind: ErrorKind, message: String, field: String?, detail: [String: JSONValue])
}

extension DaemonError {
    var description: String { field.map { "\(message) (\($0))" } ?? message }

    init(_ kind: ErrorKind, _ message: String, field: String? = nil, detail: [String: JSONValue] = [:]) {
        self.init(kind: kind, message: message, field: field, detail: detail)
    }

    /// The messages read as they always have on the wire (docs/protocol.md#errors).
    static func invalidParams(_ message: String, field: String?) -> Self {
        Self(.invalidParams, "Invalid params: \(message)", field: field)
    }
    static func permissionDenied(_ message: String) -> Self { Self(.permissionDenied, message) }
    static func notFound(_ message: String, field: String? = nil) -> Self { Self(.notFound, message, field: field) }
    static func conflict(_ message: String) -> Self { Self(.conflict, message) }
    static func rateLimited(_ message: String) -> Self { Self(.rateLimited, message) }
    static func validationFailed(_ message: String, field: String? = nil) -> Self {
        Self(.validationFailed, message, field: field)
    }
    static func unavailable(_ message: String) -> Self { Self(.unavailable, message) }
    static func timeout(_ message: String) -> Self { Self(.timeout, message) }
}
