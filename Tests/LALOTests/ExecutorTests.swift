import Foundation
@testable import laloD
import Shared
import Testing

/// The executor with the real registry and workspace: snapshots, verification, rollback that
/// restores the workspace byte for byte, and steps that run at most once.
@Suite("Executor")
struct ExecutorTests {
    final class Fixture: @unchecked Sendable {
        let subsystems: Subsystems
        let workspace: Workspace
        let executor: Executor

        init() throws {
            subsystems = try Subsystems("lalo-exec")
            workspace = try Workspace(root: subsystems.directory.file("ws"))
            executor = Executor(tools: ToolRegistry(tools: [FileTool()], store: subsystems.store, audit: subsystems.audit,
                                                    redactor: subsystems.redactor))
        }

        var context: ToolContext {
            ToolContext(actor: AuditActor(uid: 1000, user: "alice", pid: 1, sessionId: 1), permissions: [.workflowRun],
                        workspace: workspace, workflowId: "wf_x", step: nil, idempotencyKey: "")
        }

        /// Every file in the workspace with its bytes.
        func contents() throws -> [String: [UInt8]] {
            var all: [String: [UInt8]] = [:]
            func walk(_ path: String) throws {
                for entry in try workspace.list(path) {
                    let child = path == "." ? entry.name : "\(path)/\(entry.name)"
                    if entry.type == "directory" { try walk(child) } else { all[child] = try workspace.read(child) }
                }
            }
            try walk(".")
            return all
        }
    }

    static func step(_ arguments: JSONValue, _ expected: String = "") -> Planner.Step {
        Planner.Step(tool: "file", arguments: arguments, expectedOutcome: expected, dependsOn: [])
    }

    @Test func aFailedStepRollsBackEverythingBeforeIt() async throws {
        let f = try Fixture()
        try f.workspace.write("notes.txt", Array("original\n".utf8))
        try f.workspace.write("keep/data.bin", [0, 1, 2, 255])
        let before = try f.contents()
        let report = await f.executor.run([
            Self.step(["operation": "append", "path": "notes.txt", "content": "more\n"]),
            Self.step(["operation": "write", "path": "new.txt", "content": "fresh"]),
            Self.step(["operation": "delete", "path": "keep/data.bin"]),
            Self.step(["operation": "read", "path": "missing.txt"]),  // fails
        ], workflowId: "wf_rollback", context: f.context)
        #expect(!report.succeeded)
        #expect(report.failure?.contains("step 3") == true)
        #expect(report.undone == ["restored keep/data.bin", "removed new.txt", "restored notes.txt"])
        #expect(try f.contents() == before, "the workspace must be restored byte for byte")
        #expect(report.steps.map(\.error).compactMap { $0 }.count == 1)
    }

    @Test func successAndAtMostOnce() async throws {
        let f = try Fixture()
        let steps = [Self.step(["operation": "write", "path": "a.txt", "content": "1"]),
                     Self.step(["operation": "append", "path": "a.txt", "content": "2"])]
        let first = await f.executor.run(steps, workflowId: "wf_once", context: f.context)
        #expect(first.succeeded && first.undone.isEmpty)
        // Resumed after a crash, the same workflow's steps are not run again: the append happens once.
        let again = await f.executor.run(steps, workflowId: "wf_once", context: f.context)
        #expect(again.succeeded)
        #expect(try f.workspace.read("a.txt") == Array("12".utf8))
        #expect(first.steps.map(\.execution?.id) == again.steps.map(\.execution?.id))
    }

    @Test func approvalPolicy() {
        let policy = ApprovalPolicy(autoApproveReadOnlyAbove: 0.8)
        #expect(!policy.needsApproval(risk: .read, confidence: 0.9))
        #expect(policy.needsApproval(risk: .read, confidence: 0.5))
        for risk: ToolRisk in [.write, .external, .destructive] {
            #expect(policy.needsApproval(risk: risk, confidence: 1.0), "\(risk) must always ask")
        }
    }

    /// What cannot be read back cannot be restored: such a step is refused before it runs.
    @Test func aStepWhoseTargetCannotBeSnapshottedDoesNotRun() async throws {
        let f = try Fixture()
        try f.workspace.write("kept.txt", Array("one\n".utf8))
        let root = f.subsystems.directory.file("ws")
        #expect(link(root + "/kept.txt", f.subsystems.directory.file("outside-link")) == 0)
        try FileManager.default.createDirectory(atPath: root + "/adir", withIntermediateDirectories: true)
        for (path, operation) in [("kept.txt", "delete"), ("adir", "delete"), ("kept.txt", "write")] {
            var arguments: JSONValue = ["operation": .string(operation), "path": .string(path)]
            if operation == "write", case .object(var object) = arguments {
                object["content"] = "two\n"
                arguments = .object(object)
            }
            let report = await f.executor.run([Self.step(arguments)], workflowId: "wf_snap_\(operation)_\(path)", context: f.context)
            #expect(!report.succeeded)
            #expect(report.failure?.contains("cannot be snapshotted") == true, "\(path) \(operation): \(report.failure ?? "")")
            #expect(report.steps.first?.execution == nil, "the call must not have run")
        }
        #expect(String(decoding: try Data(contentsOf: URL(fileURLWithPath: root + "/kept.txt")), as: UTF8.self) == "one\n")
        #expect(FileManager.default.fileExists(atPath: root + "/adir"))
    }
}

