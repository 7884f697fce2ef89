import GRDB
import Shared

/// Token usage as `model.usage` reports it: the rows ``ModelRouter`` records for every call,
/// summed by day, user, provider and model.
extension ModelRouter {
    /// `uid` nil: every user's. Days are `YYYY-MM-DD` (UTC), `until` inclusive.
    func usage(uid: Int64?, since: String?, until: String?) throws -> [ModelUsage.Row] {
        var conditions: [String] = []
        var arguments: StatementArguments = []
        if let uid {
            conditions.append("uid = ?")
            _ = arguments.append(contentsOf: [uid])
        }
        if let since {
            conditions.append("day >= ?")
            _ = arguments.append(contentsOf: [since])
        }
        if let until {
            conditions.append("day <= ?")
            _ = arguments.append(contentsOf: [until])
        }
        let whereClause = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        let rows = try store.writer.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT day, user, uid, provider, model, count(*) AS calls, sum(promptTokens) AS prompt,
                           sum(completionTokens) AS completion
                    FROM modelUsage \(whereClause)
                    GROUP BY day, uid, provider, model ORDER BY day, user, provider, model
                    """, arguments: arguments)
        }
        return rows.map { row in
            ModelUsage.Row(
                day: row["day"], user: row["user"], uid: row["uid"], provider: row["provider"], model: row["model"],
                calls: row["calls"], promptTokens: row["prompt"], completionTokens: row["completion"])
        }
    }
}
