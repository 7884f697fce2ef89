import Foundation
import GRDB
import Shared
import Testing

/// The whole workflow over the real socket, with scripted models: clarification, critic rounds,
/// hash-bound approval, a failing step rolled back byte for byte, re-plans that see why, edits,
/// review with a diff, commit, feedback and the event stream.
@Suite("Workflow engine over the socket", .serialized, .timeLimit(.minutes(5)))
struct WorkflowEngineTests {
    static func workspace(_ daemon: DaemonProcess, _ id: String) -> String {
        daemon.directory.file("state/workspaces/\(id)")
    }

    static func contents(_ directory: String) throws -> [String: String] {
        var all: [String: String] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: directory).sorted() {
            all[name] = try String(contentsOfFile: directory + "/" + name, encoding: .utf8)
        }
        return all
    }

    @Test func theWholeWorkflowFromClarificationToCommit() throws {
        let models = try RoleServers()
        let daemon = try DaemonProcess(
            config: DaemonProcess.config(extra: models.config(workflow: "speculativePlanning = false")))
        let client = try daemon.client()
        let servers = RoleServers.self

        // 1. Low confidence: the judge is unsure and asks.
        try models.interpreter.load([servers.intent("write a report"), servers.intent("write something")])
        try models.judge.load([servers.judge(0.2, ["Which file should the report go to?"])])
        var workflow = try client.call(
            WorkflowStart.self, WorkflowStart.Params(request: "write the report", tools: ["file"]))
        let id = workflow.id
        workflow = try client.settle(id)
        #expect(workflow.state == .awaitingClarification)
        #expect(workflow.questions == ["Which file should the report go to?"])
        #expect((workflow.confidence ?? 1) < 0.7)

        // Approving now is a conflict: there is no plan.
        #expect(throws: RPCError.self) {
            try client.call(WorkflowApprove.self, .init(id: id, planHash: String(repeating: "0", count: 64)))
        }

        // 2. The answer feeds a new interpretation; then two plan rounds, the critic objecting to the first.
        try models.interpreter.load([servers.intent("write report.txt"), servers.intent("write report.txt")])
        try models.judge.load([servers.judge(0.95)])
        let draft = servers.file("write", "report.txt", content: "draft\n", expected: "report.txt holds the draft")
        try models.planner.load([
            servers.plan([draft, servers.file("delete", "old.txt")]),
            // link.txt is in the workspace (so the plan may read it) but a symbolic link, which the
            // file tool refuses to read: step 1 fails when it runs.
            servers.plan([draft, servers.file("read", "link.txt", expected: "the notes are read")]),
        ])
        try models.critic.load([servers.critique(0.3, ["deleting old.txt is not asked for"]), servers.critique(0.9)])
        // The workspace as the person has it before anything runs.
        let workspace = Self.workspace(daemon, id)
        try FileManager.default.createDirectory(atPath: workspace, withIntermediateDirectories: true)
        try "old report\n".write(toFile: workspace + "/report.txt", atomically: true, encoding: .utf8)
        try "keep me\n".write(toFile: workspace + "/old.txt", atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: workspace + "/link.txt", withDestinationPath: "report.txt")
        let before = try Self.contents(workspace)
        workflow = try client.call(
            WorkflowClarify.self, .init(id: id, answers: ["report.txt, replacing what is there; read the link first"]))
        workflow = try client.settle(id)
        #expect(workflow.state == .awaitingApproval, "\(workflow.failure ?? "")")
        let interpretRequest =
            try models.interpreter.requests().last?["json"]?["messages"]?.arrayValue?.last?["content"]?.stringValue
            ?? ""
        #expect(interpretRequest.contains("report.txt, replacing what is there"))
        let secondDraft =
            try models.planner.requests()[1]["json"]?["messages"]?.arrayValue?.last?["content"]?.stringValue ?? ""
        #expect(secondDraft.contains("deleting old.txt is not asked for"))
        var planned = try client.events(id).last { $0.name == "planned" }!
        #expect(planned.payload?["rounds"]?.arrayValue?.count == 2)
        // laloD's checks object first (old.txt is named nowhere), then the critic.
        let objections = planned.payload?["rounds"]?.arrayValue?.first?["objections"]?.arrayValue ?? []
        #expect(objections.last == "deleting old.txt is not asked for")
        #expect(objections.dropLast().contains { $0.stringValue?.contains("old.txt") == true })
        #expect(planned.payload?["effects"]?["risk"] == "write")
        #expect(planned.payload?["effects"]?["paths"] == ["report.txt", "link.txt"])
        let firstHash = try #require(workflow.planHash)

        // 3. An approval naming another plan is refused; the right hash runs it. Step 1 fails, so
        // step 0 is rolled back and the workspace is exactly as before; the planner is asked again
        // and told why.
        do {
            _ = try client.call(WorkflowApprove.self, .init(id: id, planHash: String(repeating: "a", count: 64)))
            Issue.record("a stale approval was accepted")
        } catch let error as RPCError {
            #expect(error.kind == .conflict)
        }
        try models.planner.load([servers.plan([servers.file("write", "report.txt", content: "done\n")])])
        try models.critic.load([servers.critique(0.95)])
        workflow = try client.call(WorkflowApprove.self, .init(id: id, planHash: firstHash))
        workflow = try client.settle(id)
        #expect(workflow.state == .awaitingApproval)
        #expect(try Self.contents(workspace) == before, "the rollback must restore the workspace exactly")
        let rolledBack = try client.events(id).last { $0.name == "executionRolledBack" }!
        #expect(rolledBack.payload?["undone"] == ["discarded change to report.txt"])
        #expect(
            !FileManager.default.fileExists(atPath: daemon.directory.file("state/stages/\(id)/1")),
            "the failed attempt's stage is discarded")
        #expect(rolledBack.payload?["failure"]?.stringValue?.contains("step 1") == true)
        let replanPrompt =
            try models.planner.requests().last?["json"]?["messages"]?.arrayValue?.last?["content"]?.stringValue ?? ""
        #expect(replanPrompt.contains("failed and was rolled back"))

        // 4. Rejected with a reason: the planner sees the reason.
        try models.planner.load([
            servers.plan([
                servers.file("write", "report.txt", content: "done\n"),
                servers.file("append", "log.txt", content: "report written\n"),
            ])
        ])
        try models.critic.load([servers.critique(0.9)])
        _ = try client.call(WorkflowReject.self, .init(id: id, reason: "also note it in log.txt"))
        workflow = try client.settle(id)
        #expect(workflow.state == .awaitingApproval)
        let rejectPrompt =
            try models.planner.requests().last?["json"]?["messages"]?.arrayValue?.last?["content"]?.stringValue ?? ""
        #expect(rejectPrompt.contains("also note it in log.txt"))
        let shownHash = try #require(workflow.planHash)

        // 5. A person edits the plan (validated like a model's); the old hash no longer approves.
        do {
            _ = try client.call(
                WorkflowEdit.self,
                .init(
                    id: id, planHash: shownHash,
                    steps: [["tool": "file", "arguments": ["operation": "chmod", "path": "x"]]]))
            Issue.record("an invalid edit was accepted")
        } catch let error as RPCError {
            #expect(error.kind == .invalidParams)
            #expect(error.field == "params.steps")
        }
        workflow = try client.call(
            WorkflowEdit.self,
            .init(
                id: id, planHash: shownHash,
                steps: [
                    ["tool": "file", "arguments": ["operation": "write", "path": "report.txt", "content": "done\n"]],
                    [
                        "tool": "file",
                        "arguments": ["operation": "write", "path": "summary.txt", "content": "all good\n"],
                    ],
                ]))
        let editedHash = try #require(workflow.planHash)
        #expect(editedHash != shownHash)
        #expect(throws: RPCError.self) { try client.call(WorkflowApprove.self, .init(id: id, planHash: shownHash)) }
        workflow = try client.call(WorkflowApprove.self, .init(id: id, planHash: editedHash))
        workflow = try client.settle(id)
        #expect(workflow.state == .awaitingReview)
        let executed = try client.events(id).last { $0.name == "executed" }!
        let diff = executed.payload?["diff"]?.arrayValue ?? []
        #expect(diff.map { $0["path"] } == ["report.txt", "summary.txt"])
        #expect(diff.map { $0["change"] } == ["changed", "added"])
        #expect(diff.first?["diff"]?.stringValue?.contains("-old report\n+done\n") == true)
        // Staged: under review the workspace is still as it was; the stage holds the change.
        #expect(try Self.contents(workspace) == before)
        let staged = daemon.directory.file("state/stages/\(id)/4/upper/summary.txt")
        #expect((try? String(contentsOfFile: staged, encoding: .utf8)) == "all good\n")

        // 6. Accepted: committed, stored as an example; feedback at any time.
        let feedback = try client.call(
            WorkflowFeedback.self,
            .init(
                id: id, thumbs: "up", rating: 5, category: "correctness",
                comment: "exactly right"))
        #expect(feedback.state == .awaitingReview)
        workflow = try client.call(WorkflowApprove.self, .init(id: id, planHash: nil))
        #expect(workflow.state == .committed)
        // The commit applied the stage to the workspace, and the stage is gone.
        #expect(
            try Self.contents(workspace) == [
                "report.txt": "done\n", "summary.txt": "all good\n", "old.txt": "keep me\n", "link.txt": "done\n",
            ])
        let stages = daemon.directory.file("state/stages/\(id)")
        let deadline = Date().addingTimeInterval(10)
        while FileManager.default.fileExists(atPath: stages), Date() < deadline { usleep(20_000) }
        #expect(!FileManager.default.fileExists(atPath: stages))
        #expect(throws: RPCError.self) { try client.call(WorkflowCancel.self, WorkflowRef(id: id)) }
        _ = try client.call(WorkflowFeedback.self, .init(id: id, rating: 4))
        let full = try client.call(WorkflowGet.self, WorkflowRef(id: id))
        #expect(full.feedback.count == 2)
        #expect(
            full.events.map(\.name) == [
                "interpreted", "clarified", "interpreted", "planned", "approved", "executionRolledBack",
                "planned", "rejected", "planned", "edited", "approved", "executed", "approved",
            ])
        planned = full.events.first { $0.name == "edited" }!
        #expect(planned.payload?["source"] == "edit")

        // The history replays through subscribe and ends with the workflow.
        var streamed: [String] = []
        let end = try client.call(WorkflowSubscribe.self, .init(id: id, since: 0)) { method, params in
            if method == "workflow.event" { streamed.append(params["name"]?.stringValue ?? "?") }
        }
        #expect(streamed == full.events.map(\.name))
        #expect(end.reason == "ended" && end.state == .committed)

        // The example for learning is in the store.
        let database = try DatabaseQueue(path: daemon.directory.file("state/laloD.sqlite"))
        let example = try database.read { db in
            try Row.fetchOne(db, sql: "SELECT request, plan FROM workflowExample WHERE workflowId = ?", arguments: [id])
        }
        #expect(example?["request"] == "write the report")
        #expect((example?["plan"] as String?)?.contains(editedHash) == true)
        #expect(try models.planner.remaining() == 0 && models.critic.remaining() == 0)
        #expect(daemon.stop() == 0)
    }

    /// A plan that writes a file and runs code over it in the sandbox: the review shows both
    /// changes while the workspace is untouched; rejecting leaves it byte for byte as it was,
    /// accepting applies exactly what was shown.
    @Test func aWorkflowRunsCodeInTheSandboxAndTheReviewShowsItsDiff() throws {
        let models = try RoleServers()
        let daemon = try DaemonProcess(
            config: DaemonProcess.config(extra: models.config(workflow: "speculativePlanning = false")))
        let client = try daemon.client()
        client.setReceiveTimeout(seconds: 60)
        let servers = RoleServers.self
        let code: JSONValue = [
            "tool": "code.run",
            "arguments": [
                "language": "python",
                "code":
                    "import csv\nrows = list(csv.reader(open('data.csv')))\nopen('total.txt', 'w').write(str(sum(int(r[1]) for r in rows)) + '\\n')\nimport os; os.remove('stale.txt')\nprint(len(rows))",
                "outputs": ["total.txt"],
            ], "expectedOutcome": "total.txt holds the sum", "dependsOn": [0],
        ]
        for decision in ["reject", "accept"] {
            try models.interpreter.load([servers.intent("sum the numbers"), servers.intent("sum the numbers")])
            try models.judge.load([servers.judge(0.95)])
            try models.planner.load([servers.plan([servers.file("write", "data.csv", content: "a,2\nb,40\n"), code])])
            try models.critic.load([servers.critique(0.9)])
            let id = try client.call(
                WorkflowStart.self,
                .init(
                    request:
                        "sum the numbers (\(decision)); write data.csv, add up its second column with Python into total.txt and remove stale.txt",
                    tools: ["file", "code.run"])
            ).id
            var workflow = try client.settle(id)
            let asked: [String] = ((try? models.planner.requests()) ?? []).map { request -> String in
                String((request["json"]?["messages"]?.arrayValue?.last?["content"]?.stringValue ?? "").suffix(300))
            }
            #expect(
                workflow.state == .awaitingApproval,
                "writing and running code always asks: \(decision) \(workflow.failure ?? "") \(asked)")
            let workspace = Self.workspace(daemon, id)
            try FileManager.default.createDirectory(atPath: workspace, withIntermediateDirectories: true)
            try "old\n".write(toFile: workspace + "/stale.txt", atomically: true, encoding: .utf8)
            let before = StageTests.tree(workspace)
            _ = try client.call(WorkflowApprove.self, .init(id: id, planHash: workflow.planHash))
            workflow = try client.settle(id)
            #expect(workflow.state == .awaitingReview)
            let executed = try #require(try client.events(id).last { $0.name == "executed" })
            let run = executed.payload?["steps"]?.arrayValue?.last?["result"]
            #expect(run?["exitCode"] == 0 && run?["stdout"] == "2\n", "\(executed.payload ?? .null)")
            #expect(run?["files"]?.arrayValue?.first?["content"] == "42\n")
            let diff = executed.payload?["diff"]?.arrayValue ?? []
            #expect(
                diff.map { "\($0["change"]?.stringValue ?? "?") \($0["path"]?.stringValue ?? "?")" }
                    == ["added data.csv", "deleted stale.txt", "added total.txt"])
            #expect(diff.last?["diff"]?.stringValue?.contains("+42") == true)
            #expect(StageTests.tree(workspace) == before, "under review, the workspace is untouched")
            if decision == "reject" {
                _ = try client.call(WorkflowReject.self, .init(id: id, reason: "not now", replan: false))
                #expect(try client.settle(id).state == .rolledBack)
                #expect(StageTests.tree(workspace) == before, "rollback leaves the workspace byte for byte as it was")
                let rolledBack = try #require(try client.events(id).last { $0.name == "rolledBack" })
                #expect(
                    rolledBack.payload?["undone"] == [
                        "discarded new file data.csv", "discarded deletion of stale.txt",
                        "discarded new file total.txt",
                    ])
            } else {
                #expect(try client.call(WorkflowApprove.self, .init(id: id, planHash: nil)).state == .committed)
                #expect(try Self.contents(workspace) == ["data.csv": "a,2\nb,40\n", "total.txt": "42\n"])
            }
            #expect(
                !FileManager.default.fileExists(atPath: daemon.directory.file("state/stages/\(id)/1"))
                    || decision == "accept")
        }
        #expect(daemon.stop() == 0)
    }

    @Test func aConfidentReadOnlyRequestRunsWithoutAskingAndThreeModelCallsDeep() throws {
        let models = try RoleServers()
        let daemon = try DaemonProcess(config: DaemonProcess.config(extra: models.config()))
        let client = try daemon.client()
        let servers = RoleServers.self
        // The judge takes 300 ms; with speculative planning the planner is asked meanwhile.
        try models.interpreter.load([
            [
                "reply": Reply.openAIChat(
                    JSONWriter.string([
                        "goal": "list the workspace", "entities": [], "constraints": [],
                        "expectedOutput": "the file names", "tools": ["file"],
                    ])), "repeat": 2,
            ]
        ])
        try models.judge.load([servers.judge(0.95, delayMs: 300)])
        try models.planner.load([servers.plan([servers.file("list", ".", expected: "the names")])])
        try models.critic.load([servers.critique(0.9)])
        var live: [String] = []
        let watcher = try daemon.client()
        let started = try client.call(WorkflowStart.self, .init(request: "what is in my workspace?", tools: ["file"]))
        let end = try watcher.call(WorkflowSubscribe.self, .init(id: started.id, since: 0, untilWaiting: true)) {
            method, params in
            if method == "workflow.event" { live.append(params["name"]?.stringValue ?? "?") }
        }
        #expect(end.state == .awaitingReview)
        #expect(
            live == ["interpreted", "progress", "progress", "planned", "executed"]
                || live == ["interpreted", "planned", "progress", "progress", "executed"])
        let events = try client.events(started.id)
        #expect(events.map(\.name) == ["interpreted", "planned", "executed"])
        #expect(events[1].state == .executing, "a confident read-only plan is approved by policy")
        // The planner's request was sent while the judge was still thinking.
        let judgeAt = try models.judge.requests()[0]["time"]?.numberValue ?? 0
        let plannerAt = try models.planner.requests()[0]["time"]?.numberValue ?? 0
        #expect(plannerAt < judgeAt + 0.3, "planning must start before the judge answers")
        #expect(events[2].payload?["steps"]?.arrayValue?.first?["status"] == "succeeded")

        // The same request again hits the interpretation cache: no interpreter or judge call.
        try models.planner.load([servers.plan([servers.file("list", ".", expected: "the names")])])
        try models.critic.load([servers.critique(0.9)])
        let again = try client.call(WorkflowStart.self, .init(request: "What is in my   workspace?", tools: ["file"]))
        #expect(try client.settle(again.id).state == .awaitingReview)
        #expect(try client.events(again.id)[0].payload?["fromCache"] == true)
        #expect(try models.interpreter.requests().count == 2 && models.judge.requests().count == 1)
        #expect(daemon.stop() == 0)
    }

    @Test func pauseResumeCancelAndInvalidTransitions() throws {
        let models = try RoleServers()
        let daemon = try DaemonProcess(
            config: DaemonProcess.config(extra: models.config(workflow: "speculativePlanning = false")))
        let client = try daemon.client()
        let servers = RoleServers.self
        try models.interpreter.load([servers.intent("write a"), servers.intent("write a")])
        try models.judge.load([servers.judge(0.9)])
        try models.planner.load([servers.plan([servers.file("write", "a.txt", content: "alpha")])])
        try models.critic.load([servers.critique(0.9)])
        let started = try client.call(WorkflowStart.self, .init(request: "write alpha to a.txt", tools: ["file"]))
        var workflow = try client.settle(started.id)
        #expect(workflow.state == .awaitingApproval)
        workflow = try client.call(WorkflowPause.self, WorkflowRef(id: started.id))
        #expect(workflow.state == .paused)
        // While paused nothing but resume or cancel is taken.
        for attempt in [
            { _ = try client.call(WorkflowApprove.self, .init(id: started.id, planHash: workflow.planHash)) },
            { _ = try client.call(WorkflowPause.self, WorkflowRef(id: started.id)) },
            { _ = try client.call(WorkflowClarify.self, .init(id: started.id, answers: ["x"])) },
        ] {
            do {
                try attempt()
                Issue.record("accepted while paused")
            } catch let error as RPCError {
                #expect(error.kind == .conflict)
            }
        }
        workflow = try client.call(WorkflowResume.self, WorkflowRef(id: started.id))
        #expect(workflow.state == .awaitingApproval)
        workflow = try client.call(WorkflowCancel.self, WorkflowRef(id: started.id))
        #expect(workflow.state == .cancelled)
        #expect(throws: RPCError.self) { try client.call(WorkflowResume.self, WorkflowRef(id: started.id)) }

        // Boundary validation names the field.
        let cases: [(String, JSONValue, String)] = [
            ("workflow.start", ["request": ""], "params.request"),
            ("workflow.start", ["request": "x", "threshold": 2], "params.threshold"),
            ("workflow.start", ["request": "x", "tools": ["no.such.tool"]], "params.tools[0]"),
            ("workflow.get", ["id": "not-an-id"], "params.id"),
            ("workflow.get", ["id": "wf_0000000000000000"], "params.id"),
            ("workflow.approve", ["id": .string(started.id), "planHash": "xyz"], "params.planHash"),
            ("workflow.feedback", ["id": .string(started.id), "rating": 9], "params.rating"),
            ("workflow.feedback", ["id": .string(started.id)], "params"),
            ("workflow.subscribe", ["since": 3], "params.id"),
        ]
        for (method, params, field) in cases {
            do {
                _ = try client.call(method, params: params)
                Issue.record("\(method) \(params) was accepted")
            } catch let error as RPCError {
                #expect(error.field == field, "\(method) \(params): \(error)")
            }
        }
        let list = try client.call(WorkflowList.self, .init(state: "cancelled"))
        #expect(list.workflows.map(\.id) == [started.id])
        #expect(try client.call(WorkflowList.self, .init(state: "live")).workflows.isEmpty)
        #expect(daemon.stop() == 0)
    }
}
