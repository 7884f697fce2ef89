/// The stable application error kinds of docs/protocol.md#errors, sent in `error.data.kind`.
///
/// Clients switch on the kind, never on the message, so kinds are never renamed.
public enum ErrorKind: String, Codable, Sendable, CaseIterable {
    case parseError
    case invalidRequest
    case methodNotFound
    case invalidParams
    case internalError
    case permissionDenied
    case notFound
    case conflict
    case rateLimited
    case validationFailed
    case unavailable
    case timeout

    /// The JSON-RPC code for this kind. Standard kinds use the spec's reserved codes; the
    /// application kinds live in -32000…-32099 ("server error" range) at fixed positions.
    public var code: Int64 {
        switch self {
        case .parseError: return -32700
        case .invalidRequest: return -32600
        case .methodNotFound: return -32601
        case .invalidParams: return -32602
        case .internalError: return -32603
        case .permissionDenied: return -32001
        case .notFound: return -32002
        case .conflict: return -32003
        case .rateLimited: return -32004
        case .validationFailed: return -32005
        case .unavailable: return -32006
        case .timeout: return -32007
        }
    }

    public init?(code: Int64) {
        guard let kind = ErrorKind.allCases.first(where: { $0.code == code }) else { return nil }
        self = kind
    }
}

/// An error as a value: a kind, a human message, and optionally the field that failed.
///
/// Only errors of this type cross the socket. Anything else a handler throws is logged and
/// replaced by ``RPCError/internalError(_:)`` with a generic message, so no stack trace, path or
/// secret can leak through an error message.
public struct RPCError: Error, Sendable, Hashable, CustomStringConvertible {
    public var kind: ErrorKind
    public var message: String
    /// Dotted path of the failing parameter (`params.limit`, `params.subject.user`), when there is one.
    public var field: String?
    /// Extra structured detail safe to show the caller.
    public var detail: [String: JSONValue]

    public init(_ kind: ErrorKind, _ message: String, field: String? = nil, detail: [String: JSONValue] = [:]) {
        self.kind = kind
        self.message = message
        self.field = field
        self.detail = detail
    }

    public var code: Int64 { kind.code }

    public var description: String {
        if let field { return "\(message) (\(field))" }
        return message
    }

    public static func parseError(_ message: String) -> RPCError { .init(.parseError, "Parse error: \(message)") }
    public static func invalidRequest(_ message: String) -> RPCError {
        .init(.invalidRequest, "Invalid Request: \(message)")
    }
    public static func methodNotFound(_ method: String) -> RPCError {
        .init(.methodNotFound, "Method not found: \(method)")
    }
    public static func invalidParams(_ message: String, field: String?) -> RPCError {
        .init(.invalidParams, "Invalid params: \(message)", field: field)
    }
    public static func internalError(_ message: String = "internal error; see the daemon log") -> RPCError {
        .init(.internalError, message)
    }
    public static func permissionDenied(_ message: String) -> RPCError { .init(.permissionDenied, message) }
    public static func notFound(_ message: String, field: String? = nil) -> RPCError {
        .init(.notFound, message, field: field)
    }
    public static func conflict(_ message: String) -> RPCError { .init(.conflict, message) }
    public static func rateLimited(_ message: String) -> RPCError { .init(.rateLimited, message) }
    public static func validationFailed(_ message: String, field: String? = nil) -> RPCError {
        .init(.validationFailed, message, field: field)
    }
    public static func unavailable(_ message: String) -> RPCError { .init(.unavailable, message) }
    public static func timeout(_ message: String) -> RPCError { .init(.timeout, message) }

    /// The `error` member of a JSON-RPC response.
    public var json: JSONValue {
        var data = detail
        data["kind"] = .string(kind.rawValue)
        if let field { data["field"] = .string(field) }
        return .object(["code": .int(code), "message": .string(message), "data": .object(data)])
    }

    /// Rebuilds an error from the `error` member of a response (client side).
    public init(json: JSONValue) {
        let code = json["code"]?.intValue ?? ErrorKind.internalError.code
        let data = json["data"]?.objectValue ?? [:]
        let kind =
            data["kind"]?.stringValue.flatMap(ErrorKind.init(rawValue:)) ?? ErrorKind(code: code) ?? .internalError
        var detail = data
        detail["kind"] = nil
        detail["field"] = nil
        self.init(
            kind, json["message"]?.stringValue ?? "unknown error", field: data["field"]?.stringValue, detail: detail)
    }
}
