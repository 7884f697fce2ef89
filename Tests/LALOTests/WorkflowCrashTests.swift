import Foundation
import GRDB
import Shared
import Testing

/// laloD killed with SIGKILL while a workflow is in each state, restarted on the same state
/// directory: the workflow goes on from its last recorded event, and a call that was running and
/// is not safe to repeat is not run a second time.
@Suite("Workflows survive kill -9", .serialized, .timeLimit(.minutes(5)))
struct WorkflowCrashTests {
    let models: RoleServers
    let tool: ScriptedServer
    let servers = RoleServers.self

    init() throws {
        models = try RoleServers()
        tool = try ScriptedServer()
    }

    func start() throws -> DaemonProcess {
        try DaemonProcess(config: DaemonProcess.config(extra: models.config(workflow: "speculativePlanning = false")))
    }

    /// SIGKILL, then a new laloD on the same state directory.
    func crashAndRestart(_ daemon: DaemonProcess) throws -> DaemonProcess {
        daemon.signal(SIGKILL)
        _ = daemon.waitForExit()
        return try DaemonProcess(
            config: DaemonProcess.config(extra: models.config(workflow: "speculativePlanning = false")),
            reuse: daemon)
    }

    func waitForRequests(_ server: ScriptedServer, _ count: Int) throws {
        let deadline = Date().addingTimeInterval(20)
        while try server.requests().count < count {
            guard Date() < deadline else { throw HarnessError("the server never got \(count) requests") }
            usleep(20_000)
        }
    }

    func scriptInterpretation() throws {
        try models.interpreter.load([
            [
                "reply": Reply.openAIChat(
                    JSONWriter.string([
                        "goal": "write a.txt", "entities": [], "constraints": [], "expectedOutput": "a.txt",
                        "tools": ["file"],
                    ])), "repeat": 2,
            ]
        ])
        try models.judge.load([servers.judge(0.9)])
    }

    func scriptPlan(_ steps: [JSONValue], criticDelayMs: Int = 0) throws {
        try models.planner.load([servers.plan(steps)])
        var critique = servers.critique(0.9)
        if criticDelayMs > 0, case .object(var exchange) = critique, case .object(var reply)? = exchange["reply"] {
            reply["delayMs"] = .int(Int64(criticDelayMs))
            exchange["reply"] = .object(reply)
            critique = .object(exchange)
        }
        try models.critic.load([critique])
    }

    @Test func killedWhileInterpreting() throws {
        var daemon = try start()
        try models.interpreter.load([
            [
                "reply": Reply.openAIChat(
                    JSONWriter.string([
                        "goal": "write a.txt", "entities": [], "constraints": [], "expectedOutput": "a.txt",
                        "tools": ["file"],
                    ])), "repeat": 2,
            ]
        ])
        try models.judge.load([servers.judge(0.9, delayMs: 5000)])
        let id = try daemon.client().call(WorkflowStart.self, .init(request: "write alpha to a.txt", tools: ["file"]))
            .id
        try waitForRequests(models.judge, 1)
        // What the restarted daemon will be answered (it resumes at once).
        try scriptInterpretation()
        try scriptPlan([servers.file("write", "a.txt", content: "alpha")])
        daemon = try crashAndRestart(daemon)
        let client = try daemon.client()
        #expect(try client.settle(id).state == .awaitingApproval)
        #expect(try client.events(id).map(\.name) == ["interpreted", "planned"])
        #expect(daemon.stop() == 0)
    }

    @Test func killedWhilePlanning() throws {
        var daemon = try start()
        try scriptInterpretation()
        try scriptPlan([servers.file("write", "a.txt", content: "alpha")], criticDelayMs: 5000)
        let id = try daemon.client().call(WorkflowStart.self, .init(request: "write alpha to a.txt", tools: ["file"]))
            .id
        try waitForRequests(models.critic, 1)
        #expect(try daemon.client().call(WorkflowGet.self, WorkflowRef(id: id)).workflow.state == .planning)
        try scriptPlan([servers.file("write", "a.txt", content: "alpha")])
        daemon = try crashAndRestart(daemon)
        let client = try daemon.client()
        #expect(try client.settle(id).state == .awaitingApproval)
        #expect(try client.events(id).map(\.name) == ["interpreted", "planned"])
        #expect(daemon.stop() == 0)
    }

