import Foundation
import Shared
import Testing

@testable import laloD

/// The executor with the real registry and a staged workspace: verification, a failed step
/// reporting what discarding the stage undoes (the workspace is never touched), and steps that
/// run at most once.
@Suite("Executor")
struct ExecutorTests {
    final class Fixture: @unchecked Sendable {
        let subsystems: Subsystems
        let workspace: Workspace
        let stage: Stage
        let staged: StagedWorkspace
        let executor: Executor

        init() throws {
            subsystems = try Subsystems("lalo-exec")
            workspace = try Workspace(root: subsystems.directory.file("ws"))
            stage = try Stage(directory: subsystems.directory.file("stages/wf_x/1"))
            staged = try StagedWorkspace(lower: workspace, stage: stage)
            executor = Executor(
                tools: ToolRegistry(
                    tools: [FileTool()], store: subsystems.store, audit: subsystems.audit,
                    redactor: subsystems.redactor))
        }

        var context: ToolContext {
            ToolContext(
                actor: AuditActor(uid: 1000, user: "alice", pid: 1, sessionId: 1), permissions: [.workflowRun],
                workspace: staged, workflowId: "wf_x", step: nil, idempotencyKey: "")
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
        let tree = StageTests.tree(f.workspace.root)
        let report = await f.executor.run(
            [
                Self.step(["operation": "append", "path": "notes.txt", "content": "more\n"]),
                Self.step(["operation": "write", "path": "new.txt", "content": "fresh"]),
                Self.step(["operation": "delete", "path": "keep/data.bin"]),
                Self.step(["operation": "read", "path": "missing.txt"]),  // fails
            ], workflowId: "wf_rollback", context: f.context)
        #expect(!report.succeeded)
        #expect(report.failure?.contains("step 3") == true)
        #expect(
            report.undone == [
                "discarded deletion of keep/data.bin", "discarded new file new.txt", "discarded change to notes.txt",
            ])
        #expect(try f.contents() == before, "the workspace must be as it was")
        #expect(StageTests.tree(f.workspace.root) == tree, "byte for byte, modes and times included")
        // The engine discards the stage once the failure is recorded.
        #expect(try f.staged.read("new.txt") == Array("fresh".utf8))
        try f.stage.discard()
        #expect(StageTests.tree(f.workspace.root) == tree)
        #expect(report.steps.map(\.error).compactMap { $0 }.count == 1)
    }

    @Test func successAndAtMostOnce() async throws {
        let f = try Fixture()
        let steps = [
            Self.step(["operation": "write", "path": "a.txt", "content": "1"]),
            Self.step(["operation": "append", "path": "a.txt", "content": "2"]),
        ]
        let first = await f.executor.run(steps, workflowId: "wf_once", context: f.context)
        #expect(first.succeeded && first.undone.isEmpty)
        // Resumed after a crash, the same workflow's steps are not run again: the append happens once.
        let again = await f.executor.run(steps, workflowId: "wf_once", context: f.context)
        #expect(again.succeeded)
        #expect(try f.staged.read("a.txt") == Array("12".utf8))
        #expect(throws: Workspace.Failure.self, "staged, not written to the workspace") {
            try f.workspace.read("a.txt")
        }
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

    /// A hard-linked or directory target no longer stops a step: the stage never writes
    /// through to the workspace, so the linked file outside stays as it was.
    @Test func stepsOnLinkedFilesChangeOnlyTheStage() async throws {
        let f = try Fixture()
        try f.workspace.write("kept.txt", Array("one\n".utf8))
        let root = f.subsystems.directory.file("ws")
        let outside = f.subsystems.directory.file("outside-link")
        #expect(link(root + "/kept.txt", outside) == 0)
        let report = await f.executor.run(
            [Self.step(["operation": "delete", "path": "kept.txt"])], workflowId: "wf_linked",
            context: f.context)
        #expect(report.succeeded, "\(report.failure ?? "")")
        #expect(throws: Workspace.Failure.self) { try f.staged.read("kept.txt") }
        #expect(String(decoding: try Data(contentsOf: URL(fileURLWithPath: outside)), as: UTF8.self) == "one\n")
        #expect(try f.stage.changes(over: f.workspace).map(\.path) == ["kept.txt"])
    }
}
