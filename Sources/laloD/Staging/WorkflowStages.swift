import Foundation
import Shared

/// Where workflows stage their execution attempts: `STAGES/ID/ATTEMPT`, one ``Stage`` each over
/// the workflow's workspace. It knows the directories and the approval mark; what a stage means
/// for a workflow's state (which one to apply, which to drop after a crash) is the engine's.
struct WorkflowStages: Sendable {
    /// `STATE/stages`.
    let root: String
    /// `STATE/workspaces`: commits swap trees in here, and leave their leftovers here after a crash.
    let workspaceRoot: String

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    func directory(_ id: String, attempt: Int) -> String { "\(root)/\(id)/\(attempt)" }

    func stage(_ id: String, attempt: Int) throws -> Stage { try Stage(directory: directory(id, attempt: attempt)) }

    /// Workflows with a stage directory.
    var workflowIds: [String] { (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? [] }

    /// Commits the attempt's stage to `workspace`. A mark written durably first records who
    /// accepted it, so a start after a crash between the two can finish the commit. Nil when the
    /// attempt staged nothing.
    func apply(
        _ id: String, attempt: Int, to workspace: Workspace, approvedBy actor: AuditActor
    ) throws(Failure) -> Stage.Applied? {
        let directory = directory(id, attempt: attempt)
        guard Stage.exists(directory) else { return nil }
        let mark = JSONWriter.bytes(["uid": .int(Int64(actor.uid)), "user": .string(actor.user)])
        // Durable before the swap: after a crash, the mark is what says the swapped workspace was
        // accepted rather than left over.
        guard Self.writeDurably(directory + "/approved", mark) else {
            throw Failure(description: "could not mark the stage approved")
        }
        do {
            return try Stage(directory: directory).apply(to: workspace)
        } catch {
            dropApproval(id, attempt: attempt)
            throw Failure(description: "could not apply the stage: \(error)")
        }
    }

    /// Who accepted the attempt's stage, if a mark says so (a commit a crash interrupted).
    func approval(_ id: String, attempt: Int) -> (uid: Int64?, user: String?)? {
        guard let mark = FileManager.default.contents(atPath: directory(id, attempt: attempt) + "/approved"),
            let json = try? JSONParser.parse(Array(mark))
        else { return nil }
        return (json["uid"]?.numberValue.map { Int64($0) }, json["user"]?.stringValue)
    }

    func dropApproval(_ id: String, attempt: Int) {
        try? FileManager.default.removeItem(atPath: directory(id, attempt: attempt) + "/approved")
    }

    /// Discards every stage of a workflow; what they changed in `workspace`, one line each.
    func discard(_ id: String, over workspace: Workspace) throws -> [String] {
        let root = "\(self.root)/\(id)"
        let attempts = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        var undone: [String] = []
        for attempt in attempts.sorted() where Stage.exists(root + "/" + attempt) {
            undone += Stage.undoneLines((try? Stage(directory: root + "/" + attempt).changes(over: workspace)) ?? [])
        }
        guard FileTree.remove(path: root) else { throw FileTree.Failure(path: root, code: errno) }
        return undone
    }

    /// Removes every stage of the workflow but `attempt`'s.
    func keepOnly(_ id: String, attempt: Int) {
        let current = String(attempt)
        for other in (try? FileManager.default.contentsOfDirectory(atPath: "\(root)/\(id)")) ?? []
        where other != current {
            FileTree.remove(path: "\(root)/\(id)/\(other)")
        }
    }

    /// Removes every stage of the workflow (a commit that already applied it).
    func remove(_ id: String) { FileTree.remove(path: "\(root)/\(id)") }

    /// Trees a commit built or swapped out when laloD stopped in the middle of it.
    func removeLeftoverTrees() {
        for name in (try? FileManager.default.contentsOfDirectory(atPath: workspaceRoot)) ?? []
        where Stage.isLeftover(name) {
            FileTree.remove(path: workspaceRoot + "/" + name)
        }
    }

    static func writeDurably(_ path: String, _ bytes: [UInt8]) -> Bool {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return false }
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        let synced = fsync(fd) == 0
        close(fd)
        let directory = open((path as NSString).deletingLastPathComponent, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directory >= 0 {
            fsync(directory)
            close(directory)
        }
        return written == bytes.count && synced
    }
}
