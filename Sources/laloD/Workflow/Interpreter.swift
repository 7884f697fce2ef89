import Crypto
import Foundation
import GRDB
import Shared
import Synchronization

/// Step 1 of the workflow (docs/workflows.md#step-1-interpret): the request as a structured intent, with a confidence that
/// combines a separate judge model's score with the agreement of independent interpretations.
///
/// Model output is never trusted: every answer must parse and match the intent schema; invalid
/// answers are retried a bounded number of times and then reported, so the engine can ask the
/// person instead of acting on a guess.
final class Interpreter: Sendable {
    struct Settings: Sendable, Equatable {
        /// Independent interpretations sampled concurrently.
        var samples = 2
        /// Attempts per sample (and for the judge) before the model is given up on.
        var attemptsPerCall = 2
        var threshold = 0.7
        var judgeWeight = 0.6
        /// Judge calls per interpretation (the first at temperature 0, the others warmer): how
        /// much their scores differ is part of the confidence.
        var judgeSamples = 2
        /// laloD's checks' share of the confidence (``Grounding/confidence(checks:modelScore:checkWeight:)``).
        var checkWeight = Grounding.defaultCheckWeight
        var temperature = 0.7
        var cacheCapacity = 256
        /// How long a stored interpretation is reused.
        var cacheSeconds = 86_400
    }

    struct Intent: Sendable, Equatable, Codable {
        var goal: String
        var entities: [String]
        var constraints: [String]
        var expectedOutput: String
        var tools: [String]

        var json: JSONValue {
            [
                "goal": .string(goal), "entities": .array(entities.map { .string($0) }),
                "constraints": .array(constraints.map { .string($0) }), "expectedOutput": .string(expectedOutput),
                "tools": .array(tools.map { .string($0) }),
            ]
        }
    }

    struct Interpretation: Sendable, Equatable, Codable {
        var intent: Intent
        var confidence: Double
        var judgeScore: Double
        var agreement: Double
        /// 1 minus the spread of the judge's scores across its samples.
        var judgeConsistency: Double
        /// What the models say: judgeWeight x judge x consistency + (1 - judgeWeight) x agreement.
        var modelScore: Double
        /// laloD's own checks of the request and the intent (``Grounding``).
        var checks: Grounding.Report
        /// Empty when confident enough.
        var questions: [String]
        var modelCalls: Int
        var fromCache: Bool
        var confident: Bool { questions.isEmpty }
    }

    struct Failure: Error, CustomStringConvertible, Sendable {
        var description: String
    }

    static let intentSchema: JSONValue = [
        "type": "object",
        "properties": [
            "goal": ["type": "string", "minLength": 1],
            "entities": ["type": "array", "items": ["type": "string"], "maxItems": 3],
            "constraints": ["type": "array", "items": ["type": "string"], "maxItems": 3],
            "expectedOutput": ["type": "string"],
            "tools": ["type": "array", "items": ["type": "string"], "maxItems": 3],
        ],
        "required": ["goal", "entities", "constraints", "expectedOutput", "tools"],
    ]

    static let judgeSchema: JSONValue = [
        "type": "object",
        "properties": [
            "score": ["type": "number", "minimum": 0, "maximum": 1],
            // Few and short: the local model writes them before the score (keys in alphabetical order).
            "questions": ["type": "array", "items": ["type": "string"], "maxItems": 3],
        ],
        "required": ["score", "questions"],
    ]

    let models: ModelRouter
    let settings: Settings
    /// Interpretations by key, with when they were made.
    private let cache = Mutex<[String: (Interpretation, Int64)]>([:])
    /// Where interpretations outlive a restart; nil keeps them in memory only.
    private let store: Store?

    init(models: ModelRouter, settings: Settings = Settings(), store: Store? = nil) {
        self.models = models
        self.settings = settings
        self.store = store
    }

