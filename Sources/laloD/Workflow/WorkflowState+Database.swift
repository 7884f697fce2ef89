import GRDB
import Shared

/// Stored by its wire name (the `workflow.state` and `workflowEvent.stateAfter` columns).
extension WorkflowState: DatabaseValueConvertible {
    /// `(?, ?, …)`, one placeholder per state that has `property`, for `IN` clauses.
    static func placeholders(_ property: (WorkflowState) -> Bool) -> String {
        "(" + allCases.filter(property).map { _ in "?" }.joined(separator: ", ") + ")"
    }

    /// The states that have `property`, as the arguments of ``placeholders(_:)``.
    static func arguments(_ property: (WorkflowState) -> Bool) -> StatementArguments {
        StatementArguments(allCases.filter(property))
    }
}
