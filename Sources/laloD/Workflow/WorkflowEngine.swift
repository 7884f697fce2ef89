import Foundation
import Logging
import Shared
import Synchronization

/// Drives workflows through the five steps of docs/workflows.md.
///
/// The engine owns no state of its own that matters: every step's outcome is appended to the
/// workflow's event log (``WorkflowLog``) before anything acts on it, and what to do next is what
/// the state machine answers. So a restarted daemon calls ``resumeAll()`` and every live workflow
/// goes on from its last recorded event. One driver task runs a workflow's automatic steps
/// (interpret, plan, execute, roll back) until it waits for a person; people's decisions come in
/// through ``decide(_:event:payload:by:)``.
final class WorkflowEngine: Sendable {
    struct Settings: Sendable, Equatable {
        var policy = ApprovalPolicy()
        var requireDifferentApprover = false
        /// Start planning with the first interpretation while the judge is still scoring it.
        var speculativePlanning = true
        /// Automatic re-plans after a failed execution before the workflow ends rolled back.
        var maxAutomaticReplans = 2
        /// Where each workflow's workspace directory is created.
        var workspaceRoot: String
        /// Where each execution attempt's staged changes are kept until commit or rollback.
        var stagesRoot: String
    }

    let log: WorkflowLog
    let interpreter: Interpreter
    let planner: Planner
    let executor: Executor
    let tools: ToolRegistry
    let hub = WorkflowEventHub()
    let settings: Settings
    let logger: Logger

    /// What runs for each workflow in this process.
    struct Runtime {
        var driver: Task<Void, Never>?
        var generation = 0
        /// Pause or cancel asked the running execution to stop at the next step.
        var stopRequested = false
        /// A plan being drafted for an intent whose confidence is not known yet.
        var speculative: (intent: Interpreter.Intent, task: Task<Planner.Plan, any Error>)?
    }

    let runtime = Mutex<[String: Runtime]>([:])
    /// Workflows whose accepted result is being applied.
    let committing = Mutex<Set<String>>([])
    let shuttingDown = Atomic<Bool>(false)

    init(
        log: WorkflowLog, interpreter: Interpreter, planner: Planner, tools: ToolRegistry, settings: Settings,
        logger: Logger
    ) {
        self.log = log
        self.interpreter = interpreter
        self.planner = planner
        self.tools = tools
        executor = Executor(tools: tools)
        self.settings = settings
        self.logger = logger
    }

    /// The engine as the configuration's `[workflow]` section sets it up.
    static func make(
        configuration: Configuration, store: Store, models: ModelRouter, tools: ToolRegistry,
        logger: Logger
    ) -> WorkflowEngine {
        let w = configuration.workflow
        let interpreter = Interpreter(
            models: models,
            settings: Interpreter.Settings(
                samples: w.interpretationSamples, threshold: w.confidenceThreshold, judgeWeight: w.judgeWeight,
                judgeSamples: w.judgeSamples, checkWeight: w.checkWeight, cacheSeconds: w.interpretationCacheSeconds),
            store: w.interpretationCacheSeconds > 0 ? store : nil)
        let planner = Planner(
            models: models, tools: tools,
            settings: Planner.Settings(
                maxRounds: w.planRounds,
                passingScore: w.criticPassingScore,
                style: w.planningStyle,
                checkWeight: w.checkWeight))
        return WorkflowEngine(
            log: WorkflowLog(store: store), interpreter: interpreter, planner: planner, tools: tools,
            settings: Settings(
                policy: ApprovalPolicy(autoApproveReadOnlyAbove: w.autoApproveReadOnlyAbove),
                requireDifferentApprover: w.requireDifferentApprover, speculativePlanning: w.speculativePlanning,
                maxAutomaticReplans: w.maxAutomaticReplans, workspaceRoot: configuration.workspaceRoot,
                stagesRoot: configuration.stagesDirectory),
            logger: logger)
    }

    // MARK: Starting and deciding

    /// Creates a workflow and starts interpreting it. `allowed` are the tools the planner may use.
    func start(request: String, options: WorkflowLog.Options, by actor: AuditActor) async throws -> WorkflowLog.Record {
        let record = try await log.create(request: request, options: options, by: actor)
        launch(record.id, [.interpret])
        return record
    }

