import Foundation
import Shared

/// One scripted server per model role, so the order in which concurrent calls (interpretation
/// samples, the judge beside speculative planning) reach the models cannot mix up the scripts.
final class RoleServers: @unchecked Sendable {
    let interpreter: ScriptedServer
    let judge: ScriptedServer
    let planner: ScriptedServer
    let critic: ScriptedServer

    init() throws {
        interpreter = try ScriptedServer()
        judge = try ScriptedServer()
        planner = try ScriptedServer()
        critic = try ScriptedServer()
    }

    /// Providers and `[models.ROLE]` bindings for laloD's configuration.
    func config(workflow: String = "") -> String {
        var text = ""
        for (role, server) in [
            ("interpreter", interpreter), ("judge", judge), ("planner", planner), ("critic", critic),
        ] {
            text += """
                [providers.\(role)-server]
                kind = "openai"
                baseURL = "\(server.baseURL)/v1"
                maxRetries = 0
                [models.\(role)]
                provider = "\(role)-server"
                model = "\(role)-model"

                """
        }
        // One judge call per interpretation, as the scripted judges are loaded with one reply each
        // (the consistency of several samples has a test of its own).
        // And an even share for the judge: the scripted models stand for a provider whose judge can
        // be trusted (the embedded model's default, 0.8, is measured by make eval).
        let judgeSamples = workflow.contains("judgeSamples") ? "" : "judgeSamples = 1\n"
        let checkWeight = workflow.contains("checkWeight") ? "" : "checkWeight = 0.5\n"
        return text + "[workflow]\n" + judgeSamples + checkWeight + workflow + "\n"
    }

    static func intent(_ goal: String, output: String = "report.txt holds the report") -> JSONValue {
        [
            "reply": Reply.openAIChat(
                JSONWriter.string([
                    "goal": .string(goal), "entities": ["report.txt"], "constraints": [],
                    "expectedOutput": .string(output), "tools": ["file"],
                ]))
        ]
    }

    static func judge(_ score: Double, _ questions: [String] = [], delayMs: Int = 0) -> JSONValue {
        var reply = Reply.openAIChat(
            JSONWriter.string(["score": .double(score), "questions": .array(questions.map { .string($0) })]))
        if delayMs > 0, case .object(var object) = reply {
            object["delayMs"] = .int(Int64(delayMs))
            reply = .object(object)
        }
        return ["reply": reply]
    }

    static func plan(_ steps: [JSONValue]) -> JSONValue {
        ["reply": Reply.openAIChat(JSONWriter.string(["steps": .array(steps)]))]
    }

    static func critique(_ score: Double, _ objections: [String] = []) -> JSONValue {
        [
            "reply": Reply.openAIChat(
                JSONWriter.string(["score": .double(score), "objections": .array(objections.map { .string($0) })]))
        ]
    }

    static func file(_ operation: String, _ path: String, content: String? = nil, expected: String = "done")
        -> JSONValue
    {
        var arguments: [String: JSONValue] = ["operation": .string(operation), "path": .string(path)]
        if let content { arguments["content"] = .string(content) }
        return ["tool": "file", "arguments": .object(arguments), "expectedOutcome": .string(expected), "dependsOn": []]
    }
}

extension LaloClient {
    /// Waits (through `workflow.subscribe`) until the workflow needs a person or has ended.
    @discardableResult
    func settle(_ id: String) throws -> WorkflowInfo {
        _ = try call(WorkflowSubscribe.self, WorkflowSubscribe.Params(id: id, untilWaiting: true))
        return try call(WorkflowGet.self, WorkflowRef(id: id)).workflow
    }

    func events(_ id: String) throws -> [WorkflowEventInfo] {
        try call(WorkflowGet.self, WorkflowRef(id: id)).events
    }
}
