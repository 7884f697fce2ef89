import Foundation
import GRDB
import Shared
import Testing

/// Between people: approvals across users, `laloctl run` with and without a terminal, and
/// what a workflow does when its models are down or answer nonsense.
extension WorkflowEngineTests {
    @Test func approvalsBetweenUsers() throws {
        let models = try RoleServers()
        let daemon = try DaemonProcess(
            config: DaemonProcess.config(extra: TestUsers.rolesConfig + "\n" + models.config()))
        let servers = RoleServers.self
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
        try models.planner.load([servers.plan([servers.file("write", "a.txt", content: "alpha")])])
        try models.critic.load([servers.critique(0.9)])
        func call(_ user: String, _ method: String, _ params: JSONValue) throws -> (
            status: Int32, result: JSONValue?, stderr: String
        ) {
            let result = try TestUsers.laloctl(
                as: try TestUsers.account(user),
                [
                    "rpc", "call", method, JSONWriter.string(params),
                    "--socket", daemon.socketPath, "-o", "json",
                ])
            return (result.status, try? JSONParser.parse(Array(result.stdout.utf8)), result.stderr)
        }
        let started = try call(
            "lalot-user", "workflow.start",
            [
                "request": "write alpha to a.txt", "tools": ["file"],
                "requireDifferentApprover": true,
            ])
        let id = try #require(started.result?["id"]?.stringValue, "\(started.stderr)")
        _ = try call("lalot-user", "workflow.subscribe", ["id": .string(id), "untilWaiting": true])
        let shown = try call("lalot-user", "workflow.get", ["id": .string(id)])
        #expect(shown.result?["workflow"]?["state"] == "awaiting_approval")
        let hash = try #require(shown.result?["workflow"]?["planHash"]?.stringValue)
        let approve: JSONValue = ["id": .string(id), "planHash": .string(hash)]
        // (user, expected exit status, expected error kind)
        let cases: [(String, Int32, String?)] = [
            ("lalot-user", 4, "permissionDenied"),  // the requester, but another approver is required
            ("lalot-viewer", 4, "permissionDenied"),  // no workflow.run at all
            ("lalot-none", 4, "permissionDenied"),
        ]
        for (user, status, kind) in cases {
            let result = try call(user, "workflow.approve", approve)
            #expect(result.status == status, "\(user): \(result.stderr)")
            if let kind { #expect(result.stderr.contains(kind), "\(user): \(result.stderr)") }
        }
        let admin = try call("lalot-admin", "workflow.approve", approve)
        #expect(admin.status == 0, "\(admin.stderr)")
        let done = try call("lalot-user", "workflow.subscribe", ["id": .string(id), "untilWaiting": true])
        #expect(done.result?["state"] == "awaiting_review")
        let events = try call("lalot-admin", "workflow.get", ["id": .string(id)])
        let approval = events.result?["events"]?.arrayValue?.first { $0["name"] == "approved" }
        #expect(approval?["user"] == "lalot-admin")
        #expect(daemon.stop() == 0)
    }

    @Test func laloctlRunDrivesAWorkflowWithoutATerminal() throws {
        let models = try RoleServers()
        let daemon = try DaemonProcess(
            config: DaemonProcess.config(extra: models.config(workflow: "speculativePlanning = false")))
        let servers = RoleServers.self
        func script() throws {
            try models.judge.load([servers.judge(0, ["Which file?"]), servers.judge(0.9)])
            try models.interpreter.load([
                servers.intent("write notes"), servers.intent("write notes"), servers.intent("write notes.txt"),
                servers.intent("write notes.txt"),
            ])
            try models.planner.load([servers.plan([servers.file("write", "notes.txt", content: "milk\n")])])
            try models.critic.load([servers.critique(0.9)])
        }
        try script()
        // No --yes: it stops at the approval, says how to go on, and exits with 5.
        let waiting = try run(
            Binaries.laloctl,
            [
                "run", "write my notes", "--tools", "file", "--answer", "notes.txt",
                "--socket", daemon.socketPath, "-o", "json",
            ])
        #expect(waiting.status == 5, "\(waiting.stderr)")
        #expect(waiting.stderr.contains("laloctl workflow approve wf_"))
        let lines = waiting.stdout.split(separator: "\n").compactMap { try? JSONParser.parse(Array($0.utf8)) }
        #expect(
            lines.map { $0["name"]?.stringValue ?? "?" } == ["interpreted", "clarified", "interpreted", "planned"],
            "\(waiting.stdout)")

        // With --yes it goes through to the commit and records the rating.
        try script()
        let done = try run(
            Binaries.laloctl,
            [
                "run", "write my notes", "--tools", "file", "--answer", "notes.txt", "--yes",
                "--rating", "4", "--socket", daemon.socketPath, "-o", "json",
            ])
        #expect(done.status == 0, "\(done.stderr)")
        let events = done.stdout.split(separator: "\n").compactMap { try? JSONParser.parse(Array($0.utf8)) }
        #expect(events.last?["name"] == "approved" && events.last?["state"] == "committed")
        let id = try #require(events.first?["workflowId"]?.stringValue)
        #expect(try daemon.client().call(WorkflowGet.self, WorkflowRef(id: id)).feedback.first?["rating"] == 4)
        #expect(daemon.stop() == 0)
    }

