import Shared

/// A secret that does not exist, or a rotation already running (docs/secrets.md).
struct SecretAccessError: DaemonError {
    var kind: ErrorKind
    var message: String
    var field: String?
    var detail: [String: JSONValue] = [:]
}