    /// Every waiting state: clarification, approval, review, paused.
    @Test func killedWhileWaitingForApprovalAndWhilePaused() throws {
        var daemon = try start()
        try scriptInterpretation()
        try scriptPlan([servers.file("write", "a.txt", content: "alpha")])
        var client = try daemon.client()
        let waiting = try client.call(WorkflowStart.self, .init(request: "write alpha to a.txt", tools: ["file"])).id
        let hash = try #require(try client.settle(waiting).planHash)
        try scriptPlan([servers.file("write", "a.txt", content: "alpha")])
        try scriptInterpretation()
        let paused = try client.call(WorkflowStart.self, .init(request: "write alpha to a.txt now", tools: ["file"])).id
        _ = try client.settle(paused)
        _ = try client.call(WorkflowPause.self, WorkflowRef(id: paused))
        // One in review (approved and executed) and one asking a question.
        try scriptPlan([servers.file("write", "r.txt", content: "r")])
        try scriptInterpretation()
        let review = try client.call(WorkflowStart.self, .init(request: "write r.txt", tools: ["file"])).id
        let reviewHash = try #require(try client.settle(review).planHash)
        _ = try client.call(WorkflowApprove.self, .init(id: review, planHash: reviewHash))
        #expect(try client.settle(review).state == .awaitingReview)
        try models.interpreter.load([servers.intent("something"), servers.intent("something else")])
        try models.judge.load([servers.judge(0.1, ["What do you mean?"])])
        let question = try client.call(WorkflowStart.self, .init(request: "do the thing", tools: ["file"])).id
        #expect(try client.settle(question).state == .awaitingClarification)
        daemon = try crashAndRestart(daemon)
        client = try daemon.client()
        let afterReview = try client.call(WorkflowGet.self, WorkflowRef(id: review)).workflow
        #expect(afterReview.state == .awaitingReview)
        #expect(try client.call(WorkflowApprove.self, .init(id: review, planHash: nil)).state == .committed)
        let asked = try client.call(WorkflowGet.self, WorkflowRef(id: question)).workflow
        // laloD's question about “thing” first, then the judge's.
        #expect(
            asked.state == .awaitingClarification && asked.questions?.last == "What do you mean?"
                && (asked.questions?.count ?? 0) >= 2)
        #expect(try client.call(WorkflowGet.self, WorkflowRef(id: waiting)).workflow.state == .awaitingApproval)
        _ = try client.call(WorkflowApprove.self, .init(id: waiting, planHash: hash))
        #expect(try client.settle(waiting).state == .awaitingReview)
        #expect(try client.call(WorkflowResume.self, WorkflowRef(id: paused)).state == .awaitingApproval)
        #expect(daemon.stop() == 0)
    }

    @Test func aNonIdempotentCallInterruptedByTheCrashIsNotRunAgain() throws {
        var daemon = try start()
        try scriptInterpretation()
        let post: JSONValue = [
            "tool": "http.request",
            "arguments": [
                "url": .string(tool.baseURL + "/orders"), "method": "POST",
                "json": ["item": "book"],
            ],
            "expectedOutcome": "the order is placed", "dependsOn": [],
        ]
        try scriptPlan([servers.file("write", "a.txt", content: "alpha\n"), post])
        try tool.load([
            [
                "expect": ["method": "POST", "path": "/orders"],
                "reply": ["status": 201, "json": ["id": 7], "delayMs": 5000],
            ]
        ])
        var client = try daemon.client()
        let id = try client.call(
            WorkflowStart.self,
            .init(request: "write alpha to a.txt and order a book", tools: ["file", "http.request"])
        ).id
        let hash = try #require(try client.settle(id).planHash)
        _ = try client.call(WorkflowApprove.self, .init(id: id, planHash: hash))
        try waitForRequests(tool, 1)
        daemon = try crashAndRestart(daemon)
        client = try daemon.client()
        let workflow = try client.settle(id)
        #expect(workflow.state == .awaitingReview, "an interrupted call that is not safe to repeat goes to a person")
        let executed = try #require(try client.events(id).last { $0.name == "executed" })
        #expect(executed.payload?["interrupted"]?.stringValue?.contains("not safe to repeat") == true)
        #expect(executed.payload?["diff"]?.arrayValue?.first?["path"] == "a.txt")
        usleep(300_000)
        #expect(try tool.requests().count == 1, "the POST must not be sent twice")
        // Rejecting the result discards the completed write, which never reached the workspace.
        #expect(FileManager.default.fileExists(atPath: daemon.directory.file("state/stages/\(id)/1/upper/a.txt")))
        _ = try client.call(WorkflowReject.self, .init(id: id, reason: "check the order by hand", replan: false))
        #expect(try client.settle(id).state == .rolledBack)
        #expect(!FileManager.default.fileExists(atPath: daemon.directory.file("state/workspaces/\(id)/a.txt")))
        #expect(!FileManager.default.fileExists(atPath: daemon.directory.file("state/stages/\(id)")))
        #expect(daemon.stop() == 0)
    }

    @Test func anIdempotentCallInterruptedByTheCrashRunsAgain() throws {
        var daemon = try start()
        try scriptInterpretation()
        let get: JSONValue = [
            "tool": "http.request", "arguments": ["url": .string(tool.baseURL + "/status")],
            "expectedOutcome": "the status is known", "dependsOn": [],
        ]
        try scriptPlan([get])
        try tool.load([
            [
                "expect": ["method": "GET", "path": "/status"],
                "reply": ["status": 200, "json": ["ok": true], "delayMs": 5000],
            ],
            ["expect": ["method": "GET", "path": "/status"], "reply": ["status": 200, "json": ["ok": true]]],
        ])
        var client = try daemon.client()
        let id = try client.call(WorkflowStart.self, .init(request: "check the status", tools: ["http.request"])).id
        let hash = try #require(try client.settle(id).planHash)
        _ = try client.call(WorkflowApprove.self, .init(id: id, planHash: hash))
        try waitForRequests(tool, 1)
        daemon = try crashAndRestart(daemon)
        client = try daemon.client()
        #expect(try client.settle(id).state == .awaitingReview)
        let executed = try #require(try client.events(id).last { $0.name == "executed" })
        #expect(executed.payload?["succeeded"] == true)
        #expect(try tool.requests().count == 2, "a GET is safe to repeat, so it ran again")
        #expect(daemon.stop() == 0)
    }

    /// Pause and cancel while a step runs: the step finishes (a call is never cut off), the next
    /// does not start; resume goes on from there, cancel rolls back what ran.
    @Test func pauseAndCancelDuringExecutionStopAtAStepBoundary() throws {
        let daemon = try start()
        let client = try daemon.client()
        let slow: JSONValue = [
            "tool": "http.request", "arguments": ["url": .string(tool.baseURL + "/slow")],
            "expectedOutcome": "fetched", "dependsOn": [],
        ]
        for action in ["pause", "cancel"] {
            try scriptInterpretation()
            try scriptPlan([
                servers.file("write", "a.txt", content: "alpha\n"), slow,
                servers.file("write", "b.txt", content: "beta\n"),
            ])
            try tool.load([["reply": ["status": 200, "json": ["ok": true], "delayMs": 1500]]])
            let base = try tool.requests().count
            let id = try client.call(
                WorkflowStart.self,
                .init(
                    request: "write alpha to a.txt and beta to b.txt around a slow call \(action)",
                    tools: ["file", "http.request"])
            ).id
            let hash = try #require(try client.settle(id).planHash)
            _ = try client.call(WorkflowApprove.self, .init(id: id, planHash: hash))
            try waitForRequests(tool, base + 1)
            // What the execution writes waits in the attempt's stage.
            let workspace = daemon.directory.file("state/stages/\(id)/1/upper")
            #expect(FileManager.default.fileExists(atPath: workspace + "/a.txt"))
            if action == "pause" {
                #expect(try client.call(WorkflowPause.self, WorkflowRef(id: id)).state == .paused)
                usleep(2_000_000)  // the slow call ends meanwhile
                #expect(!FileManager.default.fileExists(atPath: workspace + "/b.txt"), "no step starts while paused")
                _ = try client.call(WorkflowResume.self, WorkflowRef(id: id))
                #expect(try client.settle(id).state == .awaitingReview)
                #expect(FileManager.default.fileExists(atPath: workspace + "/b.txt"))
                #expect(try tool.requests().count == base + 1, "the finished call is not repeated on resume")
            } else {
                #expect(try client.call(WorkflowCancel.self, WorkflowRef(id: id)).state == .cancelled)
                usleep(2_000_000)
                #expect(
                    !FileManager.default.fileExists(atPath: workspace + "/a.txt"),
                    "a cancelled execution is rolled back")
                #expect(!FileManager.default.fileExists(atPath: workspace + "/b.txt"))
            }
        }
        #expect(daemon.stop() == 0)
    }

    /// A workflow that wrote a.txt (staged) and awaits review, on a running laloD.
    func awaitingReviewOfAWrite() throws -> (DaemonProcess, String) {
        let daemon = try start()
        try scriptInterpretation()
        try scriptPlan([servers.file("write", "a.txt", content: "alpha\n")])
        let client = try daemon.client()
        let id = try client.call(WorkflowStart.self, .init(request: "write alpha to a.txt", tools: ["file"])).id
        let hash = try #require(try client.settle(id).planHash)
        _ = try client.call(WorkflowApprove.self, .init(id: id, planHash: hash))
        #expect(try client.settle(id).state == .awaitingReview)
        return (daemon, id)
    }

    /// laloD killed after recording a cancel and before its rollback (forged here by writing the
    /// cancel event straight into the store): the next start finishes the rollback.
    @Test func aRollbackInterruptedByACrashIsFinishedOnRestart() throws {
        var (daemon, id) = try awaitingReviewOfAWrite()
        var client = try daemon.client()
        // Staged: the file waits in the stage, the workspace does not have it.
        let file = daemon.directory.file("state/stages/\(id)/1/upper/a.txt")
        #expect(FileManager.default.fileExists(atPath: file))
        #expect(!FileManager.default.fileExists(atPath: daemon.directory.file("state/workspaces/\(id)/a.txt")))
        daemon.signal(SIGKILL)
        _ = daemon.waitForExit()
        let database = try DatabaseQueue(path: daemon.directory.file("state/laloD.sqlite"))
        try database.write { db in
            let seq = try Int64.fetchOne(db, sql: "SELECT lastSeq FROM workflow WHERE id = ?", arguments: [id])! + 1
            try db.execute(
                sql: """
                    INSERT INTO workflowEvent (workflowId, seq, timeMicros, name, event, payload, stateAfter, uid, user)
                    VALUES (?, ?, 0, 'cancelled', '{"name":"cancelled"}', '{"rollback":true}', 'cancelled', 0, 'root')
                    """, arguments: [id, seq])
            try db.execute(
                sql: "UPDATE workflow SET state = 'cancelled', lastSeq = ? WHERE id = ?", arguments: [seq, id])
        }
        daemon = try DaemonProcess(
            config: DaemonProcess.config(extra: models.config(workflow: "speculativePlanning = false")),
            reuse: daemon)
        client = try daemon.client()
        #expect(try client.call(WorkflowGet.self, WorkflowRef(id: id)).workflow.state == .cancelled)
        // The rollback runs as laloD starts, beside the first connections.
        let deadline = Date().addingTimeInterval(10)
        while FileManager.default.fileExists(atPath: file), Date() < deadline { usleep(20_000) }
        #expect(!FileManager.default.fileExists(atPath: file), "the interrupted rollback must be finished at start")
        #expect(!FileManager.default.fileExists(atPath: daemon.directory.file("state/workspaces/\(id)/a.txt")))
        #expect(daemon.stop() == 0)
    }

    /// laloD killed after applying an accepted result and before recording the acceptance
    /// (forged by leaving the stage's approval mark, which `decide` writes before applying): the
    /// next start applies the stage again (applying is idempotent) and records the commit.
    @Test func aCommitInterruptedByACrashIsFinishedOnRestart() throws {
        var (daemon, id) = try awaitingReviewOfAWrite()
        var client = try daemon.client()
        daemon.signal(SIGKILL)
        _ = daemon.waitForExit()
        FileManager.default.createFile(
            atPath: daemon.directory.file("state/stages/\(id)/1/approved"),
            contents: Data(#"{"uid":0,"user":"root"}"#.utf8))
        daemon = try DaemonProcess(
            config: DaemonProcess.config(extra: models.config(workflow: "speculativePlanning = false")),
            reuse: daemon)
        client = try daemon.client()
        let deadline = Date().addingTimeInterval(10)
        while try client.call(WorkflowGet.self, WorkflowRef(id: id)).workflow.state != .committed, Date() < deadline {
            usleep(20_000)
        }
        #expect(try client.call(WorkflowGet.self, WorkflowRef(id: id)).workflow.state == .committed)
        let file = daemon.directory.file("state/workspaces/\(id)/a.txt")
        #expect((try? String(contentsOfFile: file, encoding: .utf8)) == "alpha\n")
        #expect(daemon.stop() == 0)
    }
}
