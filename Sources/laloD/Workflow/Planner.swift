import Crypto
import Foundation
import Shared

/// Step 2 of the workflow (docs/workflows.md#step-2-plan): a plan of tool calls from the planner model, criticised by a
/// separate critic model and revised until its score passes or three rounds are done. Every
/// round is kept. A step is only accepted if it names a tool the caller may use and its
/// arguments match that tool's input schema; the plan carries an effect preview (paths, hosts,
/// secrets, risk) and a hash that approvals are bound to.
final class Planner: Sendable {
    struct Settings: Sendable, Equatable {
        var maxRounds = 3
        var passingScore = 0.7
        var attemptsPerCall = 2
        var style = Style.auto
        var checkWeight = Grounding.defaultCheckWeight
        var stepwise = StepwisePlanner.Settings()
    }

    /// How the planner model is asked (docs/workflows.md#planning-a-step-at-a-time).
    enum Style: String, Sendable, Equatable, CaseIterable {
        /// One call for the whole plan, constrained by the plan's schema.
        case whole
        /// One decision per call, the grounding checks choosing among candidates.
        case stepwise
        /// Stepwise when the planner role is on the embedded local model, else whole.
        case auto
    }

    struct Step: Sendable, Equatable, Codable {
        var tool: String
        var arguments: JSONValue
        var expectedOutcome: String
        /// Earlier steps this one needs; steps run in order, so this documents rather than schedules.
        var dependsOn: [Int]

        init(tool: String, arguments: JSONValue, expectedOutcome: String, dependsOn: [Int]) {
            self.tool = tool
            self.arguments = arguments
            self.expectedOutcome = expectedOutcome
            self.dependsOn = dependsOn
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
        /// The critic's score.
        var score: Double
        var objections: [String]
        /// laloD's own checks of the steps against the request.
        var checks = Grounding.Report()
        /// What the checks and the critic's score give (``Grounding/confidence(checks:modelScore:checkWeight:)``).
        var confidence = 0.0
    }

    struct Plan: Sendable, Equatable {
        var steps: [Step]
        var rounds: [Round]
        var effects: Effects
        var hash: String
        var modelCalls: Int
        /// The critic passed it and no blocking check failed.
        var passed: Bool
        var checks = Grounding.Report()
        var confidence = 0.0
        var style = Style.whole
    }

    struct Failure: Error, CustomStringConvertible, Sendable {
        var description: String
    }

    static let planSchema: JSONValue = [
        "type": "object",
        "properties": [
            "steps": [
                "type": "array", "minItems": 1, "maxItems": 20,
                "items": [
                    "type": "object",
                    "properties": [
                        "tool": ["type": "string"], "arguments": ["type": "object"],
                        "expectedOutcome": ["type": "string"],
                        "dependsOn": ["type": "array", "items": ["type": "integer", "minimum": 0]],
                    ],
                    "required": ["tool", "arguments", "expectedOutcome"],
                ],
            ]
        ],
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
            "properties": [
                "steps": [
                    "type": "array", "minItems": 1, "maxItems": 8,
                    "items": alternatives.count == 1 ? alternatives[0] : ["anyOf": .array(alternatives)],
                ]
            ],
            "required": ["steps"],
        ]
    }

