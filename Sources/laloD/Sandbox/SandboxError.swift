import Shared

/// A sandbox that cannot be set up or a job that is not valid (docs/sandbox.md).
struct SandboxError: DaemonError {
    var kind: ErrorKind
    var message: String
    var field: String?
    var detail: [String: JSONValue] = [:]
}
