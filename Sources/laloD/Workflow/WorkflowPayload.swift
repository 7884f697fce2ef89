import Foundation
import Shared

/// What the engine's events carry on the wire (`workflow.get`, `workflow.event`): the payloads
/// of `planned`/`edited`, `executed`/`executionRolledBack` and the review's diff, built in one
/// place so the engine and the handlers agree on them (docs/workflows.md#the-event-log).
enum WorkflowPayload {
    static func plan(_ plan: Planner.Plan, source: String, feedback: String?) -> JSONValue {
        var object: [String: JSONValue] = [
            "source": .string(source), "hash": .string(plan.hash), "steps": .array(plan.steps.map(Planner.json)),
            "passed": .bool(plan.passed), "modelCalls": .int(Int64(plan.modelCalls)), "effects": effects(plan.effects),
            "checks": plan.checks.json, "planConfidence": .double(plan.confidence),
            "style": .string(plan.style.rawValue),
            "rounds": .array(
                plan.rounds.map { round in
                    [
                        "steps": .array(round.steps.map(Planner.json)), "score": .double(round.score),
                        "objections": .array(round.objections.map { .string($0) }),
                        "confidence": .double(round.confidence),
                    ]
                }),
        ]
        if let feedback { object["feedback"] = .string(feedback) }
        return .object(object)
    }

    static func effects(_ effects: Planner.Effects) -> JSONValue {
        [
            "paths": .array(effects.paths.map { .string($0) }), "hosts": .array(effects.hosts.map { .string($0) }),
            "secrets": .array(effects.secrets.map { .string($0) }), "risk": .string(effects.risk.rawValue),
        ]
    }

    static func report(_ report: Executor.Report, attempt: Int) -> [String: JSONValue] {
        var object: [String: JSONValue] = [
            "attempt": .int(Int64(attempt)), "succeeded": .bool(report.succeeded),
            "undone": .array(report.undone.map { .string($0) }),
            "steps": .array(
                report.steps.map { step in
                    var json: [String: JSONValue] = [
                        "index": .int(Int64(step.index)), "tool": .string(step.tool),
                        "replayed": .bool(step.replayed),
                    ]
                    if let execution = step.execution {
                        json["executionId"] = .int(execution.id)
                        json["status"] = .string(execution.status)
                        json["result"] = execution.result ?? .null
                        json["durationMicros"] = execution.durationMicros.map(JSONValue.int) ?? .null
                    }
                    if let error = step.error { json["error"] = .string(error) }
                    return .object(json)
                }),
        ]
        if let failure = report.failure { object["failure"] = .string(failure) }
        if let interrupted = report.interrupted { object["interrupted"] = .string(interrupted) }
        return object
    }

    /// The review's diff, with text diffs up to 1 MiB in all (every change is still listed).
    static func diff(_ changes: [Stage.Change], textBudget: Int = 1 << 20) -> [JSONValue] {
        var budget = textBudget
        return changes.map { change in
            var json = change.json
            if case .object(var object) = json, let text = object["diff"]?.stringValue {
                if text.utf8.count > budget {
                    object["diff"] = nil
                    object["reason"] = "the review's text diffs passed 1 MiB; this one is left out"
                } else {
                    budget -= text.utf8.count
                }
                json = .object(object)
            }
            return json
        }
    }
}
