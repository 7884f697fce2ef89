import Foundation
import Logging
import Shared
import Synchronization

/// Step 5: a rejected result rolled back, an accepted one committed and kept as an example.
extension WorkflowEngine {
    func rollBackReview(_ record: WorkflowLog.Record, _ entries: [WorkflowLog.Entry]) async throws
        -> [WorkflowAction]
    {
        guard let (_, _, attempt) = currentPlan(entries) else { return [] }
        let undone = try discardStages(record.id)
        let rejection = entries.last { $0.event.name == "rejected" }
        let replan =
            rejection.map { entry -> Bool in
                if case .rejected(let replan) = entry.event { return replan } else { return false }
            } ?? false
        return try await self.record(
            .rolledBack(replan: replan), id: record.id,
            payload: ["undone": .array(undone.map { .string($0) }), "attempt": .int(Int64(attempt))],
            by: Self.actor(record)
        ).actions
    }

    /// The committed workflow becomes an example for later runs (docs/workflows.md#step-5-review-and-commit).
    func commit(_ record: WorkflowLog.Record, _ entries: [WorkflowLog.Entry]) async throws -> [WorkflowAction] {
        let intent = entries.last { $0.event.name == "interpreted" }?.payload?["intent"] ?? .null
        let plan = currentPlan(entries)?.payload ?? .null
        let outcome = entries.last { $0.event == .executed }?.payload ?? .null
        // The stage was applied before the acceptance was recorded (see `decide`).
        stages.remove(record.id)
        try await log.saveExample(
            workflowId: record.id, uid: record.uid, request: record.request, intent: intent, plan: plan,
            outcome: outcome, feedback: .array(try log.feedback(record.id)))
        return []
    }
}
