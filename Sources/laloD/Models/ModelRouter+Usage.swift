import GRDB
import Shared

/// Token usage as `model.usage` reports it: the rows ``ModelRouter`` records for every call,
/// summed by day, user, provider and model.
extension ModelRouter {
    /// `uid` nil: every user's. Days are `YYYY-MM-DD` (UTC), `until` inclusive.
    func usage(uid: Int64?, since: String?, until: String?) throws -> [ModelUsage.Row] {
        var filter = SQLFilter()
        filter.add("uid = ?", ifPresent: uid)
        filter.add("day >= ?", ifPresent: since)
        filter.add("day <= ?", ifPresent: until)
        let rows = try store.writer.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT day, user, uid, provider, model, count(*) AS calls, sum(promptTokens) AS prompt,
                           sum(completionTokens) AS completion
                    FROM modelUsage \(filter.clause)
                    GROUP BY day, uid, provider, model ORDER BY day, user, provider, model
                    """, arguments: filter.arguments)
        }
        return rows.map { row in
            ModelUsage.Row(
                day: row["day"], user: row["user"], uid: row["uid"], provider: row["provider"], model: row["model"],
                calls: row["calls"], promptTokens: row["prompt"], completionTokens: row["completion"])
        }
    }
}