    static let critiqueSchema: JSONValue = [
        "type": "object",
        "properties": [
            "score": ["type": "number", "minimum": 0, "maximum": 1],
            "objections": ["type": "array", "items": ["type": "string"], "maxItems": 4],
        ],
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
    /// `request` and `answers` are the person's own words, which the plan is checked against;
    /// `workspace` lists the files already in the workflow's workspace.
    /// `feedback` is a person's rejection reason or a failed execution's report, for a re-plan.
    func plan(
        intent: Interpreter.Intent, request: String, answers: [String] = [], allowed: [String],
        workspace: Set<String> = [],
        feedback: String? = nil, actor: AuditActor, workflowId: String? = nil
    ) async throws -> Plan {
        let catalogue = try allowed.sorted().map { name -> String in
            let info = try tools.info(name)
            // The planning schema, without field descriptions: small models copy descriptions into values.
            return
                "- \(name) (risk \(info.risk)): \(info.description) Arguments: \(JSONWriter.string(try tools.tool(name).planningSchema))"
        }.joined(separator: "\n")
        let actions = tools.planningActions(allowed)
        let style = resolvedStyle(actions: actions)
        let anchors = Grounding.anchors(of: ([request] + answers).joined(separator: "\n"))
        var rounds: [Round] = []
        var calls = 0
        var objections: [String] = feedback.map { ["A person said: \($0)"] } ?? []
        // A small model rarely fixes a plan from objections; a second round (with warmer
        // samples) is worth its time, a third is not.
        let maxRounds = style == .stepwise ? min(settings.maxRounds, 2) : settings.maxRounds
        for _ in 0..<maxRounds {
            let steps: [Step]
            if style == .stepwise {
                let draft = try await StepwisePlanner(
                    models: models, settings: settings.stepwise, examples: PlanningExample.shipped
                )
                .draft(
                    request: request, answers: answers, actions: actions, objections: objections, workspace: workspace,
                    actor: actor, workflowId: workflowId)
                calls += draft.calls
                guard !draft.steps.isEmpty else { throw Failure(description: "the planner proposed no step") }
                steps = draft.steps
            } else {
                // The request and intent first and the tools after: small models weigh the start of the prompt most.
                let prompt = """
                    Request: \(request)
                    Intent: \(JSONWriter.string(intent.json))
                    Plan the tool calls that achieve this intent, using only these tools:
                    \(catalogue)
                    """
                    + (objections.isEmpty
                        ? "" : "\nFix these objections to the previous plan: " + objections.joined(separator: "; "))
                let (drafted, planCalls) = try await draft(
                    prompt, allowed: allowed, actor: actor, workflowId: workflowId)
                calls += planCalls
                steps = drafted
            }
            let checks = Grounding.check(
                steps: steps, request: request, answers: answers, actions: actions, workspace: workspace)
            let (score, found, critiqueCalls) = try await critique(
                request: request, intent: intent, steps: steps, catalogue: catalogue,
                brief: style == .stepwise, actor: actor, workflowId: workflowId)
            calls += critiqueCalls
            // The checks' objections come first: they are certain, the critic's are a model's.
            let roundObjections = checks.objections + found
            rounds.append(
                Round(
                    steps: steps, score: score, objections: roundObjections, checks: checks,
                    confidence: Grounding.confidence(
                        checks: checks, modelScore: score, checkWeight: settings.checkWeight)))
            if score >= settings.passingScore && !checks.blocked { break }
            // No revision can name a file the request never gives: ask the person instead.
            if anchors.files.isEmpty && checks.failures.contains(where: { $0.blocking && $0.name == "paths-named" }) {
                break
            }
            objections =
                roundObjections.isEmpty
                ? ["the critic scored the plan \(score) without saying why; make it safer and smaller"]
                : roundObjections
        }
        // The most confident round wins (the last one on ties): a revision is not always an improvement.
        let best = rounds.enumerated().max { a, b in
            a.element.confidence < b.element.confidence
                || (a.element.confidence == b.element.confidence && a.offset < b.offset)
        }!.element
        return Plan(
            steps: best.steps, rounds: rounds, effects: try effects(of: best.steps), hash: Self.hash(best.steps),
            modelCalls: calls, passed: best.score >= settings.passingScore && !best.checks.blocked, checks: best.checks,
            confidence: best.confidence, style: style)
    }

    /// The style in force: `auto` is stepwise on the embedded model (when the tools offer
    /// planning actions), whole elsewhere.
    func resolvedStyle(actions: [PlanningAction]) -> Style {
        switch settings.style {
        case .whole: return .whole
        case .stepwise: return actions.isEmpty ? .whole : .stepwise
        case .auto:
            let onLocal =
                models.configuration.binding(for: .planner).provider
                == Configuration.LocalModelConfiguration.providerName
            return onLocal && !actions.isEmpty ? .stepwise : .whole
        }
    }

    /// One plan from the planner, retried while it is not valid.
    private func draft(_ prompt: String, allowed: [String], actor: AuditActor, workflowId: String?) async throws -> (
        [Step], Int
    ) {
        let schema = modelSchema(allowed: allowed)
        var calls = 0
        var lastProblem = ""
        var lastAnswer = ""
        var messages = [ChatMessage(role: "user", content: prompt)]
        for _ in 0..<settings.attemptsPerCall {
            calls += 1
            let result = try await models.complete(
                role: .planner,
                request: ChatRequest(
                    model: "", messages: messages, responseSchema: schema, maxTokens: 800,
                    temperature: 0),
                stream: false, actor: actor, workflowId: workflowId)
            switch validate(result.content, allowed: Set(allowed)) {
            case .success(let steps): return (steps, calls)
            case .failure(let problem):
                lastProblem = problem.description
                lastAnswer = result.content
                // The planner sees what was wrong with its answer.
                messages += [
                    ChatMessage(role: "assistant", content: result.content),
                    ChatMessage(role: "user", content: "That plan is invalid: \(lastProblem). Answer again."),
                ]
            }
        }
        throw Failure(
            description:
                "the planner gave no valid plan in \(settings.attemptsPerCall) attempts: \(lastProblem) (last answer: \(String(lastAnswer.prefix(300))))"
        )
    }

    /// Parses and checks a plan: schema, allowed tools, arguments against each tool's schema,
    /// dependencies pointing to earlier steps.
    func validate(_ text: String, allowed: Set<String>) -> Result<[Step], Failure> {
        guard let json = try? JSONParser.parse(text) else {
            return .failure(
                Failure(
                    description: "not JSON (the answer began: \(JSONWriter.string(.string(String(text.prefix(120))))))")
            )
        }
        if let problem = JSONSchemaValidator.firstProblem(json, schema: Self.planSchema) {
            return .failure(Failure(description: problem))
        }
        guard let steps = try? JSONDecoder().decode([Step].self, from: Data(JSONWriter.bytes(json["steps"] ?? [])))
        else {
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
                return .failure(
                    Failure(description: "step \(index) depends on step \(bad), which does not come before it"))
            }
        }
        return .success(steps)
    }

