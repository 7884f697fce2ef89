/// The workflow states of docs/workflows.md#steps-and-states. Raw values are the wire names; the
/// daemon, its event log and laloctl all use this one type.
public enum WorkflowState: String, Codable, Sendable, CaseIterable {
    case interpreting
    case awaitingClarification = "awaiting_clarification"
    case planning
    case awaitingApproval = "awaiting_approval"
    case executing
    case awaitingReview = "awaiting_review"
    case committed
    case rolledBack = "rolled_back"
    case rejected
    case failed
    case cancelled
    case paused

    /// A state the workflow never leaves.
    public var isTerminal: Bool {
        switch self {
        case .committed, .rolledBack, .rejected, .failed, .cancelled: return true
        default: return false
        }
    }

    /// A state in which the workflow waits for a person.
    public var isWaiting: Bool {
        switch self {
        case .awaitingClarification, .awaitingApproval, .awaitingReview, .paused: return true
        default: return false
        }
    }

    /// The wire names, in the order of the steps, for schemas.
    public static var wireNames: [String] { allCases.map(\.rawValue) }
}
