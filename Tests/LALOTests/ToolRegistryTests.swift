import Foundation
import GRDB
import Shared
import Synchronization
import Testing

@testable import laloD

/// The registry's one path for every tool call, with real store, audit log and workspace.
@Suite("Tool registry")
struct ToolRegistryTests {
    /// Counts its runs; idempotent, so an interrupted call may run again.
    struct CounterTool: Tool {
        let runs: Counter
        var descriptor = ToolDescriptor(
            name: "counter", description: "counts", risk: .read, permission: .workflowRun,
            inputSchema: .object(nil, [.optional("sleepMs", .integer())]),
            outputSchema: .object(nil, [.required("run", .integer())]),
            idempotent: true, canRollback: false)
        func run(_ arguments: JSONValue, context: ToolContext) async throws -> JSONValue {
            if let sleep = arguments["sleepMs"]?.intValue { try await Task.sleep(for: .milliseconds(sleep)) }
            return ["run": .int(Int64(runs.increment()))]
        }
    }

    /// Returns something its own schema forbids.
    struct LyingTool: Tool {
        var descriptor = ToolDescriptor(
            name: "liar", description: "lies", risk: .read, permission: .workflowRun,
            inputSchema: .empty, outputSchema: .object(nil, [.required("ok", .boolean())]),
            idempotent: true, canRollback: false)
        func run(_ arguments: JSONValue, context: ToolContext) async throws -> JSONValue { ["ok": "yes"] }
    }

    final class Counter: Sendable {
        private let value = Mutex(0)
        func increment() -> Int {
            value.withLock {
                $0 += 1
                return $0
            }
        }
        var count: Int { value.withLock { $0 } }
    }

    final class Fixture: @unchecked Sendable {
        let subsystems: Subsystems
        let registry: ToolRegistry
        let workspace: Workspace
        let counter = Counter()
        var store: Store { subsystems.store }
        var directory: TemporaryDirectory { subsystems.directory }

        init() throws {
            subsystems = try Subsystems("lalo-tools")
            subsystems.redactor.update([(name: "token", value: "tok-SECRET-123456")])
            registry = ToolRegistry(
                tools: [FileTool(), CounterTool(runs: counter), LyingTool()], store: subsystems.store,
                audit: subsystems.audit, redactor: subsystems.redactor)
            workspace = try Workspace(root: subsystems.directory.file("ws"))
        }

        func context(_ key: String, permissions: Set<Permission> = [.workflowRun]) -> ToolContext {
            ToolContext(
                actor: AuditActor(uid: 1000, user: "alice", pid: 1, sessionId: 1), permissions: permissions,
                workspace: workspace, workflowId: "wf_test", step: 1, idempotencyKey: key)
        }
    }

    @Test func fileToolRecordsEveryCallAndRedactsArguments() async throws {
        let f = try Fixture()
        let write = try await f.registry.execute(
            "file",
            arguments: [
                "operation": "write", "path": "notes/a.txt", "content": "key tok-SECRET-123456",
            ], context: f.context("k1"))
        #expect(write.status == "succeeded")
        #expect(write.arguments["content"] == "key [REDACTED:token]")
        let read = try await f.registry.execute(
            "file", arguments: ["operation": "read", "path": "notes/a.txt"],
            context: f.context("k2"))
        #expect(read.result?["content"] == "key [REDACTED:token]", "tool output is redacted")
        #expect(String(decoding: try f.workspace.read("notes/a.txt"), as: UTF8.self) == "key tok-SECRET-123456")
        let all = try f.registry.executions(tool: "file", workflowId: "wf_test", uid: nil, beforeID: nil, limit: 10)
        #expect(all.map(\.idempotencyKey) == ["k2", "k1"])
        #expect(FileTool().risk(of: ["operation": "read"]) == .read)
        #expect(FileTool().risk(of: ["operation": "delete"]) == .destructive)
    }

    @Test func aRepeatedKeyReturnsTheRecordedCallWithoutRunningAgain() async throws {
        let f = try Fixture()
        try f.workspace.write("log.txt", Array("start\n".utf8))
        let arguments: JSONValue = ["operation": "append", "path": "log.txt", "content": "once\n"]
        let first = try await f.registry.execute("file", arguments: arguments, context: f.context("same"))
        let second = try await f.registry.execute("file", arguments: arguments, context: f.context("same"))
        #expect(first == second)
        #expect(String(decoding: try f.workspace.read("log.txt"), as: UTF8.self) == "start\nonce\n")
    }

