import Foundation
import Shared

/// Drafting a plan one decision per model call, for a small model (docs/workflows.md#planning-a-step-at-a-time).
/// A 135M model cannot write a whole plan as JSON, but it can answer one small question under a
/// grammar when worked examples show the answer's shape: which action the next step is, then
/// each of that action's values (the file, the text, the program). Each value is sampled up to
/// `candidates` times, the first at temperature 0 and the rest warmer with the examples in
/// another order, and laloD's grounding checks keep the first candidate they accept; the model
/// writes every candidate, the checks only choose. Another step follows while the request names
/// a file no step uses yet, up to `maxSteps`.
struct StepwisePlanner: Sendable {
    struct Settings: Sendable, Equatable {
        var candidates = 3
        var maxSteps = 4
        /// Examples shown per call, the most like the request last: each costs a small model
        /// about a quarter of a second to read.
        var examplesPerPrompt = 3
        var maxTokensPerValue = 64
        var maxTokensPerProgram = 200
    }

    let models: ModelRouter
    let settings: Settings
    let examples: [PlanningExample]

    struct Draft: Sendable {
        var steps: [Planner.Step]
        var calls: Int
    }

    func draft(
        request: String, answers: [String], actions: [PlanningAction], objections: [String], workspace: Set<String>,
        actor: AuditActor, workflowId: String?
    ) async throws -> Draft {
        let text = ([request] + answers).joined(separator: "\n")
        let anchors = Grounding.anchors(of: text)
        var steps: [Planner.Step] = []
        var calls = 0
        var written: Set<String> = []
        var used: Set<String> = []
        let notes =
            objections.isEmpty ? "" : "\nAvoid what was wrong before: " + objections.prefix(3).joined(separator: "; ")
        for index in 0..<settings.maxSteps {
            let uncovered = anchors.files.filter { !used.contains(Grounding.normalised($0)) }
            // One step at least; after it, another only while the request names a file no step uses.
            if index > 0 && uncovered.isEmpty { break }
            let (action, actionCalls) = try await chooseAction(
                text: text, notes: notes, steps: steps, actions: actions,
                anchors: anchors, actor: actor, workflowId: workflowId)
            calls += actionCalls
            guard let action else { break }
            var decided: [String: JSONValue] = [:]
            var grounded = true
            for field in action.fields {
                let context = Grounding.FieldContext(
                    anchors: anchors, request: text, written: written, used: used, workspace: workspace)
                let (value, accepted, valueCalls) = try await decide(
                    field, of: action, text: text, notes: notes, decided: decided,
                    context: context, actor: actor, workflowId: workflowId)
                calls += valueCalls
                decided[field.name] = .string(value)
                if !accepted { grounded = false }
            }
            let step = Planner.Step(
                tool: action.tool, arguments: action.arguments(decided),
                expectedOutcome: Self.outcome(of: action, decided), dependsOn: [])
            for (_, touched) in Grounding.paths(of: step, action: action) {
                let path = Grounding.normalised(touched.path)
                used.insert(path)
                if touched.kind == .writtenPath { written.insert(path) }
            }
            for name in Grounding.fileNamesIn(code: step.arguments["code"]?.stringValue ?? "") {
                used.insert(Grounding.normalised(name))
            }
            steps.append(step)
            // A step whose values the checks refuse ends the draft: more steps would not fix it,
            // and the plan's checks say what is wrong.
            if !grounded { break }
        }
        return Draft(steps: steps, calls: calls)
    }

    static func outcome(of action: PlanningAction, _ decided: [String: JSONValue]) -> String {
        let target = decided["path"]?.stringValue.map { " \($0)" } ?? ""
        return "\(action.summary)\(target)"
    }

    // MARK: The action

