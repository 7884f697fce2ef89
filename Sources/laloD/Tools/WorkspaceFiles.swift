import Shared

/// What the tools see of a workflow's workspace: the directory itself (``Workspace``), or the
/// directory with the current execution's changes staged on top of it (``StagedWorkspace``).
protocol WorkspaceFiles: Sendable {
    /// The workspace directory (with a stage, the lower layer the sandbox mounts).
    var root: String { get }
    /// The stage that writes go to, or nil when they go straight to `root`.
    var stage: Stage? { get }
    func read(_ path: String) throws(Workspace.Failure) -> [UInt8]
    func write(_ path: String, _ bytes: [UInt8]) throws(Workspace.Failure)
    func append(_ path: String, _ bytes: [UInt8]) throws(Workspace.Failure)
    func list(_ path: String) throws(Workspace.Failure) -> [Workspace.Entry]
    func move(_ from: String, to destination: String) throws(Workspace.Failure)
    func delete(_ path: String) throws(Workspace.Failure)
}

extension Workspace: WorkspaceFiles {
    var stage: Stage? { nil }
    func write(_ path: String, _ bytes: [UInt8]) throws(Workspace.Failure) {
        try write(path, bytes, createDirectories: true)
    }
}