    @Test func anInterruptedCallIsRepeatedOnlyWhenTheToolIsIdempotent() async throws {
        let f = try Fixture()
        // What a crash leaves: the start was recorded, the end never was.
        let append: JSONValue = ["operation": "append", "path": "log.txt", "content": "again\n"]
        try await f.store.writer.write { db in
            for (tool, key, arguments) in [("file", "crashed-file", append), ("counter", "crashed-counter", [:])] {
                try db.execute(
                    sql: """
                        INSERT INTO toolExecution (tool, idempotencyKey, status, arguments, uid, user, startedAt)
                        VALUES (?, ?, 'started', ?, 1000, 'alice', '2026-11-24T00:00:00Z')
                        """, arguments: [tool, key, JSONWriter.string(arguments)])
            }
        }
        try f.workspace.write("log.txt", Array("start\n".utf8))
        do {
            _ = try await f.registry.execute("file", arguments: append, context: f.context("crashed-file"))
            Issue.record("a non-idempotent interrupted call ran again")
        } catch let error as InterruptedCall {
            #expect(error.tool == "file")
            #expect(error.description.contains("needs review"))
        }
        #expect(String(decoding: try f.workspace.read("log.txt"), as: UTF8.self) == "start\n")
        let repeated = try await f.registry.execute("counter", arguments: [:], context: f.context("crashed-counter"))
        #expect(repeated.status == "succeeded")
        #expect(f.counter.count == 1)
    }

