import Shared

/// A tool call refused by the registry: unknown, disabled, not permitted, badly configured (docs/tools.md).
struct ToolError: DaemonError {
    var kind: ErrorKind
    var message: String
    var field: String?
    var detail: [String: JSONValue] = [:]
}