    private func chooseAction(
        text: String, notes: String, steps: [Planner.Step], actions: [PlanningAction], anchors: Grounding.Anchors,
        actor: AuditActor, workflowId: String?
    ) async throws -> (PlanningAction?, Int) {
        guard !actions.isEmpty else { return (nil, 0) }
        if actions.count == 1 { return (actions[0], 0) }
        let summaries = actions.map(\.summary)
        let schema: JSONValue = [
            "type": "object",
            "properties": ["action": ["type": "string", "enum": .array(summaries.map { .string($0) })]],
            "required": ["action"],
        ]
        let shown = examples.filter { example in
            example.steps.contains { step in actions.contains { $0.name == step.action } }
        }
        var calls = 0
        var first: PlanningAction?
        for candidate in 0..<settings.candidates {
            var messages = [
                ChatMessage(
                    role: "system",
                    content:
                        "Choose the next step for the request. Answer with one of: \(summaries.joined(separator: ", "))."
                )
            ]
            for example in ordered(shown, like: text, candidate: candidate, request: \.request).suffix(
                settings.examplesPerPrompt + 1)
            {
                guard let step = example.steps.first, let action = actions.first(where: { $0.name == step.action })
                else { continue }
                messages.append(ChatMessage(role: "user", content: "Request: \(example.request)"))
                messages.append(
                    ChatMessage(role: "assistant", content: JSONWriter.string(["action": .string(action.summary)])))
            }
            messages.append(ChatMessage(role: "user", content: "Request: \(text)" + Self.describe(steps) + notes))
            calls += 1
            let (answer, _) = try await models.structured(
                role: .planner, messages: messages, schema: schema, maxTokens: 24,
                temperature: candidate == 0 ? 0 : 0.8, attempts: 1, actor: actor,
                workflowId: workflowId)
            guard let summary = answer?["action"]?.stringValue,
                let action = actions.first(where: { $0.summary == summary })
            else { continue }
            if first == nil { first = action }
            // The checks that choose: the request asks for this kind of action, and a tool it asks
            // for by name (Python, a shell command) comes first.
            // Of the actions the request asks for, one it asks for most (“a shell command” is the
            // shell's, not Python's, though both run code).
            let needed = PlanningAction.neededTools(actions, words: anchors.words).subtracting(steps.map(\.tool))
            let candidates = actions.filter { needed.isEmpty || needed.contains($0.tool) }
            let most = candidates.map { $0.asked(by: anchors.words) }.max() ?? 0
            if most > 0, candidates.contains(where: { $0.name == action.name }), action.asked(by: anchors.words) == most
            {
                return (action, calls)
            }
        }
        return (first, calls)
    }

    // MARK: One value

    private func decide(
        _ field: PlanningAction.Field, of action: PlanningAction, text: String, notes: String,
        decided: [String: JSONValue], context: Grounding.FieldContext,
        actor: AuditActor, workflowId: String?
    ) async throws -> (value: String, accepted: Bool, calls: Int) {
        var property: JSONValue = ["type": "string", "minLength": 1]
        if case .choice(let values) = field.kind {
            property = ["type": "string", "enum": .array(values.map { .string($0) })]
        }
        // A path the step writes must be one the request names, and one it reads named or in the
        // workspace: the grammar offers those (the model still chooses which), so a small model
        // cannot invent a name the checks would refuse. With none to offer it writes freely, and
        // the checks refuse what it writes.
        let offered = Self.offeredPaths(for: field.kind, context: context)
        if !offered.isEmpty { property = ["type": "string", "enum": .array(offered.map { .string($0) })] }
        let schema: JSONValue = [
            "type": "object", "properties": .object([field.name: property]), "required": [.string(field.name)],
        ]
        let shown = examples.flatMap { example in
            example.steps.filter { $0.action == action.name && $0.values[field.name] != nil }.map { (example, $0) }
        }
        let isProgram = field.kind == .code
        var calls = 0
        var first: String?
        for candidate in 0..<settings.candidates {
            var messages = [
                ChatMessage(
                    role: "system",
                    content: "Give \(field.question) for the step \"\(action.summary)\". "
                        + (isProgram
                            ? "Use the file names the request gives."
                            : "Copy the name or text exactly as the request writes it."))
            ]
            for (example, step) in ordered(shown, like: text, candidate: candidate, request: \.0.request)
                .suffix(settings.examplesPerPrompt)
            {
                // The example's values decided before this one, as the request's are shown below.
                let earlier = Set(action.fields.prefix { $0.name != field.name }.map(\.name))
                let known = step.values.filter { earlier.contains($0.key) }
                messages.append(
                    ChatMessage(
                        role: "user",
                        content: "Request: \(example.request)\nStep: \(action.summary)" + Self.describe(known)))
                messages.append(
                    ChatMessage(
                        role: "assistant",
                        content: JSONWriter.string(.object([field.name: .string(step.values[field.name] ?? "")]))))
            }
            let known = decided.compactMapValues(\.stringValue)
            messages.append(
                ChatMessage(
                    role: "user",
                    content: "Request: \(text)\nStep: \(action.summary)" + Self.describe(known)
                        + (candidate == 0 ? notes : "")))
            calls += 1
            let (answer, _) = try await models.structured(
                role: .planner, messages: messages, schema: schema,
                maxTokens: isProgram ? settings.maxTokensPerProgram : settings.maxTokensPerValue,
                temperature: candidate == 0 ? 0 : 0.8, attempts: 1, actor: actor, workflowId: workflowId)
            guard let value = answer?[field.name]?.stringValue,
                !value.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty
            else { continue }
            if first == nil { first = value }
            if Grounding.problem(with: value, kind: field.kind, context: context) == nil { return (value, true, calls) }
            // No candidate can pass when the request names no file to write: do not ask again.
            if field.kind == .writtenPath && context.anchors.files.isEmpty { break }
        }
        // No candidate accepted: the first goes into the plan, and the plan's checks object to it.
        return (first ?? (field.kind == .directory ? "." : ""), false, calls)
    }

