import GRDB
import Shared

/// Stored by its wire name (the `workflow.state` and `workflowEvent.stateAfter` columns).
extension WorkflowState: DatabaseValueConvertible {
    /// `(?, ?, …)`, one placeholder per state that has `property`, for `IN` clauses.
    static func placeholders(_ property: (WorkflowState) -> Bool) -> String {
        "(" + allCases.filter(property).map { _ in "?" }.joined(separator: ", ") + ")"
    }

    /// The terminal states as an SQL list literal, `('committed', …)`, from the enum's own names.
    /// Literal rather than bound on purpose: the partial index `workflowLive` (migration
    /// v4-workflow-engine) has this WHERE clause, and SQLite uses a partial index only when the
    /// query's WHERE repeats it; with bound parameters it cannot tell. The names are constants of
    /// this enum, never input.
    static var terminalList: String {
        "(" + allCases.filter(\.isTerminal).map { "'\($0.rawValue)'" }.joined(separator: ", ") + ")"
    }
}
