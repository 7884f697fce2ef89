import Foundation
import Logging
import Shared
import Synchronization

/// Step 1: the interpretation, recorded with its confidence; a speculative plan may start meanwhile.
extension WorkflowEngine {
    func interpret(_ record: WorkflowLog.Record, _ entries: [WorkflowLog.Entry]) async throws
        -> [WorkflowAction]
    {
        let answers = entries.compactMap { $0.event == .clarified ? $0.payload?["answers"]?.arrayValue : nil }
            .flatMap { $0.compactMap(\.stringValue) }
        let options = record.decodedOptions
        let actor = Self.actor(record)
        let interpretation: Interpreter.Interpretation
        var onIntent: (@Sendable (Interpreter.Intent) -> Void)?
        if settings.speculativePlanning && !judgeAndPlannerShareTheLocalModel {
            onIntent = { intent in self.speculate(record, intent: intent, answers: answers) }
        }
        do {
            interpretation = try await interpreter.interpret(
                record.request, answers: answers, tools: options.tools, actions: tools.planningActions(options.tools),
                threshold: options.threshold, actor: actor, workflowId: record.id, onIntent: onIntent)
        } catch let failure as Interpreter.Failure {
            // Output that never matched the schema is not trusted: the person is asked instead.
            cancelSpeculation(record.id)
            return try await self.record(
                .interpreted(confident: false), id: record.id,
                payload: [
                    "questions": [
                        "I could not turn the request into a clear task. What exactly should be done, and what should the result be?"
                    ],
                    "problem": .string(failure.description), "confidence": 0,
                ], by: actor
            ).actions
        } catch let error as any DaemonError where error.kind != .conflict {
            // The model router reports a provider that is down, slow or refusing as a ModelError.
            cancelSpeculation(record.id)
            return try await self.record(
                .failed(reason: "the interpreter model failed: \(error.message) [\(error.kind.rawValue)]"),
                id: record.id, payload: nil, by: actor
            ).actions
        }
        if !interpretation.confident { cancelSpeculation(record.id) }
        return try await self.record(
            .interpreted(confident: interpretation.confident), id: record.id,
            payload: [
                "intent": interpretation.intent.json, "confidence": .double(interpretation.confidence),
                "judgeScore": .double(interpretation.judgeScore), "agreement": .double(interpretation.agreement),
                "judgeConsistency": .double(interpretation.judgeConsistency),
                "modelScore": .double(interpretation.modelScore),
                "checks": interpretation.checks.json,
                "questions": .array(interpretation.questions.map { .string($0) }),
                "modelCalls": .int(Int64(interpretation.modelCalls)),
                "fromCache": .bool(interpretation.fromCache),
                "threshold": .double(options.threshold ?? interpreter.settings.threshold),
            ], by: actor
        ).actions
    }

    func speculate(_ record: WorkflowLog.Record, intent: Interpreter.Intent, answers: [String]) {
        let options = record.decodedOptions
        let workspace = workspaceFiles(record.id)
        let task = Task { [planner] in
            try await planner.plan(
                intent: intent, request: record.request, answers: answers, allowed: options.tools,
                workspace: workspace, actor: Self.actor(record), workflowId: record.id)
        }
        runtime.withLock { $0[record.id, default: Runtime()].speculative = (intent, task) }
    }

    func cancelSpeculation(_ id: String) {
        let task = runtime.withLock { all -> Task<Planner.Plan, any Error>? in
            defer { all[id]?.speculative = nil }
            return all[id]?.speculative?.task
        }
        task?.cancel()
    }
}