    /// Interprets `request` (with the answers to earlier clarification questions, if any) for
    /// `actor`, offering the names in `tools`.
    func interpret(
        _ request: String, answers: [String] = [], tools: [String], actions: [PlanningAction] = [],
        threshold: Double? = nil, actor: AuditActor, workflowId: String? = nil,
        onIntent: (@Sendable (Intent) -> Void)? = nil
    ) async throws -> Interpretation {
        let threshold = threshold ?? settings.threshold
        let key = cacheKey(request, answers: answers, tools: tools, threshold: threshold, actor: actor)
        if settings.cacheSeconds > 0, var hit = cached(key) {
            hit.fromCache = true
            hit.modelCalls = 0
            return hit
        }
        let prompt = Self.messages(request, answers: answers, tools: tools)
        // Independent samples, concurrently: their agreement is half of the confidence.
        // A sample whose answer never matched the schema counts as missing; a model that cannot
        // be reached at all is an error of its own, not a reason to ask the person.
        let (samples, unreachable) = try await withThrowingTaskGroup(of: Result<(Intent, Int), any Error>.self) {
            group in
            for _ in 0..<settings.samples {
                group.addTask {
                    do { return .success(try await self.sample(prompt, actor: actor, workflowId: workflowId)) } catch {
                        return .failure(error)
                    }
                }
            }
            var collected: [(Intent, Int)] = []
            var unreachable: (any DaemonError)?
            for try await outcome in group {
                switch outcome {
                case .success(let sample): collected.append(sample)
                case .failure(let error as any DaemonError): unreachable = error
                case .failure: break
                }
            }
            return (collected, unreachable)
        }
        if samples.isEmpty, let unreachable { throw unreachable }
        var calls = samples.reduce(0) { $0 + $1.1 }
        guard let chosen = samples.first?.0 else {
            throw Failure(
                description:
                    "the interpreter model gave no answer matching the intent schema in \(settings.samples * settings.attemptsPerCall) attempts"
            )
        }
        // The engine may start planning with this intent while the judge runs: if the judge
        // is satisfied, the planner's first answer is already there.
        onIntent?(chosen)
        let agreement = samples.count < settings.samples ? 0 : Self.agreement(samples.map(\.0))
        let (score, consistency, questions, judgeCalls) = try await judge(
            request, answers: answers, intent: chosen, actor: actor,
            workflowId: workflowId)
        calls += judgeCalls
        let modelScore = settings.judgeWeight * score * consistency + (1 - settings.judgeWeight) * agreement
        let checks = Grounding.check(request: request, answers: answers, intent: chosen, actions: actions)
        let confidence = Grounding.confidence(checks: checks, modelScore: modelScore, checkWeight: settings.checkWeight)
        var asked: [String] = []
        if confidence < threshold {
            // laloD's checks know what is missing; the judge's questions follow.
            asked = checks.questions + questions.filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
            if asked.isEmpty { asked = ["What exactly should the result be, and where should it go?"] }
            asked = Array(asked.prefix(4))
        }
        let result = Interpretation(
            intent: chosen, confidence: confidence, judgeScore: (score * 1000).rounded() / 1000,
            agreement: (agreement * 1000).rounded() / 1000,
            judgeConsistency: (consistency * 1000).rounded() / 1000,
            modelScore: (modelScore * 1000).rounded() / 1000, checks: checks, questions: asked,
            modelCalls: calls, fromCache: false)
        if settings.cacheSeconds > 0 { remember(result, key: key) }
        return result
    }

    private func cached(_ key: String) -> Interpretation? {
        let oldest = Timestamp.nowMicroseconds() - Int64(settings.cacheSeconds) * 1_000_000
        if let (hit, at) = cache.withLock({ $0[key] }), at >= oldest { return hit }
        guard let store else { return nil }
        guard
            let text = try? store.writer.read({ db in
                try String.fetchOne(
                    db, sql: "SELECT interpretation FROM interpretationCache WHERE key = ? AND createdAtMicros >= ?",
                    arguments: [key, oldest])
            }), let hit = try? JSONDecoder().decode(Interpretation.self, from: Data(text.utf8))
        else { return nil }
        cache.withLock { $0[key] = (hit, Timestamp.nowMicroseconds()) }
        return hit
    }

    private func remember(_ result: Interpretation, key: String) {
        cache.withLock { cache in
            // A crude bound: the store keeps the rest, so dropping the memory copy costs one read.
            if cache.count >= settings.cacheCapacity { cache.removeAll() }
            cache[key] = (result, Timestamp.nowMicroseconds())
        }
        guard store != nil, let data = try? JSONEncoder().encode(result) else { return }
        let now = Timestamp.nowMicroseconds()
        let oldest = now - Int64(settings.cacheSeconds) * 1_000_000
        // Off the request's path: the memory copy answers until the row is there.
        models.deferred.add(
            DeferredWriter.Statement(
                sql:
                    "INSERT OR REPLACE INTO interpretationCache (key, interpretation, createdAtMicros) VALUES (?, ?, ?)",
                arguments: [key, String(decoding: data, as: UTF8.self), now]))
        models.deferred.add(
            DeferredWriter.Statement(
                sql: "DELETE FROM interpretationCache WHERE createdAtMicros < ?",
                arguments: [oldest]))
    }

    /// Worked examples first (a small model follows an example's shape far better than an
    /// instruction), the request last. The examples are the same for every request, so the
    /// local model's prompt cache keeps them.
    static func messages(_ request: String, answers: [String], tools: [String]) -> [ChatMessage] {
        let instruction = """
            Turn the user's request into a structured intent: the goal, the entities it is about (names and values \
            exactly as the request writes them), the constraints, the expected output, and which of these tools look \
            relevant: \(tools.joined(separator: ", ")).
            """
        var messages = [ChatMessage(role: "system", content: instruction)]
        for (example, intent) in exampleIntents {
            messages.append(ChatMessage(role: "user", content: "Request: \(example)"))
            messages.append(ChatMessage(role: "assistant", content: JSONWriter.string(intent.json)))
        }
        var text = "Request: \(request)"
        if !answers.isEmpty {
            text += "\nThe user's answers to clarification questions: " + answers.joined(separator: " | ")
        }
        messages.append(ChatMessage(role: "user", content: text))
        return messages
    }

