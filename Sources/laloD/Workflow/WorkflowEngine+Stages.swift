import Foundation
import Logging
import Shared

/// Which of a workflow's stages (``WorkflowStages``) to apply, keep or discard, and after a
/// crash, how to finish or drop what was left.
extension WorkflowEngine {
    var stages: WorkflowStages { WorkflowStages(root: settings.stagesRoot, workspaceRoot: settings.workspaceRoot) }

    func stage(for id: String, attempt: Int) throws -> Stage { try stages.stage(id, attempt: attempt) }

    /// Commits the stage of the workflow's latest attempt to its workspace.
    func applyStage(_ id: String, approvedBy actor: AuditActor) async throws -> Stage.Applied? {
        let attempt = try attemptOf(id)
        // Nothing staged, nothing to apply (and no workspace to open).
        guard Stage.exists(stages.directory(id, attempt: attempt)) else { return nil }
        do {
            return try stages.apply(id, attempt: attempt, to: try workspace(for: id), approvedBy: actor)
        } catch {
            logger.error("could not apply a stage", metadata: ["lalo.workflow": "\(id)", "lalo.error": "\(error)"])
            throw WorkflowError(
                .unavailable,
                "the accepted changes could not be applied, so the workspace is unchanged and the workflow still awaits review; laloD's log says why"
            )
        }
    }

    /// The workflow's current execution attempt (the number of plans it had).
    func attemptOf(_ id: String) throws -> Int {
        currentPlan(try log.entries(id))?.attempt ?? 0
    }

    /// Discards every stage of a workflow; what they changed, one line each.
    func discardStages(_ id: String) throws -> [String] {
        try stages.discard(id, over: try workspace(for: id))
    }

    /// At start: stages a crash left behind. An accepted one whose acceptance was not recorded
    /// is applied (again: applying is idempotent) and recorded; those of workflows that ended
    /// otherwise are discarded, and those of committed ones (applied before the commit was
    /// recorded) removed.
    func reconcileStages() async throws {
        stages.removeLeftoverTrees()
        for id in stages.workflowIds {
            // One stage that cannot be handled (a disk error, a tree sandboxed code made hostile)
            // is logged and left; it must not keep laloD from starting.
            do {
                try await reconcileStage(id)
            } catch {
                logger.error(
                    "could not reconcile a stage", metadata: ["lalo.workflow": "\(id)", "lalo.error": "\(error)"])
            }
        }
    }

    func reconcileStage(_ id: String) async throws {
        guard let record = try? log.record(id) else {
            stages.remove(id)
            return
        }
        let machine = try log.machine(id)
        if machine.state == .awaitingReview, let (_, _, attempt) = currentPlan(try log.entries(id)),
            let approval = stages.approval(id, attempt: attempt)
        {
            let actor = AuditActor(
                uid: approval.uid ?? record.uid, user: approval.user ?? record.user, pid: 0, sessionId: 0)
            _ = try await decide(id, event: .approved(planHash: nil), by: actor)
            logger.info("finished a commit interrupted by a crash", metadata: ["lalo.workflow": "\(id)"])
        } else if !record.state.isTerminal {
            // A live workflow keeps only its current attempt's stage; earlier attempts' were
            // discarded after their failure was recorded, unless laloD stopped in between.
            stages.keepOnly(id, attempt: try attemptOf(id))
        } else {
            let undone = try discardStages(id)
            if !undone.isEmpty {
                logger.info(
                    "discarded the staged changes of an ended workflow",
                    metadata: ["lalo.workflow": "\(id)", "lalo.undone": "\(undone)"])
            }
        }
    }
}
