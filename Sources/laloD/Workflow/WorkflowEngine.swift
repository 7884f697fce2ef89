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
    private let logger: Logger

    /// What runs for each workflow in this process.
    private struct Runtime {
        var driver: Task<Void, Never>?
        var generation = 0
        /// Pause or cancel asked the running execution to stop at the next step.
        var stopRequested = false
        /// A plan being drafted for an intent whose confidence is not known yet.
        var speculative: (intent: Interpreter.Intent, task: Task<Planner.Plan, any Error>)?
    }

    private let runtime = Mutex<[String: Runtime]>([:])
    /// Workflows whose accepted result is being applied.
    private let committing = Mutex<Set<String>>([])
    private let shuttingDown = Atomic<Bool>(false)

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
                throw RPCError.conflict("the result is being committed by another decision")
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
            try? FileManager.default.removeItem(atPath: "\(settings.stagesRoot)/\(id)/\(try attemptOf(id))/approved")
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
    private func rollBackCancelled(_ id: String) async throws {
        let undone = try discardStages(id)
        logger.info("cancelled workflow rolled back", metadata: ["lalo.workflow": "\(id)", "lalo.undone": "\(undone)"])
    }

    /// Appends `event` and tells subscribers.
    private func record(_ event: WorkflowEvent, id: String, payload: JSONValue?, by actor: AuditActor) async throws
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

    // MARK: Driving

    private func launch(_ id: String, _ actions: [WorkflowAction]) {
        guard !shuttingDown.load(ordering: .sequentiallyConsistent) else { return }
        runtime.withLock { all in
            var entry = all[id] ?? Runtime()
            let previous = entry.driver
            entry.generation += 1
            let generation = entry.generation
            // A driver that is finishing a step after a pause runs to its end before the next starts.
            entry.driver = Task {
                await previous?.value
                self.runtime.withLock { all in
                    if all[id]?.generation == generation { all[id]?.stopRequested = false }
                }
                await self.run(id, actions)
                self.runtime.withLock { all in
                    if all[id]?.generation == generation {
                        all[id]?.driver = nil
                        if all[id]?.speculative == nil { all.removeValue(forKey: id) }
                    }
                }
            }
            all[id] = entry
        }
    }

    /// Asks the running step to stop: model calls are cancelled at once; an execution runs in a
    /// task of its own that cancellation does not reach and stops at the next step boundary (and
    /// is rolled back when the workflow was cancelled).
    private func stop(_ id: String) {
        let (driver, speculative) = runtime.withLock { all -> (Task<Void, Never>?, Task<Planner.Plan, any Error>?) in
            guard var entry = all[id] else { return (nil, nil) }
            entry.stopRequested = true
            let speculative = entry.speculative?.task
            entry.speculative = nil
            all[id] = entry
            return (entry.driver, speculative)
        }
        speculative?.cancel()
        driver?.cancel()
    }

    private func run(_ id: String, _ initial: [WorkflowAction]) async {
        var pending = initial
        while !pending.isEmpty {
            let action = pending.removeFirst()
            if Task.isCancelled { return }
            do {
                pending += try await perform(action, id: id)
            } catch is CancellationError {
                return
            } catch let error as RPCError where error.kind == .conflict {
                // Someone paused or cancelled the workflow while the step ran: its result is moot.
                logger.debug(
                    "workflow step outdated", metadata: ["lalo.workflow": "\(id)", "lalo.reason": "\(error.message)"])
                return
            } catch {
                if Task.isCancelled { return }
                logger.error("workflow step failed", metadata: ["lalo.workflow": "\(id)", "lalo.error": "\(error)"])
                guard let record = try? log.record(id) else { return }
                _ = try? await self.record(
                    .failed(reason: "internal error: \(error)"), id: id, payload: nil, by: Self.actor(record))
                return
            }
        }
    }

    /// The requester, as whom the engine's own steps are recorded and run.
    static func actor(_ record: WorkflowLog.Record) -> AuditActor {
        AuditActor(uid: record.uid, user: record.user, pid: 0, sessionId: 0)
    }

    private func perform(_ action: WorkflowAction, id: String) async throws -> [WorkflowAction] {
        switch action {
        case .askClarification, .requestApproval, .presentReview, .stopWork:
            return []  // waiting for a person: nothing to do, nothing to read
        default:
            break
        }
        // One read for the record and its log; the machine is the log replayed.
        guard let (record, entries) = try log.snapshot(id) else { return [] }
        let machine = try WorkflowMachine.replay(entries.map(\.event))
        // The log decides: an action whose state has passed (paused or cancelled meanwhile) is dropped.
        switch action {
        case .interpret where machine.state != .interpreting, .plan where machine.state != .planning,
            .execute where machine.state != .executing, .rollback where !machine.rollbackPending,
            .commit where machine.state != .committed:
            return []
        default:
            break
        }
        switch action {
        case .interpret: return try await interpret(record, entries)
        case .plan(let revision): return try await plan(record, entries, revision: revision)
        case .execute: return try await execute(record, entries)
        case .rollback: return try await rollBackReview(record, entries)
        case .commit: return try await commit(record, entries)
        case .resume:
            return Self.pendingActions(machine)
        case .askClarification, .requestApproval, .presentReview, .stopWork:
            return []
        }
    }

    // MARK: Interpret

    private func interpret(_ record: WorkflowLog.Record, _ entries: [WorkflowLog.Entry]) async throws
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
        } catch let error as RPCError where error.kind != .conflict {
            // The model router reports a provider that is down, slow or refusing as an RPCError.
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

    private func speculate(_ record: WorkflowLog.Record, intent: Interpreter.Intent, answers: [String]) {
        let options = record.decodedOptions
        let workspace = workspaceFiles(record.id)
        let task = Task { [planner] in
            try await planner.plan(
                intent: intent, request: record.request, answers: answers, allowed: options.tools,
                workspace: workspace, actor: Self.actor(record), workflowId: record.id)
        }
        runtime.withLock { $0[record.id, default: Runtime()].speculative = (intent, task) }
    }

    private func cancelSpeculation(_ id: String) {
        let task = runtime.withLock { all -> Task<Planner.Plan, any Error>? in
            defer { all[id]?.speculative = nil }
            return all[id]?.speculative?.task
        }
        task?.cancel()
    }

    // MARK: Plan

    /// The embedded server answers one request at a time and reuses the previous prompt's
    /// prefix: planning beside the judge there saves no time and costs both their prompt caches.
    private var judgeAndPlannerShareTheLocalModel: Bool {
        let configuration = interpreter.models.configuration
        let local = Configuration.LocalModelConfiguration.providerName
        return configuration.binding(for: .judge).provider == local
            && configuration.binding(for: .planner).provider == local
    }

    /// What people said when they rejected a plan or a result, in order.
    private func rejectionReasons(_ entries: [WorkflowLog.Entry]) -> [String] {
        entries.compactMap { entry in
            if case .rejected = entry.event { return entry.payload?["reason"]?.stringValue } else { return nil }
        }
    }

    /// The answers to every clarification so far, in order.
    private func answers(_ entries: [WorkflowLog.Entry]) -> [String] {
        entries.compactMap { $0.event == .clarified ? $0.payload?["answers"]?.arrayValue : nil }.flatMap {
            $0.compactMap(\.stringValue)
        }
    }

    /// The files in a workflow's workspace (for the plan's checks: reading one needs no name in
    /// the request). Top level and one level down, at most a few hundred names.
    private func workspaceFiles(_ id: String) -> Set<String> {
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
    private func currentIntent(_ entries: [WorkflowLog.Entry]) -> (Interpreter.Intent, Double)? {
        guard let payload = entries.last(where: { $0.event.name == "interpreted" })?.payload,
            let intentJSON = payload["intent"],
            let intent = try? JSONDecoder().decode(Interpreter.Intent.self, from: Data(JSONWriter.bytes(intentJSON)))
        else { return nil }
        return (intent, payload["confidence"]?.numberValue ?? 0)
    }

    /// What the planner should hear on a re-plan: the rejection reason or the failed execution.
    private func replanFeedback(_ entries: [WorkflowLog.Entry]) -> String? {
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

    private func plan(_ record: WorkflowLog.Record, _ entries: [WorkflowLog.Entry], revision: Bool) async throws
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
        } catch let error as RPCError where error.kind != .conflict {
            return try await self.record(
                .failed(reason: "the planner model failed: \(error.message) [\(error.kind.rawValue)]"),
                id: record.id, payload: nil, by: actor
            ).actions
        }
        // The plan's checks can only lower the interpretation's confidence. Below the threshold,
        // no plan grounded in the request was found: the person is asked, as after interpreting.
        let combined = min(confidence, plan.confidence)
        let threshold = options.threshold ?? interpreter.settings.threshold
        var payload = Self.json(plan, source: "planner", feedback: feedback)
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

    static func json(_ plan: Planner.Plan, source: String, feedback: String?) -> JSONValue {
        var object: [String: JSONValue] = [
            "source": .string(source), "hash": .string(plan.hash), "steps": .array(plan.steps.map(Planner.json)),
            "passed": .bool(plan.passed), "modelCalls": .int(Int64(plan.modelCalls)), "effects": json(plan.effects),
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

    static func json(_ effects: Planner.Effects) -> JSONValue {
        [
            "paths": .array(effects.paths.map { .string($0) }), "hosts": .array(effects.hosts.map { .string($0) }),
            "secrets": .array(effects.secrets.map { .string($0) }), "risk": .string(effects.risk.rawValue),
        ]
    }

    /// The plan the machine's hash names: the latest `planned` or `edited` payload.
    func currentPlan(_ entries: [WorkflowLog.Entry]) -> (steps: [Planner.Step], payload: JSONValue, attempt: Int)? {
        let plans = entries.filter { $0.event.name == "planned" || $0.event.name == "edited" }
        guard let latest = plans.last?.payload, let stepsJSON = latest["steps"],
            let steps = try? JSONDecoder().decode([Planner.Step].self, from: Data(JSONWriter.bytes(stepsJSON)))
        else { return nil }
        return (steps, latest, plans.count)
    }

    // MARK: Execute

    func workspace(for id: String) throws -> Workspace {
        try Workspace(root: settings.workspaceRoot + "/" + id)
    }

    private func execute(_ record: WorkflowLog.Record, _ entries: [WorkflowLog.Entry]) async throws -> [WorkflowAction]
    {
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
        var payload = Self.reportJSON(report, attempt: attempt)
        do {
            if report.succeeded || report.interrupted != nil {
                payload["diff"] = JSONValue.array(Self.capped(try stage.changes(over: workspace)))
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
        } catch let error as RPCError where error.kind == .conflict && cancelled() {
            try await rollBackCancelled(id)
            return []
        }
    }

    private func progress(_ id: String, uid: Int64, user: String, attempt: Int, outcome: Executor.StepOutcome) {
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

    static func reportJSON(_ report: Executor.Report, attempt: Int) -> [String: JSONValue] {
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

    // MARK: Stages

    func stage(for id: String, attempt: Int) throws -> Stage {
        try Stage(directory: "\(settings.stagesRoot)/\(id)/\(attempt)")
    }

    /// Commits the stage of the workflow's latest attempt to its workspace. A mark in the stage
    /// records who accepted it first, so a start after a crash between the two can finish.
    private func applyStage(_ id: String, approvedBy actor: AuditActor) async throws -> Stage.Applied? {
        let directory = "\(settings.stagesRoot)/\(id)/\(try attemptOf(id))"
        guard Stage.exists(directory) else { return nil }
        let mark = JSONWriter.bytes(["uid": .int(Int64(actor.uid)), "user": .string(actor.user)])
        // Durable before the swap: after a crash, the mark is what says the swapped workspace was
        // accepted rather than left over.
        guard Self.writeDurably(directory + "/approved", mark) else {
            logger.error("could not mark a stage approved", metadata: ["lalo.workflow": "\(id)"])
            throw RPCError(
                .unavailable,
                "the accepted changes could not be applied, so the workspace is unchanged and the workflow still awaits review; laloD's log says why"
            )
        }
        do {
            return try Stage(directory: directory).apply(to: try workspace(for: id))
        } catch {
            try? FileManager.default.removeItem(atPath: directory + "/approved")
            logger.error("could not apply a stage", metadata: ["lalo.workflow": "\(id)", "lalo.error": "\(error)"])
            throw RPCError(
                .unavailable,
                "the accepted changes could not be applied, so the workspace is unchanged and the workflow still awaits review; laloD's log says why"
            )
        }
    }

    private static func writeDurably(_ path: String, _ bytes: [UInt8]) -> Bool {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return false }
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        let synced = fsync(fd) == 0
        close(fd)
        let directory = open((path as NSString).deletingLastPathComponent, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directory >= 0 {
            fsync(directory)
            close(directory)
        }
        return written == bytes.count && synced
    }

    /// The review's diff, with text diffs up to 1 MiB in all (every change is still listed).
    static func capped(_ changes: [Stage.Change], textBudget: Int = 1 << 20) -> [JSONValue] {
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

    /// The workflow's current execution attempt (the number of plans it had).
    private func attemptOf(_ id: String) throws -> Int {
        currentPlan(try log.entries(id))?.attempt ?? 0
    }

    /// Discards every stage of a workflow; what they changed, one line each.
    private func discardStages(_ id: String) throws -> [String] {
        let root = "\(settings.stagesRoot)/\(id)"
        let attempts = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        var undone: [String] = []
        let workspace = try self.workspace(for: id)
        for attempt in attempts.sorted() where Stage.exists(root + "/" + attempt) {
            undone += Stage.undoneLines((try? Stage(directory: root + "/" + attempt).changes(over: workspace)) ?? [])
        }
        guard FileTree.remove(path: root) else { throw FileTree.Failure(path: root, code: errno) }
        return undone
    }

    /// At start: stages a crash left behind. An accepted one whose acceptance was not recorded
    /// is applied (again: applying is idempotent) and recorded; those of workflows that ended
    /// otherwise are discarded, and those of committed ones (applied before the commit was
    /// recorded) removed.
    private func reconcileStages() async throws {
        // Trees a commit built or swapped out when laloD stopped in the middle of it.
        for name in (try? FileManager.default.contentsOfDirectory(atPath: settings.workspaceRoot)) ?? []
        where Stage.isLeftover(name) {
            FileTree.remove(path: settings.workspaceRoot + "/" + name)
        }
        let ids = (try? FileManager.default.contentsOfDirectory(atPath: settings.stagesRoot)) ?? []
        for id in ids {
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

    private func reconcileStage(_ id: String) async throws {
        guard let record = try? log.record(id) else {
            FileTree.remove(path: "\(settings.stagesRoot)/\(id)")
            return
        }
        let machine = try log.machine(id)
        if machine.state == .awaitingReview, let (_, _, attempt) = currentPlan(try log.entries(id)),
            let mark = FileManager.default.contents(atPath: "\(settings.stagesRoot)/\(id)/\(attempt)/approved"),
            let json = try? JSONParser.parse(Array(mark))
        {
            let actor = AuditActor(
                uid: Int64(json["uid"]?.numberValue ?? Double(record.uid)),
                user: json["user"]?.stringValue ?? record.user, pid: 0, sessionId: 0)
            _ = try await decide(id, event: .approved(planHash: nil), by: actor)
            logger.info("finished a commit interrupted by a crash", metadata: ["lalo.workflow": "\(id)"])
        } else if !record.state.isTerminal {
            // A live workflow keeps only its current attempt's stage; earlier attempts' were
            // discarded after their failure was recorded, unless laloD stopped in between.
            let current = String(try attemptOf(id))
            for attempt in (try? FileManager.default.contentsOfDirectory(atPath: "\(settings.stagesRoot)/\(id)")) ?? []
            where attempt != current {
                FileTree.remove(path: "\(settings.stagesRoot)/\(id)/\(attempt)")
            }
        } else {
            let undone = try discardStages(id)
            if !undone.isEmpty {
                logger.info(
                    "discarded the staged changes of an ended workflow",
                    metadata: ["lalo.workflow": "\(id)", "lalo.undone": "\(undone)"])
            }
        }
    }

    // MARK: Review

    private func rollBackReview(_ record: WorkflowLog.Record, _ entries: [WorkflowLog.Entry]) async throws
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
    private func commit(_ record: WorkflowLog.Record, _ entries: [WorkflowLog.Entry]) async throws -> [WorkflowAction] {
        let intent = entries.last { $0.event.name == "interpreted" }?.payload?["intent"] ?? .null
        let plan = currentPlan(entries)?.payload ?? .null
        let outcome = entries.last { $0.event == .executed }?.payload ?? .null
        // The stage was applied before the acceptance was recorded (see `decide`).
        FileTree.remove(path: "\(settings.stagesRoot)/\(record.id)")
        try await log.saveExample(
            workflowId: record.id, uid: record.uid, request: record.request, intent: intent, plan: plan,
            outcome: outcome, feedback: .array(try log.feedback(record.id)))
        return []
    }
}