    static let exampleIntents: [(String, Intent)] = [
        (
            "Store the word blue in colour.txt",
            Intent(
                goal: "write blue to colour.txt", entities: ["colour.txt", "blue"], constraints: [],
                expectedOutput: "colour.txt containing blue", tools: ["file"])
        ),
        (
            "Use Python to multiply 6 by 7 and write the answer to product.txt",
            Intent(
                goal: "compute 6 * 7 in Python and write it to product.txt", entities: ["product.txt", "6", "7"],
                constraints: [],
                expectedOutput: "product.txt containing 42", tools: ["code.run"])
        ),
    ]

    /// One interpretation, retried while the answer does not parse or match the schema.
    private func sample(_ prompt: [ChatMessage], actor: AuditActor, workflowId: String?) async throws -> (Intent, Int) {
        let (answer, calls) = try await models.structured(
            role: .interpreter, messages: prompt, schema: Self.intentSchema,
            maxTokens: 160, temperature: settings.temperature, attempts: settings.attemptsPerCall, actor: actor,
            workflowId: workflowId)
        guard let answer, let intent = try? JSONDecoder().decode(Intent.self, from: Data(JSONWriter.bytes(answer)))
        else {
            throw Failure(description: "invalid interpreter output")
        }
        return (intent, calls)
    }

    /// The judge's mean score over its samples, their consistency (1 minus the spread of the
    /// scores), its questions, and the calls made. The samples run concurrently.
    private func judge(
        _ request: String, answers: [String], intent: Intent, actor: AuditActor,
        workflowId: String?
    ) async throws -> (Double, Double, [String], Int) {
        let prompt = """
            Score from 0 to 1 how well this interpretation captures the user's request, and list the questions \
            you would ask the user if anything is unclear.
            Request: \(request)\(answers.isEmpty ? "" : "\nAnswers: " + answers.joined(separator: " | "))
            Interpretation: \(JSONWriter.string(intent.json))
            """
        let samples = max(1, settings.judgeSamples)
        let results = try await withThrowingTaskGroup(of: (Int, JSONValue?, Int).self) { group in
            for index in 0..<samples {
                group.addTask {
                    let (answer, calls) = try await self.models.structured(
                        role: .judge, messages: [ChatMessage(role: "user", content: prompt)], schema: Self.judgeSchema,
                        maxTokens: 120,
                        temperature: index == 0 ? 0 : 0.7, attempts: self.settings.attemptsPerCall, actor: actor,
                        workflowId: workflowId)
                    return (index, answer, calls)
                }
            }
            var all: [(Int, JSONValue?, Int)] = []
            for try await result in group { all.append(result) }
            return all.sorted { $0.0 < $1.0 }
        }
        let calls = results.reduce(0) { $0 + $1.2 }
        // A judge sample that cannot answer scores 0: the person is asked rather than trusting the rest.
        let scores = results.map { $0.1?["score"]?.numberValue ?? 0 }
        let mean = scores.reduce(0, +) / Double(scores.count)
        let consistency = 1 - ((scores.max() ?? 0) - (scores.min() ?? 0))
        let questions = results.first?.1?["questions"]?.arrayValue?.compactMap(\.stringValue) ?? []
        return (mean, consistency, questions, calls)
    }

    /// Mean pairwise Jaccard similarity of the words of goal and expected output.
    static func agreement(_ intents: [Intent]) -> Double {
        guard intents.count > 1 else { return intents.isEmpty ? 0 : 1 }
        func words(_ intent: Intent) -> Set<String> {
            Set(
                (intent.goal + " " + intent.expectedOutput).lowercased()
                    .split(whereSeparator: { !$0.isLetter && !$0.isNumber }).map(String.init).filter { $0.count > 2 })
        }
        var total = 0.0
        var pairs = 0
        for i in 0..<intents.count {
            for j in (i + 1)..<intents.count {
                let a = words(intents[i])
                let b = words(intents[j])
                total += a.union(b).isEmpty ? 1 : Double(a.intersection(b).count) / Double(a.union(b).count)
                pairs += 1
            }
        }
        return total / Double(pairs)
    }

    /// Same user scope, same normalised text and answers, same models and tools: same key.
    private func cacheKey(_ request: String, answers: [String], tools: [String], threshold: Double, actor: AuditActor)
        -> String
    {
        let normalised = request.lowercased().split(whereSeparator: \.isWhitespace).joined(separator: " ")
        let interpreter = models.configuration.binding(for: .interpreter)
        let judge = models.configuration.binding(for: .judge)
        let material = [
            String(actor.uid), normalised, answers.joined(separator: "\u{1F}"), tools.sorted().joined(separator: ","),
            "\(threshold)", "\(interpreter.provider)/\(interpreter.model)", "\(judge.provider)/\(judge.model)",
        ]
        .joined(separator: "\u{1E}")
        return SHA256.hash(data: Array(material.utf8)).hexString
    }
}