    /// A model that is down fails the workflow with the reason; an answer that never matches the
    /// schema is not trusted and turns into a question instead.
    @Test func modelOutagesFailAndInvalidAnswersAsk() throws {
        let models = try RoleServers()
        let daemon = try DaemonProcess(
            config: DaemonProcess.config(extra: models.config(workflow: "speculativePlanning = false")))
        let client = try daemon.client()
        try models.interpreter.load([["reply": Reply.error(503, "overloaded"), "repeat": 2]])
        let down = try client.call(WorkflowStart.self, .init(request: "anything", tools: ["file"]))
        let failed = try client.settle(down.id)
        #expect(failed.state == .failed)
        #expect(failed.failure?.contains("interpreter model failed") == true, "\(failed.failure ?? "")")

        try models.interpreter.load([["reply": Reply.openAIChat("{not json"), "repeat": 4]])
        let garbled = try client.call(WorkflowStart.self, .init(request: "anything else", tools: ["file"]))
        let asked = try client.settle(garbled.id)
        #expect(asked.state == .awaitingClarification)
        #expect(asked.questions?.isEmpty == false)
        #expect(daemon.stop() == 0)
    }

    /// `laloctl run` on a terminal (a pseudo-terminal from script(1)): the questions, the
    /// approval, the acceptance and the rating are asked and answered inline.
    @Test func laloctlRunAsksOnATerminal() throws {
        let models = try RoleServers()
        let daemon = try DaemonProcess(
            config: DaemonProcess.config(extra: models.config(workflow: "speculativePlanning = false")))
        let servers = RoleServers.self
        try models.interpreter.load([
            servers.intent("write notes"), servers.intent("write notes"), servers.intent("write notes.txt"),
            servers.intent("write notes.txt"),
        ])
        try models.judge.load([servers.judge(0, ["Which file?"]), servers.judge(0.9)])
        try models.planner.load([servers.plan([servers.file("write", "notes.txt", content: "milk\n")])])
        try models.critic.load([servers.critique(0.9)])
        let command = [Binaries.laloctl, "run", "write my notes", "--tools", "file", "--socket", daemon.socketPath]
            .map { "'\($0)'" }.joined(separator: " ")
        // Typed answers: the clarification, approve, accept, a rating of 5.
        let result = try run(
            "/usr/bin/script", ["-qec", command, "/dev/null"], environment: ["NO_COLOR": "1", "PATH": "/usr/bin:/bin"],
            stdin: "notes.txt please\na\na\n5\n")
        #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)")
        for shown in [
            "Which file?", "Approve this plan?", "notes.txt", "+milk", "Accept the result?", "Committed.",
            "rating 5 recorded",
        ] {
            #expect(result.stdout.contains(shown), "missing \(shown) in:\n\(result.stdout)")
        }
        #expect(daemon.stop() == 0)
    }
}
