import Foundation
import Logging
import Shared
import Synchronization

/// Step 2: a plan grounded in the request, its critic rounds and the approval policy's verdict.
extension WorkflowEngine {
    /// The embedded server answers one request at a time and reuses the previous prompt's
    /// prefix: planning beside the judge there saves no time and costs both their prompt caches.
    var judgeAndPlannerShareTheLocalModel: Bool {
        let configuration = interpreter.models.configuration
        let local = Configuration.LocalModelConfiguration.providerName
        return configuration.binding(for: .judge).provider == local
            && configuration.binding(for: .planner).provider == local
    }

    /// What people said when they rejected a plan or a result, in order.
    func rejectionReasons(_ entries: [WorkflowLog.Entry]) -> [String] {
        entries.compactMap { entry in
            if case .rejected = entry.event { return entry.payload?["reason"]?.stringValue } else { return nil }
        }
    }

    /// The answers to every clarification so far, in order.
    func answers(_ entries: [WorkflowLog.Entry]) -> [String] {
        entries.compactMap { $0.event == .clarified ? $0.payload?["answers"]?.arrayValue : nil }.flatMap {
            $0.compactMap(\.stringValue)
        }
    }

    /// The files in a workflow's workspace (for the plan's checks: reading one needs no name in
    /// the request). Top level and one level down, at most a few hundred names.
    func workspaceFiles(_ id: String) -> Set<String> {
        let root = settings.workspaceRoot + "/" + id
        var names: Set<String> = []
        guard let top = try? FileManager.default.contentsOfDirectory(atPath: root) else { return names }
        for name in top.prefix(500) {
            names.insert(name)
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: root + "/" + name, isDirectory: &isDirectory),
                isDirectory.boolValue,
                let inner = try? FileManager.default.contentsOfDirectory(atPath: root + "/" + name)
            {
                for child in inner.prefix(200) { names.insert(name + "/" + child) }
            }
        }
        return names
    }

    /// The latest interpretation's intent and confidence.
    func currentIntent(_ entries: [WorkflowLog.Entry]) -> (Interpreter.Intent, Double)? {
        guard let payload = entries.last(where: { $0.event.name == "interpreted" })?.payload,
            let intentJSON = payload["intent"],
            let intent = try? JSONDecoder().decode(Interpreter.Intent.self, from: Data(JSONWriter.bytes(intentJSON)))
        else { return nil }
        return (intent, payload["confidence"]?.numberValue ?? 0)
    }

    /// What the planner should hear on a re-plan: the rejection reason or the failed execution.
    func replanFeedback(_ entries: [WorkflowLog.Entry]) -> String? {
        for entry in entries.reversed() {
            switch entry.event {
            case .rejected:
                return entry.payload?["reason"]?.stringValue
                    ?? "the plan was rejected without a reason; propose a different one"
            case .executionRolledBack:
                return "executing the previous plan failed and was rolled back: "
                    + (entry.payload?["failure"]?.stringValue ?? "unknown error")
            case .planned, .edited, .interpreted:
                return nil
            default:
                continue
            }
        }
        return nil
    }

    func plan(_ record: WorkflowLog.Record, _ entries: [WorkflowLog.Entry], revision: Bool) async throws
        -> [WorkflowAction]
    {
        let actor = Self.actor(record)
        guard let (intent, confidence) = currentIntent(entries) else {
            return try await self.record(
                .failed(reason: "no interpretation to plan from"), id: record.id, payload: nil, by: actor
            ).actions
        }
        let feedback = revision ? replanFeedback(entries) : nil
        let options = record.decodedOptions
        let plan: Planner.Plan
        do {
            let speculative = runtime.withLock { all -> Task<Planner.Plan, any Error>? in
                defer { all[record.id]?.speculative = nil }
                guard let guess = all[record.id]?.speculative, guess.intent == intent else { return nil }
                return guess.task
            }
            if feedback == nil, let speculative {
                plan = try await withTaskCancellationHandler {
                    try await speculative.value
                } onCancel: {
                    speculative.cancel()
                }
            } else {
                speculative?.cancel()
                // A person's rejection reasons are their words too: what they name, the plan may use.
                plan = try await planner.plan(
                    intent: intent, request: record.request, answers: answers(entries) + rejectionReasons(entries),
                    allowed: options.tools, workspace: workspaceFiles(record.id), feedback: feedback,
                    actor: actor, workflowId: record.id)
            }
        } catch let failure as Planner.Failure {
            return try await self.record(.failed(reason: failure.description), id: record.id, payload: nil, by: actor)
                .actions
        } catch let error as any DaemonError where error.kind != .conflict {
            return try await self.record(
                .failed(reason: "the planner model failed: \(error.message) [\(error.kind.rawValue)]"),
                id: record.id, payload: nil, by: actor
            ).actions
        }
        // The plan's checks can only lower the interpretation's confidence. Below the threshold,
        // no plan grounded in the request was found: the person is asked, as after interpreting.
        let combined = min(confidence, plan.confidence)
        let threshold = options.threshold ?? interpreter.settings.threshold
        var payload = WorkflowPayload.plan(plan, source: "planner", feedback: feedback)
        payload["confidence"] = .double(combined)
        payload["interpretationConfidence"] = .double(confidence)
        if combined < threshold && plan.checks.blocked {
            var questions = plan.checks.questions
            if questions.isEmpty { questions = ["What exactly should be done, with which files?"] }
            return try await self.record(
                .clarificationNeeded, id: record.id,
                payload: [
                    "confidence": .double(combined), "threshold": .double(threshold), "checks": plan.checks.json,
                    "questions": .array(questions.map { .string($0) }), "plan": payload,
                ], by: actor
            ).actions
        }
        // A plan the critic never passed always goes to a person, whatever its risk.
        // And one that must be approved by someone else is never approved by policy.
        let needsApproval =
            !plan.passed || options.requireDifferentApprover
            || settings.policy.needsApproval(risk: plan.effects.risk, confidence: combined)
        return try await self.record(
            .planned(planHash: plan.hash, needsApproval: needsApproval), id: record.id,
            payload: payload, by: actor
        ).actions
    }

    /// The plan the machine's hash names: the latest `planned` or `edited` payload.
    func currentPlan(_ entries: [WorkflowLog.Entry]) -> (steps: [Planner.Step], payload: JSONValue, attempt: Int)? {
        let plans = entries.filter { $0.event.name == "planned" || $0.event.name == "edited" }
        guard let latest = plans.last?.payload, let stepsJSON = latest["steps"],
            let steps = try? JSONDecoder().decode([Planner.Step].self, from: Data(JSONWriter.bytes(stepsJSON)))
        else { return nil }
        return (steps, latest, plans.count)
    }
}
