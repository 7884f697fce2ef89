import Shared

/// What happened to a workflow: a step's outcome, or a person's decision. Every event is
/// appended to the workflow's log before its effects run; replaying the log gives the state.
enum WorkflowEvent: Sendable, Equatable {
    /// The interpretation finished; `confident` says whether it cleared the threshold.
    case interpreted(confident: Bool)
    /// The clarification questions were answered.
    case clarified
    /// No plan grounded in the request could be made (laloD's checks): the person is asked.
    case clarificationNeeded
    /// A plan passed the critic (or the rounds ran out); `needsApproval` comes from policy.
    case planned(planHash: String, needsApproval: Bool)
    /// A person approved what they were shown: the plan (awaiting approval) or the result (in review).
    case approved(planHash: String?)
    /// A person rejected the plan or the result; `replan` asks for a new plan that sees the reason.
    case rejected(replan: Bool)
    /// A person replaced the plan (validated like a model's plan before this event is recorded).
    case edited(planHash: String)
    /// Every step ran and verified.
    case executed
    /// A step failed or failed verification and the completed steps were rolled back.
    case executionRolledBack(replan: Bool)
    /// The rollback is done after a rejected review.
    case rolledBack(replan: Bool)
    /// A step could not go on (invalid model output beyond the retries, an internal error).
    case failed(reason: String)
    case cancelled
    case paused
    case resumed

    /// The event's name in the log and in conflict messages.
    var name: String {
        switch self {
        case .interpreted: return "interpreted"
        case .clarified: return "clarified"
        case .clarificationNeeded: return "clarificationNeeded"
        case .planned: return "planned"
        case .approved: return "approved"
        case .rejected: return "rejected"
        case .edited: return "edited"
        case .executed: return "executed"
        case .executionRolledBack: return "executionRolledBack"
        case .rolledBack: return "rolledBack"
        case .failed: return "failed"
        case .cancelled: return "cancelled"
        case .paused: return "paused"
        case .resumed: return "resumed"
        }
    }
}

/// What the engine must do after an event was recorded. The machine only decides; the engine
/// performs these, and their outcomes come back as new events.
enum WorkflowAction: Sendable, Equatable {
    case interpret
    case askClarification
    /// Plan (again): after a rejection or a rolled-back execution the planner sees why.
    case plan(revision: Bool)
    case requestApproval
    case execute
    case presentReview
    case commit
    case rollback
    /// Stop whatever step is running (cancel, pause).
    case stopWork
    /// Run the step of the state the workflow resumed into.
    case resume(WorkflowState)
}

/// The workflow state machine of docs/workflows.md#steps-and-states as a value: events in, actions out, no I/O. A transition
/// that the table does not allow throws `conflict` and leaves the machine unchanged.
struct WorkflowMachine: Sendable, Equatable {
    private(set) var state: WorkflowState = .interpreting
    /// The state a paused workflow returns to.
    private(set) var pausedFrom: WorkflowState?
    /// The hash of the plan currently shown for approval (or executed); approvals must name it.
    private(set) var planHash: String?
    /// How many times the workflow went back to planning after a rejection or a rollback.
    private(set) var replans = 0
    /// A rejected review whose rollback has not reported back yet.
    private(set) var rollbackPending = false

    init() {}

    /// Applies one event. Throws `conflict` (and changes nothing) when the event is not valid in
    /// the current state.
    mutating func apply(_ event: WorkflowEvent) throws(WorkflowError) -> [WorkflowAction] {
        var next = self
        let actions = try next.transition(event)
        self = next
        return actions
    }

    /// Rebuilds the machine from a workflow's event log.
    static func replay(_ events: [WorkflowEvent]) throws(WorkflowError) -> WorkflowMachine {
        var machine = WorkflowMachine()
        for event in events { _ = try machine.apply(event) }
        return machine
    }

    private func conflict(_ event: WorkflowEvent, _ why: String? = nil) -> WorkflowError {
        WorkflowError.conflict(
            "a workflow in state \(state.rawValue) cannot take \(event.name)" + (why.map { ": \($0)" } ?? ""))
    }

    /// After a rejection or a rollback: back to planning (the planner sees why), or the end.
    private mutating func replanOrEnd(_ replan: Bool, ending: WorkflowState) -> [WorkflowAction] {
        guard replan else {
            state = ending
            return []
        }
        replans += 1
        state = .planning
        return [.plan(revision: true)]
    }

    private mutating func transition(_ event: WorkflowEvent) throws(WorkflowError) -> [WorkflowAction] {
        if state.isTerminal { throw conflict(event, "the workflow has ended") }
        switch (state, event) {
        // Any live state can be cancelled, failed or paused; only a paused one resumes.
        case (_, .cancelled):
            state = .cancelled
            pausedFrom = nil
            return [.stopWork]
        case (_, .failed):
            state = .failed
            pausedFrom = nil
            return [.stopWork]
        case (.paused, .paused):
            throw conflict(event, "already paused")
        case (_, .paused):
            pausedFrom = state
            state = .paused
            return [.stopWork]
        case (.paused, .resumed):
            let target = pausedFrom ?? .interpreting
            state = target
            pausedFrom = nil
            return [.resume(target)]
        case (.paused, _):
            throw conflict(event, "resume it first")

        case (.interpreting, .interpreted(let confident)):
            state = confident ? .planning : .awaitingClarification
            return confident ? [.plan(revision: false)] : [.askClarification]
        case (.awaitingClarification, .clarified):
            state = .interpreting
            return [.interpret]

        case (.planning, .clarificationNeeded):
            state = .awaitingClarification
            return [.askClarification]
        case (.planning, .planned(let hash, let needsApproval)):
            planHash = hash
            state = needsApproval ? .awaitingApproval : .executing
            return needsApproval ? [.requestApproval] : [.execute]

        case (.awaitingApproval, .approved(let hash)):
            guard let hash, hash == planHash else {
                throw conflict(
                    event, "the approval names plan \(hash ?? "none"), but the plan shown is \(planHash ?? "none")")
            }
            state = .executing
            return [.execute]
        case (.awaitingApproval, .rejected(let replan)):
            return replanOrEnd(replan, ending: .rejected)
        case (.awaitingApproval, .edited(let hash)):
            planHash = hash
            return [.requestApproval]

        case (.executing, .executed):
            state = .awaitingReview
            return [.presentReview]
        case (.executing, .executionRolledBack(let replan)):
            return replanOrEnd(replan, ending: .rolledBack)

        case (.awaitingReview, .approved(let hash)):
            guard !rollbackPending else { throw conflict(event, "the result was rejected and is being rolled back") }
            // The result shown is that of the plan executed; an approval naming another is stale.
            if let hash, hash != planHash {
                throw conflict(
                    event, "the approval names plan \(hash), but the result shown is of plan \(planHash ?? "none")")
            }
            state = .committed
            return [.commit]
        case (.awaitingReview, .rejected):
            guard !rollbackPending else { throw conflict(event, "already rejected; the rollback is running") }
            // The rollback runs first; its completion (`rolledBack`) decides what follows.
            rollbackPending = true
            return [.rollback]
        case (.awaitingReview, .rolledBack(let replan)):
            guard rollbackPending else { throw conflict(event, "nothing was rejected") }
            rollbackPending = false
            return replanOrEnd(replan, ending: .rolledBack)

        default:
            throw conflict(event)
        }
    }
}