    /// Records a person's decision (or pause, resume, cancel) and runs what follows. Throws
    /// `conflict` when the workflow's state does not allow it.
    @discardableResult
    func decide(_ id: String, event: WorkflowEvent, payload: JSONValue? = nil, by actor: AuditActor) async throws
        -> WorkflowLog.Record
    {
        let before = try log.machine(id)
        // Cancelling an execution or a result nobody accepted rolls back what ran; the cancel
        // event says so, so a restart can finish a rollback a crash interrupted.
        let from = before.state == .paused ? before.pausedFrom : before.state
        let rollback = event == .cancelled && (from == .executing || from == .awaitingReview)
        var payload = payload
        if rollback {
            var object = payload?.objectValue ?? [:]
            object["rollback"] = true
            payload = .object(object)
        }
        // An accepted result is applied to the workspace before the acceptance is recorded: a
        // failure to apply leaves the workflow awaiting review, and a crash in between is
        // finished at the next start (the stage's approval mark says a person accepted it).
        var applied: Stage.Applied?
        var committing = false
        defer { if committing { _ = self.committing.withLock { $0.remove(id) } } }
        if before.state == .awaitingReview, case .approved = event {
            var probe = before
            _ = try probe.apply(event)
            // One acceptance at a time: two applying at once would swap each other's trees.
            guard self.committing.withLock({ $0.insert(id).inserted }) else {
                throw WorkflowError.conflict("the result is being committed by another decision")
            }
            committing = true
            applied = try await applyStage(id, approvedBy: actor)
        }
        let appended: WorkflowLog.Appended
        do {
            appended = try await record(event, id: id, payload: payload, by: actor)
            applied?.finish()
        } catch {
            // Someone else decided first (a rejection, a pause): the workspace goes back.
            try applied?.undo()
            if let attempt = try? attemptOf(id) { stages.dropApproval(id, attempt: attempt) }
            throw error
        }
        // A running execution rolls itself back when it stops (see `execute`); a paused one or a
        // result under review is rolled back here.
        if rollback, from == .awaitingReview || before.state == .paused {
            // A paused execution may still be finishing its step: let it end first.
            await runtime.withLock { $0[id]?.driver }?.value
            try await rollBackCancelled(id)
        }
        var follow: [WorkflowAction] = []
        for action in appended.actions {
            if case .stopWork = action { stop(id) } else { follow.append(action) }
        }
        if !follow.isEmpty { launch(id, follow) }
        return appended.record
    }

    /// Discards the staged changes of the workflow's current execution attempt after a cancel.
    func rollBackCancelled(_ id: String) async throws {
        let undone = try discardStages(id)
        logger.info("cancelled workflow rolled back", metadata: ["lalo.workflow": "\(id)", "lalo.undone": "\(undone)"])
    }

    /// Appends `event` and tells subscribers.
    func record(_ event: WorkflowEvent, id: String, payload: JSONValue?, by actor: AuditActor) async throws
        -> WorkflowLog.Appended
    {
        var payload = payload
        if case .failed(let reason) = event, payload == nil { payload = ["reason": .string(reason)] }
        let appended = try await log.append(event, to: id, payload: payload, by: actor)
        hub.publish(
            .init(
                info: WorkflowEventInfo(
                    workflowId: id, seq: appended.seq,
                    time: Timestamp.format(microsecondsSinceEpoch: appended.timeMicros), name: event.name,
                    state: appended.state, user: actor.user, payload: payload), uid: appended.record.uid))
        return appended
    }

    /// Picks up every workflow that had not ended when laloD stopped.
    func resumeAll() async throws -> Int {
        // A commit whose example was not stored yet (laloD stopped right after the approval).
        for id in try log.committedWithoutExample() {
            if let (record, entries) = try log.snapshot(id) { _ = try await commit(record, entries) }
        }
        try await reconcileStages()
        let live = try log.live()
        for record in live {
            let machine = try log.machine(record.id)
            let actions = Self.pendingActions(machine)
            if !actions.isEmpty { launch(record.id, actions) }
        }
        if !live.isEmpty { logger.info("resumed workflows", metadata: ["lalo.workflows": "\(live.count)"]) }
        return live.count
    }

    /// What a workflow in `machine`'s state still has to do without a person.
    static func pendingActions(_ machine: WorkflowMachine) -> [WorkflowAction] {
        switch machine.state {
        case .interpreting: return [.interpret]
        case .planning: return [.plan(revision: machine.replans > 0)]
        case .executing: return [.execute]
        case .awaitingReview where machine.rollbackPending: return [.rollback]
        default: return []
        }
    }

    /// Stops the drivers: model calls are cancelled (they run again after a restart); an
    /// execution finishes its current step first, so no tool call is cut off in the middle.
    func shutdown(grace: Duration = .seconds(10)) async {
        shuttingDown.store(true, ordering: .sequentiallyConsistent)
        hub.shutdown()
        let drivers = runtime.withLock { all in
            for id in all.keys {
                all[id]?.stopRequested = true
                all[id]?.driver?.cancel()
                all[id]?.speculative?.task.cancel()
            }
            return all.values.compactMap(\.driver)
        }
        _ = try? await withTimeout(grace) {
            for driver in drivers { await driver.value }
        }
    }
}
