import Shared

/// A workflow decision the state machine refuses, an unknown workflow, a commit that could not be applied (docs/workflows.md).
struct WorkflowError: DaemonError {
    var kind: ErrorKind
    var message: String
    var field: String?
    var detail: [String: JSONValue] = [:]
}
