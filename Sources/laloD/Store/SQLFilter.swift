import GRDB

/// A WHERE clause assembled from optional filters (a list method's `tool`, `uid`, `since`, …).
/// Each condition is a fixed SQL fragment written in code and each value is a bound argument, so a
/// filter's value never becomes SQL text.
struct SQLFilter {
    private var conditions: [String] = []
    private(set) var arguments = StatementArguments()

    /// Adds `condition` (with one `?`) when `value` is present; a nil filter adds nothing.
    mutating func add(_ condition: String, ifPresent value: (any DatabaseValueConvertible)?) {
        guard let value else { return }
        add(condition, [value])
    }

    /// Adds `condition` with as many bound `values` as it has `?`s.
    mutating func add(_ condition: String, _ values: [any DatabaseValueConvertible] = []) {
        conditions.append(condition)
        arguments += StatementArguments(values)
    }

    /// `WHERE a AND b …`, or nothing when no filter was given.
    var clause: String { conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ") }

    /// The filter's arguments followed by `more` (a LIMIT, say).
    func arguments(then more: [any DatabaseValueConvertible]) -> StatementArguments {
        arguments + StatementArguments(more)
    }
}