    @Test func aKeyNamesOneCallOfOneCaller() async throws {
        let f = try Fixture()
        _ = try await f.registry.execute("counter", arguments: [:], context: f.context("mine"))
        // Same key, other arguments; same key, another user: both refused, nothing run.
        await #expect(throws: ToolError.self) {
            try await f.registry.execute("counter", arguments: ["sleepMs": 1], context: f.context("mine"))
        }
        var bob = f.context("mine")
        bob.actor = AuditActor(uid: 1001, user: "bob", pid: 2, sessionId: 2)
        await #expect(throws: ToolError.self) { try await f.registry.execute("counter", arguments: [:], context: bob) }
        // The same call while it is still running is refused, not run twice.
        let slow = Task {
            try await f.registry.execute("counter", arguments: ["sleepMs": 300], context: f.context("slow"))
        }
        try await Task.sleep(for: .milliseconds(100))
        do {
            _ = try await f.registry.execute("counter", arguments: ["sleepMs": 300], context: f.context("slow"))
            Issue.record("a running call was started again")
        } catch let error as any DaemonError {
            #expect(error.message.contains("still running"))
        }
        _ = try await slow.value
        #expect(f.counter.count == 2)
    }

    @Test func specialFilesAreRefusedWithoutBlocking() async throws {
        let f = try Fixture()
        #expect(mkfifo(f.directory.file("ws/pipe"), 0o600) == 0)
        do {
            _ = try await f.registry.execute(
                "file", arguments: ["operation": "read", "path": "pipe"], context: f.context("fifo"))
            Issue.record("a FIFO was read")
        } catch let failure as ToolFailure {
            #expect(failure.message.contains("not a regular file"))
        }
        try f.workspace.write("x.txt", Array("1".utf8))
        #expect(try f.workspace.list().map(\.name).sorted() == ["pipe", "x.txt"])
    }

    struct Refusal: Sendable, CustomTestStringConvertible {
        var name: String
        var tool: String
        var arguments: JSONValue
        var permissions: Set<Permission> = [.workflowRun]
        var kind: ErrorKind
        var field: String?
        var testDescription: String { name }
    }

    @Test(arguments: [
        Refusal(name: "unknown tool", tool: "nope", arguments: [:], kind: .notFound, field: "params.name"),
        Refusal(
            name: "no permission", tool: "file", arguments: ["operation": "list", "path": "."],
            permissions: [.workflowRead],
            kind: .permissionDenied),
        Refusal(
            name: "unknown operation", tool: "file", arguments: ["operation": "chmod", "path": "x"],
            kind: .invalidParams,
            field: "arguments.operation"),
        Refusal(
            name: "missing path", tool: "file", arguments: ["operation": "read"], kind: .invalidParams,
            field: "arguments.path"),
        Refusal(
            name: "escape", tool: "file", arguments: ["operation": "read", "path": "../x"], kind: .invalidParams,
            field: "arguments.path"),
        Refusal(
            name: "write without content", tool: "file", arguments: ["operation": "write", "path": "x"],
            kind: .invalidParams,
            field: "arguments.content"),
        Refusal(name: "output breaks its schema", tool: "liar", arguments: [:], kind: .internalError),
    ])
    func refusals(_ refusal: Refusal) async throws {
        let f = try Fixture()
        do {
            _ = try await f.registry.execute(
                refusal.tool, arguments: refusal.arguments,
                context: f.context("r", permissions: refusal.permissions))
            Issue.record("\(refusal.name) was accepted")
        } catch let error as any DaemonError {
            #expect(error.kind == refusal.kind, "\(error)")
            #expect(error.field == refusal.field, "\(error)")
        } catch let failure as ToolFailure {
            #expect(failure.kind == refusal.kind, "\(failure)")
            #expect(failure.field == refusal.field, "\(failure)")
        }
    }

    @Test func disabledRateLimitedAndTimedOut() async throws {
        let f = try Fixture()
        let admin = AuditActor(uid: 0, user: "root", pid: 1, sessionId: 1)
        _ = try await f.registry.configure(ToolConfigure.Params(name: "counter", enabled: false), by: admin)
        await #expect(throws: ToolError.self) {
            try await f.registry.execute("counter", arguments: [:], context: f.context("d"))
        }
        #expect(f.counter.count == 0)

        let limited = try await f.registry.configure(
            ToolConfigure.Params(name: "counter", enabled: true, rateLimitPerMinute: 2),
            by: admin)
        #expect(limited.rateLimitPerMinute == 2 && limited.enabled)
        _ = try await f.registry.execute("counter", arguments: [:], context: f.context("r1"))
        _ = try await f.registry.execute("counter", arguments: [:], context: f.context("r2"))
        do {
            _ = try await f.registry.execute("counter", arguments: [:], context: f.context("r3"))
            Issue.record("the third call within a minute was allowed")
        } catch let failure as ToolFailure {
            #expect(failure.kind == .rateLimited)
        }
        #expect(f.counter.count == 2)
        let refused = try f.registry.executions(tool: "counter", workflowId: nil, uid: nil, beforeID: nil, limit: 1)
        #expect(refused.first?.status == "failed")

        _ = try await f.registry.configure(
            ToolConfigure.Params(name: "counter", timeoutMs: 100, rateLimitPerMinute: 0), by: admin)
        do {
            _ = try await f.registry.execute("counter", arguments: ["sleepMs": 2000], context: f.context("slow"))
            Issue.record("a call past its timeout succeeded")
        } catch let failure as ToolFailure {
            #expect(failure.kind == .timeout)
        }
        let info = try f.registry.info("counter")
        #expect(info.timeoutMs == 100)
        #expect(info.inputSchema["type"] == "object")
    }

    @Test func settingsAreValidatedByNameAndShownWithTheirDefaults() async throws {
        let s = try Subsystems("lalo-tool-settings")
        let registry = ToolRegistry(
            tools: [FileTool(), HTTPRequestTool(secrets: nil)], store: s.store, audit: s.audit,
            redactor: s.redactor)
        #expect(try registry.info("http.request").settings["maxRetries"] == 2)
        #expect(try registry.info("file").settings == [:])
        let cases: [(String, JSONValue, String?)] = [
            ("http.request", ["maxRetries": 5], nil),
            ("http.request", ["maxRetrys": 5], "params.settings.maxRetrys"),
            ("http.request", ["maxRetries": -1], "params.settings.maxRetries"),
            ("http.request", ["maxRetries": "5"], "params.settings.maxRetries"),
            ("file", ["anything": 1], "params.settings.anything"),
        ]
        for (tool, settings, field) in cases {
            do {
                _ = try await registry.configure(ToolConfigure.Params(name: tool, settings: settings), by: .daemon)
                #expect(field == nil, "\(tool) \(settings) was accepted")
            } catch let error as any DaemonError {
                #expect(error.field == field, "\(tool) \(settings): \(error)")
            }
        }
        let after = try registry.info("http.request").settings
        #expect(after["maxRetries"] == 5 && after["maxResponseBytes"] == .int(1 << 20))
    }
}