    /// The paths the grammar allows for a path value: for a written path the request's file
    /// names no earlier step uses; for a read, those and the workspace's files and what earlier
    /// steps wrote. Empty: no restriction.
    static func offeredPaths(for kind: PlanningAction.FieldKind, context: Grounding.FieldContext) -> [String] {
        switch kind {
        case .writtenPath:
            return context.anchors.files.filter { !context.used.contains(Grounding.normalised($0)) }
        case .readPath:
            let all = context.anchors.files + context.written.sorted() + context.workspace.sorted().prefix(50)
            var seen: Set<String> = []
            return all.filter { seen.insert(Grounding.normalised($0)).inserted }
        default:
            return []
        }
    }

    /// The examples in the order they are shown. The first candidate sees them from the least to
    /// the most like the request (the words they share), so the example a small model follows
    /// most, the last, is the closest one; each later candidate sees another order, so no two
    /// samples are pulled to the same example.
    private func ordered<T>(_ items: [T], like text: String, candidate: Int, request: KeyPath<T, String>) -> [T] {
        guard !items.isEmpty else { return items }
        let words = Set(Grounding.words(text))
        let ranked = items.enumerated().sorted { a, b in
            let x = Self.similarity(words, a.element[keyPath: request])
            let y = Self.similarity(words, b.element[keyPath: request])
            return x < y || (x == y && a.offset > b.offset)
        }.map(\.element)
        guard candidate > 0 else { return ranked }
        let shift = (candidate * 2) % ranked.count
        return Array(ranked[shift...] + ranked[..<shift])
    }

    /// Jaccard similarity of the words of two requests.
    static func similarity(_ words: Set<String>, _ other: String) -> Double {
        let theirs = Set(Grounding.words(other))
        let union = words.union(theirs)
        return union.isEmpty ? 0 : Double(words.intersection(theirs).count) / Double(union.count)
    }

    private static func describe(_ steps: [Planner.Step]) -> String {
        guard !steps.isEmpty else { return "" }
        return "\nSteps so far: " + steps.map(\.expectedOutcome).joined(separator: "; ")
    }

    private static func describe(_ known: [String: String]) -> String {
        known.sorted { $0.key < $1.key }.map { "\n\($0.key): \($0.value)" }.joined()
    }
}

extension Grounding {
    /// What a value is checked against while the planner chooses among candidates.
    struct FieldContext: Sendable {
        var anchors: Anchors
        var request: String
        /// Paths earlier steps write, and paths they use in any way.
        var written: Set<String>
        var used: Set<String>
        var workspace: Set<String>
    }

    /// Why a candidate value does not fit what the request gives; nil when it does. The same
    /// rules as the plan's checks, for one value.
    static func problem(with value: String, kind: PlanningAction.FieldKind, context: FieldContext) -> String? {
        let named = Set(context.anchors.files.map(normalised))
        let path = normalised(value)
        switch kind {
        case .writtenPath:
            if !named.contains(path) { return "“\(value)” is not a file the request names" }
            if context.used.contains(path) { return "an earlier step already uses \(value)" }
        case .readPath:
            if !(named.contains(path) || context.workspace.contains(path) || context.written.contains(path)) {
                return "“\(value)” is neither named in the request nor in the workspace"
            }
        case .directory:
            if !(path.isEmpty || path == "." || named.contains(path)) {
                return "“\(value)” is not the workspace or a directory the request names"
            }
        case .text:
            let trimmed = value.trimmingCharacters(in: .whitespacesAndNewlines)
            if words(trimmed).allSatisfy({ instructionWords.contains($0) }) || named.contains(trimmed) {
                return "“\(trimmed)” is part of the instruction, not a value"
            }
            if context.anchors.files.contains(where: { trimmed.contains($0) }) { return "the text names a file" }
            if !context.anchors.values.isEmpty {
                if !context.anchors.values.contains(where: { trimmed.contains($0) }) {
                    return "the request gives another text"
                }
            } else if !context.request.contains(trimmed) {
                return "the text is not in the request"
            }
        case .code:
            let names = fileNamesIn(code: value).map(normalised)
            if let foreign = names.first(where: {
                !named.contains($0) && !context.workspace.contains($0) && !context.written.contains($0)
            }) {
                return "the code uses “\(foreign)”, which the request does not name"
            }
            let open = named.subtracting(context.used)
            if !open.isEmpty && open.isDisjoint(with: names) {
                return "the code uses none of \(open.sorted().joined(separator: ", "))"
            }
            // The request's numbers are its data: code that leaves one out computes something else.
            let numbers = Set(value.split(whereSeparator: { !$0.isNumber }).map(String.init))
            let fileDigits = context.anchors.files.joined()
            if let missing = context.anchors.numbers.first(where: { !numbers.contains($0) && !fileDigits.contains($0) })
            {
                return "the code does not use \(missing) from the request"
            }
        case .choice:
            break
        }
        return nil
    }
}
