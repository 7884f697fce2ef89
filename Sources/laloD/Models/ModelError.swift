import Shared

/// A model that cannot answer: no provider for the role, the local server not running, a provider's refusal (docs/models.md).
struct ModelError: DaemonError {
    var kind: ErrorKind
    var message: String
    var field: String?
    var detail: [String: JSONValue] = [:]
}
