import Foundation
import Shared
import Testing

@testable import laloD

/// Planning against the scripted server: critic rounds with objections, invalid plans refused
/// and retried, the effect preview and the plan hash.
@Suite("Planner")
struct PlannerTests {
    final class Fixture: @unchecked Sendable {
        let subsystems: Subsystems
        let server: ScriptedServer
        let planner: Planner

        init(_ replies: [JSONValue]) async throws {
            server = try ScriptedServer(replies.map { ["reply": $0] })
            let s = try Subsystems("lalo-plan")
            subsystems = s
            let tools = ToolRegistry(
                tools: [FileTool(), HTTPRequestTool(secrets: s.secrets)], store: s.store, audit: s.audit,
                redactor: s.redactor)
            planner = Planner(
                models: s.models(server, roles: [.planner: "planner-model", .critic: "critic-model"]), tools: tools)
        }

        func run(
            _ request: String = "Save r to report.txt", allowed: [String] = ["file", "http.request"],
            feedback: String? = nil
        ) async throws -> Planner.Plan {
            try await planner.plan(
                intent: .init(
                    goal: "save a report", entities: [], constraints: [], expectedOutput: "report.txt",
                    tools: ["file"]),
                request: request, allowed: allowed, feedback: feedback,
                actor: AuditActor(uid: 1000, user: "alice", pid: 1, sessionId: 1))
        }
    }

    static func plan(_ steps: [JSONValue]) -> JSONValue {
        Reply.openAIChat(JSONWriter.string(["steps": .array(steps)]))
    }
    static func critique(_ score: Double, _ objections: [String] = []) -> JSONValue {
        Reply.openAIChat(
            JSONWriter.string(["score": .double(score), "objections": .array(objections.map { .string($0) })]))
    }
    static let write: JSONValue = [
        "tool": "file", "arguments": ["operation": "write", "path": "report.txt", "content": "r"],
        "expectedOutcome": "report.txt exists", "dependsOn": [],
    ]
    static let delete: JSONValue = [
        "tool": "file", "arguments": ["operation": "delete", "path": "old.txt"],
        "expectedOutcome": "old.txt gone", "dependsOn": [],
    ]
    static let fetch: JSONValue = [
        "tool": "http.request",
        "arguments": ["url": "https://api.example.com/data", "auth": ["secret": "api-token"]],
        "expectedOutcome": "data fetched", "dependsOn": [],
    ]

    @Test func criticObjectionsDriveRevisionsUntilTheScorePasses() async throws {
        let f = try await Fixture([
            Self.plan([Self.delete, Self.write]), Self.critique(0.3, ["deleting old.txt is not asked for"]),
            Self.plan([Self.write]), Self.critique(0.9),
        ])
        let plan = try await f.run()
        #expect(plan.rounds.count == 2)
        // laloD's checks object first (old.txt is not named, nor is deleting asked for), then the critic.
        #expect(plan.rounds[0].objections.last == "deleting old.txt is not asked for")
        #expect(plan.rounds[0].checks.blocked && plan.rounds[0].objections.contains { $0.contains("old.txt") })
        #expect(!plan.rounds[1].checks.blocked && plan.confidence > 0.9)
        #expect(plan.passed)
        #expect(plan.steps.count == 1)
        #expect(plan.effects == Planner.Effects(paths: ["report.txt"], risk: .write))
        #expect(plan.hash == Planner.hash(plan.steps) && plan.hash.count == 64)
        #expect(plan.modelCalls == 4)
        // The second draft was asked to fix the critic's objection.
        let second = try f.server.requests()[2]["json"]?["messages"]?.arrayValue?.last?["content"]?.stringValue ?? ""
        #expect(second.contains("deleting old.txt is not asked for"))
    }

    /// The most confident round wins: laloD's checks cap the rounds that delete a file the request
    /// does not name, so the last round wins although the critic liked the first best.
    @Test func threeRoundsAtMostAndTheBestWins() async throws {
        let f = try await Fixture([
            Self.plan([Self.write, Self.delete]), Self.critique(0.5, ["too much"]),
            Self.plan([Self.delete]), Self.critique(0.2, ["wrong"]),
            Self.plan([Self.write, Self.fetch]), Self.critique(0.4, ["still too much"]),
        ])
        let plan = try await f.run()
        #expect(plan.rounds.map(\.score) == [0.5, 0.2, 0.4])
        #expect(plan.rounds.map(\.checks.blocked) == [true, true, false])
        #expect(!plan.passed)
        #expect(plan.steps.map(\.tool) == ["file", "http.request"])
        #expect(plan.effects.risk == .external)
        #expect(try f.server.remaining() == 0)
    }

    @Test func invalidPlansAreRefusedAndRetried() async throws {
        let badArguments: JSONValue = [
            "tool": "file", "arguments": ["operation": "chmod", "path": "x"], "expectedOutcome": "",
            "dependsOn": [],
        ]
        let f = try await Fixture([
            Self.plan([badArguments]),  // arguments break the file tool's schema
            Self.plan([Self.fetch]), Self.critique(0.8),
        ])
        let plan = try await f.run("Fetch the data from the API", allowed: ["file", "http.request"])
        #expect(plan.effects.hosts == ["api.example.com"])
        #expect(plan.effects.secrets == ["api-token"])
        #expect(plan.effects.risk == .external)
        #expect(plan.modelCalls == 3)
        let retry = try f.server.requests()[1]["json"]?["messages"]?.arrayValue?.last?["content"]?.stringValue ?? ""
        #expect(retry.contains("steps[0].arguments.operation"))

        // A tool the caller may not use is refused just the same; twice, and the planner gives up.
        let g = try await Fixture([Self.plan([Self.fetch]), Self.plan([Self.fetch])])
        await #expect(throws: Planner.Failure.self) {
            try await g.run("Fetch the data from the API", allowed: ["file"])
        }
    }

    @Test func validationTable() async throws {
        let f = try await Fixture([])
        let cases: [(JSONValue, String?)] = [
            (["steps": [Self.write]], nil),
            (["steps": []], "fewer than 1"),
            (["steps": [["tool": "file"]]], "required"),
            (["steps": [["tool": "shell", "arguments": [:], "expectedOutcome": "", "dependsOn": []]]], "not allowed"),
            (
                [
                    "steps": [
                        Self.write,
                        [
                            "tool": "file", "arguments": ["operation": "read", "path": "a"], "expectedOutcome": "",
                            "dependsOn": [1],
                        ],
                    ]
                ], "does not come before"
            ),
        ]
        for (json, problem) in cases {
            switch f.planner.validate(JSONWriter.string(json), allowed: ["file"]) {
            case .success: #expect(problem == nil, "\(json) was accepted")
            case .failure(let failure): #expect(failure.description.contains(problem ?? "<none>"), "\(failure)")
            }
        }
        #expect(
            Planner.hash([])
                != Planner.hash([try JSONDecoder().decode(Planner.Step.self, from: Data(JSONWriter.bytes(Self.write)))])
        )
    }
}
