import Crypto
import Foundation
import Shared

/// Step 2 of the workflow (SPEC §5): a plan of tool calls from the planner model, criticised by a
/// separate critic model and revised until its score passes or three rounds are done. Every
/// round is kept. A step is only accepted if it names a tool the caller may use and its
/// arguments match that tool's input schema; the plan carries an effect preview (paths, hosts,
/// secrets, risk) and a hash that approvals are bound to.
final class Planner: Sendable {
    struct Settings: Sendable, Equatable {
        var maxRounds = 3
        var passingScore = 0.7
        var attemptsPerCall = 2
    }

    struct Step: Sendable, Equatable, Codable {
        var tool: String
        var arguments: JSONValue
        var expectedOutcome: String
        /// Earlier steps this one needs; steps run in order, so this documents rather than schedules.
        var dependsOn: [Int]

        init(tool: String, arguments: JSONValue, expectedOutcome: String, dependsOn: [Int]) {
            self.tool = tool; self.arguments = arguments; self.expectedOutcome = expectedOutcome; self.dependsOn = dependsOn
        }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            tool = try container.decode(String.self, forKey: .tool)
            arguments = try container.decode(JSONValue.self, forKey: .arguments)
            expectedOutcome = try container.decode(String.self, forKey: .expectedOutcome)
            dependsOn = try container.decodeIfPresent([Int].self, forKey: .dependsOn) ?? []
        }
    }

    struct Effects: Sendable, Equatable {
        var paths: [String] = []
        var hosts: [String] = []
        var secrets: [String] = []
        /// The highest risk of any step.
        var risk: ToolRisk = .read
    }

    struct Round: Sendable, Equatable {
        var steps: [Step]
        var score: Double
        var objections: [String]
    }

    struct Plan: Sendable, Equatable {
        var steps: [Step]
        var rounds: [Round]
        var effects: Effects
        var hash: String
        var modelCalls: Int
        var passed: Bool
    }

    struct Failure: Error, CustomStringConvertible, Sendable {
        var description: String
    }

    static let planSchema: JSONValue = [
        "type": "object",
        "properties": ["steps": ["type": "array", "minItems": 1, "maxItems": 20, "items": [
            "type": "object",
            "properties": [
                "tool": ["type": "string"], "arguments": ["type": "object"], "expectedOutcome": ["type": "string"],
                "dependsOn": ["type": "array", "items": ["type": "integer", "minimum": 0]],
            ],
            "required": ["tool", "arguments", "expectedOutcome"],
        ]]],
        "required": ["steps"],
    ]

    /// The schema the planner model is asked to follow: the plan schema with each step narrowed
    /// to one of the allowed tools and that tool's argument schema, so a constrained decoder (the
    /// local model's grammar) cannot produce a step that names an unknown tool or bad arguments.
    func modelSchema(allowed: [String]) -> JSONValue {
        let alternatives: [JSONValue] = allowed.sorted().compactMap { name in
            guard let tool = try? tools.tool(name) else { return nil }
            return [
                "type": "object",
                "properties": [
                    "tool": ["type": "string", "const": .string(name)], "arguments": tool.planningSchema,
                    "expectedOutcome": ["type": "string"],
                    "dependsOn": ["type": "array", "items": ["type": "integer", "minimum": 0], "maxItems": 5],
                ],
                "required": ["tool", "arguments", "expectedOutcome"],
            ]
        }
        return [
            "type": "object",
            // At most 8 steps from a model (an edit may have 20): long enough for real work, and
            // short enough to bound a small model that starts repeating itself.
            "properties": ["steps": ["type": "array", "minItems": 1, "maxItems": 8,
                                     "items": alternatives.count == 1 ? alternatives[0] : ["anyOf": .array(alternatives)]]],
            "required": ["steps"],
        ]
    }

    static let critiqueSchema: JSONValue = [
        "type": "object",
        "properties": ["score": ["type": "number", "minimum": 0, "maximum": 1],
                       "objections": ["type": "array", "items": ["type": "string"], "maxItems": 10]],
        "required": ["score", "objections"],
    ]

    private let models: ModelRouter
    private let tools: ToolRegistry
    let settings: Settings

    init(models: ModelRouter, tools: ToolRegistry, settings: Settings = Settings()) {
        self.models = models
        self.tools = tools
        self.settings = settings
    }

    /// Plans for `intent` with the tools `allowed` (those the caller, and later the agent, may use).
    /// `feedback` is a person's rejection reason or a failed execution's report, for a re-plan.
    func plan(intent: Interpreter.Intent, allowed: [String], feedback: String? = nil, actor: AuditActor,
              workflowId: String? = nil) async throws -> Plan {
        let catalogue = try allowed.sorted().map { name -> String in
            let info = try tools.info(name)
            // The planning schema, without field descriptions: small models copy descriptions into values.
            return "- \(name) (risk \(info.risk)): \(info.description) Arguments: \(JSONWriter.string(try tools.tool(name).planningSchema))"
        }.joined(separator: "\n")
        var rounds: [Round] = []
        var calls = 0
        var objections: [String] = feedback.map { ["A person said: \($0)"] } ?? []
        for _ in 0..<settings.maxRounds {
            // The intent first and the tools after: small models weigh the start of the prompt most.
            let prompt = """
                Intent: \(JSONWriter.string(intent.json))
                Plan the tool calls that achieve this intent, using only these tools:
                \(catalogue)
                """ + (objections.isEmpty ? "" : "\nFix these objections to the previous plan: " + objections.joined(separator: "; "))
            let (steps, planCalls) = try await draft(prompt, allowed: allowed, actor: actor, workflowId: workflowId)
            calls += planCalls
            let (score, found, critiqueCalls) = try await critique(intent: intent, steps: steps, catalogue: catalogue,
                                                                   actor: actor, workflowId: workflowId)
            calls += critiqueCalls
            rounds.append(Round(steps: steps, score: score, objections: found))
            if score >= settings.passingScore { break }
            objections = found.isEmpty ? ["the critic scored the plan \(score) without saying why; make it safer and smaller"] : found
        }
        // The best round wins (the last one on ties): a revision is not always an improvement.
        let best = rounds.enumerated().max { a, b in a.element.score < b.element.score || (a.element.score == b.element.score && a.offset < b.offset) }!.element
        return Plan(steps: best.steps, rounds: rounds, effects: try effects(of: best.steps), hash: Self.hash(best.steps),
                    modelCalls: calls, passed: best.score >= settings.passingScore)
    }

    /// One plan from the planner, retried while it is not valid.
    private func draft(_ prompt: String, allowed: [String], actor: AuditActor, workflowId: String?) async throws -> ([Step], Int) {
        let schema = modelSchema(allowed: allowed)
        var calls = 0
        var lastProblem = ""
        var lastAnswer = ""
        var messages = [ChatMessage(role: "user", content: prompt)]
        for _ in 0..<settings.attemptsPerCall {
            calls += 1
            let result = try await models.complete(
                role: .planner, request: ChatRequest(model: "", messages: messages, responseSchema: schema, maxTokens: 800,
                                                     temperature: 0),
                stream: false, actor: actor, workflowId: workflowId)
            switch validate(result.content, allowed: Set(allowed)) {
            case .success(let steps): return (steps, calls)
            case .failure(let problem):
                lastProblem = problem.description
                lastAnswer = result.content
                // The planner sees what was wrong with its answer.
                messages += [ChatMessage(role: "assistant", content: result.content),
                             ChatMessage(role: "user", content: "That plan is invalid: \(lastProblem). Answer again.")]
            }
        }
        throw Failure(description: "the planner gave no valid plan in \(settings.attemptsPerCall) attempts: \(lastProblem) (last answer: \(String(lastAnswer.prefix(300))))")
    }

    /// Parses and checks a plan: schema, allowed tools, arguments against each tool's schema,
    /// dependencies pointing to earlier steps.
    func validate(_ text: String, allowed: Set<String>) -> Result<[Step], Failure> {
        guard let json = try? JSONParser.parse(text) else {
            return .failure(Failure(description: "not JSON (the answer began: \(JSONWriter.string(.string(String(text.prefix(120))))))"))
        }
        if let problem = JSONSchemaValidator.firstProblem(json, schema: Self.planSchema) { return .failure(Failure(description: problem)) }
        guard let steps = try? JSONDecoder().decode([Step].self, from: Data(JSONWriter.bytes(json["steps"] ?? []))) else {
            return .failure(Failure(description: "steps do not decode"))
        }
        for (index, step) in steps.enumerated() {
            guard allowed.contains(step.tool), let tool = try? tools.tool(step.tool) else {
                return .failure(Failure(description: "step \(index) uses tool \(step.tool), which is not allowed"))
            }
            do {
                try tool.descriptor.inputSchema.validate(step.arguments, at: "steps[\(index)].arguments")
            } catch {
                return .failure(Failure(description: error.message))
            }
            if let problem = tool.problem(with: step.arguments) {
                return .failure(Failure(description: "steps[\(index)].arguments: \(problem)"))
            }
            if let bad = step.dependsOn.first(where: { $0 >= index }) {
                return .failure(Failure(description: "step \(index) depends on step \(bad), which does not come before it"))
            }
        }
        return .success(steps)
    }

    private func critique(intent: Interpreter.Intent, steps: [Step], catalogue: String, actor: AuditActor,
                          workflowId: String?) async throws -> (Double, [String], Int) {
        let prompt = """
            Score this plan from 0 to 1 against the rubric: it covers the intent, uses only the allowed tools, is safe, \
            and is minimal. List concrete objections.
            Allowed tools:
            \(catalogue)
            Intent: \(JSONWriter.string(intent.json))
            Plan: \(JSONWriter.string(["steps": .array(steps.map { Self.json($0) })]))
            """
        let (answer, calls) = try await models.structured(
            role: .critic, messages: [ChatMessage(role: "user", content: prompt)], schema: Self.critiqueSchema, maxTokens: 300,
            temperature: 0, attempts: settings.attemptsPerCall, actor: actor, workflowId: workflowId)
        guard let answer, let score = answer["score"]?.numberValue else { return (0, ["the critic gave no valid review"], calls) }
        return (score, answer["objections"]?.arrayValue?.compactMap(\.stringValue) ?? [], calls)
    }

    static func json(_ step: Step) -> JSONValue {
        ["tool": .string(step.tool), "arguments": step.arguments, "expectedOutcome": .string(step.expectedOutcome),
         "dependsOn": .array(step.dependsOn.map { .int(Int64($0)) })]
    }

    /// SHA-256 of the canonical JSON of the steps: what an approval names.
    static func hash(_ steps: [Step]) -> String {
        SHA256.hash(data: JSONWriter.bytes(.array(steps.map(json)))).hexString
    }

    /// What the plan would touch, read from the steps' arguments.
    func effects(of steps: [Step]) throws -> Effects {
        var effects = Effects()
        for step in steps {
            let tool = try tools.tool(step.tool)
            effects.risk = max(effects.risk, tool.risk(of: step.arguments))
            var paths = ["path", "to"].compactMap { step.arguments[$0]?.stringValue }
            // code.run: the files it is given and the ones it returns (the code itself may change
            // any workspace file; the review's diff shows which it did).
            paths += (step.arguments["files"]?.arrayValue ?? []).compactMap { $0["path"]?.stringValue }
            paths += (step.arguments["outputs"]?.arrayValue ?? []).compactMap(\.stringValue)
            for path in paths where !effects.paths.contains(path) { effects.paths.append(path) }
            if let url = step.arguments["url"]?.stringValue, let host = URLComponents(string: url)?.host,
               !effects.hosts.contains(host) { effects.hosts.append(host) }
            if let secret = step.arguments["auth"]?["secret"]?.stringValue, !effects.secrets.contains(secret) {
                effects.secrets.append(secret)
            }
        }
        return effects
    }
}
