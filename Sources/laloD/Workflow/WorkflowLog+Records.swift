import Foundation
import GRDB
import Shared

/// The rows that sit beside the event log: committed examples, feedback; and the list query.
extension WorkflowLog {
    func saveExample(
        workflowId: String, uid: Int64, request: String, intent: JSONValue, plan: JSONValue, outcome: JSONValue,
        feedback: JSONValue
    ) async throws {
        try await store.writer.write { db in
            try db.execute(
                sql: """
                    INSERT OR REPLACE INTO workflowExample (workflowId, uid, request, intent, plan, outcome, feedback, createdAt)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    workflowId, uid, request, JSONWriter.string(intent), JSONWriter.string(plan),
                    JSONWriter.string(outcome), JSONWriter.string(feedback), Timestamp.now(),
                ])
        }
    }

    func committedWithoutExample() throws -> [String] {
        try store.writer.read { db in
            try String.fetchAll(
                db,
                sql: "SELECT id FROM workflow WHERE state = ? AND id NOT IN (SELECT workflowId FROM workflowExample)",
                arguments: [WorkflowState.committed])
        }
    }

    func example(_ workflowId: String) throws -> JSONValue? {
        try store.writer.read { db in
            guard
                let row = try GRDB.Row.fetchOne(
                    db, sql: "SELECT * FROM workflowExample WHERE workflowId = ?",
                    arguments: [workflowId])
            else { return nil }
            return [
                "request": .string(row["request"]), "intent": JSONParser.parseOrNull(row["intent"] as String),
                "plan": JSONParser.parseOrNull(row["plan"] as String),
                "outcome": JSONParser.parseOrNull(row["outcome"] as String),
                "feedback": JSONParser.parseOrNull(row["feedback"] as String), "createdAt": .string(row["createdAt"]),
            ]
        }
    }

    func addFeedback(_ params: WorkflowFeedback.Params, state: WorkflowState, by actor: AuditActor) async throws
        -> Int64
    {
        try await store.writer.write { db in
            try db.execute(
                sql: """
                    INSERT INTO workflowFeedback (workflowId, state, uid, user, thumbs, rating, category, comment, createdAt)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    params.id, state, actor.uid, actor.user, params.thumbs, params.rating, params.category,
                    params.comment, Timestamp.now(),
                ])
            return db.lastInsertedRowID
        }
    }

    func feedback(_ workflowId: String) throws -> [JSONValue] {
        try store.writer.read { db in
            try GRDB.Row.fetchAll(
                db, sql: "SELECT * FROM workflowFeedback WHERE workflowId = ? ORDER BY id",
                arguments: [workflowId]
            ).map { row in
                var object: [String: JSONValue] = [
                    "id": .int(row["id"]), "state": .string(row["state"]), "user": .string(row["user"]),
                    "createdAt": .string(row["createdAt"]),
                ]
                if let thumbs: String = row["thumbs"] { object["thumbs"] = .string(thumbs) }
                if let rating: Int64 = row["rating"] { object["rating"] = .int(rating) }
                if let category: String = row["category"] { object["category"] = .string(category) }
                if let comment: String = row["comment"] { object["comment"] = .string(comment) }
                return .object(object)
            }
        }
    }

    /// Newest first. `uid` nil: everyone's. `state` may be `live` or `waiting`.
    func list(uid: Int64?, user: String?, state: String?, before: (String, String)?, limit: Int) throws -> [Record] {
        var filter = SQLFilter()
        filter.add("uid = ?", ifPresent: uid)
        filter.add("user = ?", ifPresent: user)
        switch state {
        case nil: break
        // A literal list, so SQLite can use the partial index workflowLive.
        case "live": filter.add("state NOT IN \(WorkflowState.terminalList)")
        case "waiting":
            filter.add(
                "state IN \(WorkflowState.placeholders(\.isWaiting))", WorkflowState.allCases.filter(\.isWaiting))
        case let state?: filter.add("state = ?", [state])
        }
        if let (createdAt, id) = before {
            filter.add("(createdAt < ? OR (createdAt = ? AND id < ?))", [createdAt, createdAt, id])
        }
        return try store.writer.read { db in
            try Record.fetchAll(
                db, sql: "SELECT * FROM workflow \(filter.clause) ORDER BY createdAt DESC, id DESC LIMIT ?",
                arguments: filter.arguments(then: [limit]))
        }
    }
}

extension WorkflowLog.Record {
    var info: WorkflowInfo {
        let summary = decodedSummary
        return WorkflowInfo(
            id: id, user: user, uid: uid, request: request, state: state, lastSeq: lastSeq, createdAt: createdAt,
            updatedAt: updatedAt, confidence: summary.confidence, planHash: summary.planHash,
            questions: summary.questions, failure: state == .failed ? summary.failure : nil)
    }
}

extension WorkflowLog.Entry {
    func info(workflowId: String) -> WorkflowEventInfo {
        WorkflowEventInfo(
            workflowId: workflowId, seq: seq, time: Timestamp.format(microsecondsSinceEpoch: timeMicros),
            name: event.name, state: stateAfter, user: user, payload: payload)
    }
}
