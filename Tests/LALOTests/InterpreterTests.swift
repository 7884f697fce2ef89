import Foundation
import Shared
import Testing

@testable import laloD

/// Interpretation against the scripted OpenAI-compatible server: schema-constrained samples,
/// agreement, the judge, clarification questions, retries of invalid output, the cache.
@Suite("Interpreter")
struct InterpreterTests {
    final class Fixture: @unchecked Sendable {
        let subsystems: Subsystems
        let server: ScriptedServer
        let interpreter: Interpreter

        init(_ replies: [JSONValue], judgeSamples: Int = 1) async throws {
            server = try ScriptedServer(replies.map { ["reply": $0] })
            subsystems = try Subsystems("lalo-interp")
            // One judge call per interpretation and an even share for the judge: these scripted models
            // stand for a provider whose judge can be trusted.
            var settings = Interpreter.Settings()
            settings.judgeSamples = judgeSamples
            settings.checkWeight = 0.5
            interpreter = Interpreter(
                models: subsystems.models(server, roles: [.interpreter: "interp-model", .judge: "judge-model"]),
                settings: settings)
        }

        func run(_ request: String, answers: [String] = []) async throws -> Interpreter.Interpretation {
            try await interpreter.interpret(
                request, answers: answers, tools: ["file", "http.request"],
                actor: AuditActor(uid: 1000, user: "alice", pid: 1, sessionId: 1))
        }
    }

    static func intent(_ goal: String, output: String = "a list of file names") -> JSONValue {
        Reply.openAIChat(
            JSONWriter.string([
                "goal": .string(goal), "entities": ["/tmp"], "constraints": [],
                "expectedOutput": .string(output), "tools": ["file"],
            ]))
    }

    static func judge(_ score: Double, _ questions: [String] = []) -> JSONValue {
        Reply.openAIChat(
            JSONWriter.string(["score": .double(score), "questions": .array(questions.map { .string($0) })]))
    }

    @Test func agreeingSamplesAndAGoodScoreAreConfident() async throws {
        let f = try await Fixture([
            Self.intent("List the files in /tmp"), Self.intent("List the files in /tmp"), Self.judge(0.9),
        ])
        let result = try await f.run("what files are in /tmp?")
        #expect(result.confident)
        #expect(result.agreement == 1)
        #expect(result.judgeScore == 0.9)
        // 0.5 × checks (1: nothing unresolved, the intent's "/tmp" is in the request) + 0.5 × (0.6 × 0.9 + 0.4 × 1)
        #expect(abs(result.confidence - 0.97) < 0.001)
        #expect(result.checks.failures.isEmpty)
        #expect(result.intent.goal == "List the files in /tmp")
        #expect(result.modelCalls == 3)
        let requests = try f.server.requests()
        #expect(requests.count == 3)
        // Samples go to the interpreter's model with the intent schema; the judge is another model.
        #expect(requests.prefix(2).allSatisfy { $0["json"]?["model"] == "interp-model" })
        #expect(requests.prefix(2).allSatisfy { $0["json"]?["response_format"]?["type"] == "json_schema" })
        #expect(requests[2]["json"]?["model"] == "judge-model")
        #expect(
            requests[2]["json"]?["messages"]?.arrayValue?.first?["content"]?.stringValue?.contains(
                "what files are in /tmp?") == true)

        // The same request again is answered from the cache, without a model call.
        let cached = try await f.run("What files are in   /tmp?")
        #expect(cached.fromCache && cached.intent == result.intent)
        #expect(try f.server.requests().count == 3)
    }

    /// Two judge samples that disagree: their mean is the score, their spread lowers the models' share.
    @Test func aJudgeThatContradictsItselfCountsLess() async throws {
        let f = try await Fixture(
            [
                Self.intent("List the files in /tmp"), Self.intent("List the files in /tmp"), Self.judge(0.9),
                Self.judge(0.3),
            ],
            judgeSamples: 2)
        let result = try await f.run("what files are in /tmp?")
        #expect(abs(result.judgeScore - 0.6) < 0.001)
        #expect(abs(result.judgeConsistency - 0.4) < 0.001)
        // 0.5 × 1 + 0.5 × (0.6 × 0.6 × 0.4 + 0.4 × 1)
        #expect(abs(result.confidence - 0.772) < 0.001)
        #expect(result.modelCalls == 4)
    }

    /// laloD's checks ask back about a reference the request leaves open, whatever the judge says.
    @Test func anUnresolvedReferenceAsksBackEvenWithAConfidentJudge() async throws {
        let f = try await Fixture([
            Self.intent("List the files in /tmp"), Self.intent("List the files in /tmp"), Self.judge(1),
        ])
        let result = try await f.run("do it again like before")
        #expect(!result.confident)
        #expect(result.confidence <= Grounding.blockedCap)
        #expect(result.questions.first?.contains("“it”") == true)
    }

    @Test func disagreementOrALowScoreAsksQuestions() async throws {
        let f = try await Fixture([
            Self.intent("List the files in /tmp"), Self.intent("Delete the database backups", output: "nothing"),
            Self.judge(0.4, ["Do you want to list files or delete backups?"]),
        ])
        let result = try await f.run("clean up")
        #expect(!result.confident)
        #expect(result.agreement < 0.2)
        #expect(result.questions == ["Do you want to list files or delete backups?"])
        #expect(result.confidence < 0.7)
    }

    @Test func invalidOutputIsRetriedThenGivenUp() async throws {
        let f = try await Fixture([
            Reply.openAIChat("{not json"), Self.intent("List the files in /tmp"), Self.intent("List the files in /tmp"),
            Reply.openAIChat(#"{"score": "high"}"#), Self.judge(1.0),
        ])
        let result = try await f.run("what files are in /tmp?")
        #expect(result.modelCalls == 5)
        #expect(result.judgeScore == 1.0)

        let broken = try await Fixture(Array(repeating: Reply.openAIChat(#"{"goal": 3}"#), count: 4))
        await #expect(throws: Interpreter.Failure.self) { try await broken.run("anything") }
        #expect(try broken.server.requests().count == 4, "two samples × two attempts, then it gives up")
    }

    @Test func agreementMeasure() {
        func intent(_ goal: String) -> Interpreter.Intent {
            .init(goal: goal, entities: [], constraints: [], expectedOutput: "", tools: [])
        }
        #expect(Interpreter.agreement([intent("list files in tmp"), intent("list files in tmp")]) == 1)
        #expect(Interpreter.agreement([intent("list files in tmp"), intent("delete database")]) == 0)
        let partial = Interpreter.agreement([intent("list the files in tmp"), intent("list the folders in tmp")])
        #expect(partial > 0.3 && partial < 0.8)
    }
}