    /// `brief`: for a small model, the request and the steps' arguments only (a long prompt costs
    /// it seconds and tells it nothing it can use); laloD's checks cover tools and names.
    private func critique(
        request: String, intent: Interpreter.Intent, steps: [Step], catalogue: String, brief: Bool,
        actor: AuditActor, workflowId: String?
    ) async throws -> (Double, [String], Int) {
        let prompt =
            brief
            ? """
            Score from 0 to 1 whether these steps do what the request asks, safely and minimally. List concrete objections.
            Request: \(request)
            Steps: \(JSONWriter.string(.array(steps.map { ["tool": .string($0.tool), "arguments": $0.arguments] })))
            """
            : """
            Score this plan from 0 to 1 against the rubric: it does what the request asks, uses only the allowed tools, is safe, \
            and is minimal. List concrete objections.
            Allowed tools:
            \(catalogue)
            Request: \(request)
            Intent: \(JSONWriter.string(intent.json))
            Plan: \(JSONWriter.string(["steps": .array(steps.map { Self.json($0) })]))
            """
        let (answer, calls) = try await models.structured(
            role: .critic, messages: [ChatMessage(role: "user", content: prompt)], schema: Self.critiqueSchema,
            maxTokens: 160,
            temperature: 0, attempts: settings.attemptsPerCall, actor: actor, workflowId: workflowId)
        guard let answer, let score = answer["score"]?.numberValue else {
            return (0, ["the critic gave no valid review"], calls)
        }
        return (score, answer["objections"]?.arrayValue?.compactMap(\.stringValue) ?? [], calls)
    }

    static func json(_ step: Step) -> JSONValue {
        [
            "tool": .string(step.tool), "arguments": step.arguments, "expectedOutcome": .string(step.expectedOutcome),
            "dependsOn": .array(step.dependsOn.map { .int(Int64($0)) }),
        ]
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
                !effects.hosts.contains(host)
            {
                effects.hosts.append(host)
            }
            if let secret = step.arguments["auth"]?["secret"]?.stringValue, !effects.secrets.contains(secret) {
                effects.secrets.append(secret)
            }
        }
        return effects
    }
}
