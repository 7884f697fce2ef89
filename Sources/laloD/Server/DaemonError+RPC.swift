import Shared

/// The one mapping from the daemon's errors to JSON-RPC errors: kinds, messages and fields pass
/// through unchanged, so what clients see is what the subsystem said.
extension RPCError {
    init(_ error: any DaemonError) {
        if let error = error as? RPCError {
            self = error
        } else {
            self.init(error.kind, error.message, field: error.field, detail: error.detail)
        }
    }
}

/// Handlers may still throw the wire's own errors (a malformed request is the wire's business).
extension RPCError: DaemonError {
    init(kind: ErrorKind, message: String, field: String?, detail: [String: JSONValue]) {
        self.init(kind, message, field: field, detail: detail)
    }
}
