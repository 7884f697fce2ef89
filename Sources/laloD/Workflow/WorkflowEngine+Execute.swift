import Foundation
import Logging
import Shared
import Synchronization

/// Step 4: the plan's steps into a stage over the workspace, with progress events.
extension WorkflowEngine {
    func workspace(for id: String) throws -> Workspace {
        try Workspace(root: settings.workspaceRoot + "/" + id)
    }

    func execute(_ record: WorkflowLog.Record, _ entries: [WorkflowLog.Entry]) async throws -> [WorkflowAction] {
        let actor = Self.actor(record)
        guard let (steps, _, attempt) = currentPlan(entries) else {
            return try await self.record(.failed(reason: "no plan to execute"), id: record.id, payload: nil, by: actor)
                .actions
        }
        let workspace = try self.workspace(for: record.id)
        // Every change lands in the attempt's stage; a resumed attempt goes on with the same one.
        let stage = try self.stage(for: record.id, attempt: attempt)
        let options = record.decodedOptions
        let context = ToolContext(
            actor: actor, permissions: Set(options.permissions.map { Permission($0) }),
            workspace: try StagedWorkspace(lower: workspace, stage: stage),
            workflowId: record.id, step: nil, idempotencyKey: "")
        let id = record.id
        var hooks = Executor.Hooks()
        hooks.shouldStop = { self.runtime.withLock { $0[id]?.stopRequested ?? false } }
        let (uid, user) = (record.uid, record.user)
        hooks.progress = { outcome in self.progress(id, uid: uid, user: user, attempt: attempt, outcome: outcome) }
        let frozen = hooks
        // Not cancelled with the driver: a tool call is never cut off in the middle; pause,
        // cancel and shutdown stop the run between steps through `shouldStop`.
        let report = await Task { [executor] in
            await executor.run(steps, workflowId: id, attempt: attempt, context: context, hooks: frozen)
        }.value
        // Paused: it goes on from the next step on resume. Cancelled (now or while the last
        // step ran, so the result below is refused): undo what ran.
        func cancelled() -> Bool { (try? log.record(id))?.state == .cancelled }
        if report.stopped {
            if cancelled() { try await rollBackCancelled(id) }
            return []
        }
        var payload = WorkflowPayload.report(report, attempt: attempt)
        do {
            if report.succeeded || report.interrupted != nil {
                payload["diff"] = JSONValue.array(WorkflowPayload.diff(try stage.changes(over: workspace)))
                return try await self.record(.executed, id: id, payload: .object(payload), by: actor).actions
            }
            // Only re-plans after failed executions count against the limit, not those a person asked for.
            let automatic = entries.filter {
                if case .executionRolledBack(true) = $0.event { return true } else { return false }
            }.count
            let replan = automatic < settings.maxAutomaticReplans
            let actions = try await self.record(
                .executionRolledBack(replan: replan), id: id, payload: .object(payload), by: actor
            ).actions
            // Discarded once the failure is recorded: a crash before that resumes this attempt,
            // whose recorded steps are not run again and whose changes must still be there.
            try stage.discard()
            return actions
        } catch let error as any DaemonError where error.kind == .conflict && cancelled() {
            try await rollBackCancelled(id)
            return []
        }
    }

    func progress(_ id: String, uid: Int64, user: String, attempt: Int, outcome: Executor.StepOutcome) {
        var payload: [String: JSONValue] = [
            "step": .int(Int64(outcome.index)), "tool": .string(outcome.tool),
            "attempt": .int(Int64(attempt)),
        ]
        if let execution = outcome.execution {
            payload["status"] = .string(execution.status)
            payload["executionId"] = .int(execution.id)
            payload["replayed"] = .bool(outcome.replayed)
        } else {
            payload["status"] = .string(outcome.error == nil ? "started" : "failed")
        }
        if let error = outcome.error { payload["error"] = .string(error) }
        hub.publish(
            .init(
                info: WorkflowEventInfo(
                    workflowId: id, seq: 0, time: Timestamp.now(), name: "progress",
                    state: .executing, user: user, payload: .object(payload)),
                uid: uid))
    }
}
