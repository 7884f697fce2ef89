import Foundation
import GRDB
import Shared

/// Workflows and their append-only event logs in the store.
///
/// ``append(_:to:payload:by:)`` replays the log, applies the event to the state machine and, only
/// if the machine accepts it, writes the event and the new cached state in one transaction. So a
/// refused event leaves no trace, an accepted one is durable before any of its effects start, and
/// after a crash the log alone says where every workflow stands.
struct WorkflowLog: Sendable {
    let store: Store

    struct Record: Codable, FetchableRecord, PersistableRecord, Sendable, Equatable {
        static let databaseTableName = "workflow"
        var id: String
        var uid: Int64
        var user: String
        var request: String
        var state: WorkflowState
        var lastSeq: Int64
        var createdAt: String
        var updatedAt: String
        /// ``Options`` as JSON.
        var options: String = "{}"
        /// ``Summary`` as JSON.
        var summary: String = "{}"

        var decodedOptions: Options { Options(json: JSONParser.parseOrNull(options)) }
        var decodedSummary: Summary { Summary(json: JSONParser.parseOrNull(summary)) }

        init(
            id: String, uid: Int64, user: String, request: String, state: WorkflowState, lastSeq: Int64,
            createdAt: String,
            updatedAt: String, options: String = "{}", summary: String = "{}"
        ) {
            self.id = id
            self.uid = uid
            self.user = user
            self.request = request
            self.state = state
            self.lastSeq = lastSeq
            self.createdAt = createdAt
            self.updatedAt = updatedAt
            self.options = options
            self.summary = summary
        }

        /// By column, not through Codable: the append transaction reads one on every event.
        /// A state this build does not know (a newer laloD wrote it) is an error, so nothing acts
        /// on a guess: not the driver, not the stage clean-up after a restart.
        struct UnknownState: Error, CustomStringConvertible {
            var workflow: String
            var state: String
            var description: String { "workflow \(workflow) is in state \(state), which this laloD does not know" }
        }

        init(row: GRDB.Row) throws {
            id = row["id"]
            uid = row["uid"]
            user = row["user"]
            request = row["request"]
            let stored: String = row["state"]
            guard let known = WorkflowState(rawValue: stored) else { throw UnknownState(workflow: id, state: stored) }
            state = known
            lastSeq = row["lastSeq"]
            createdAt = row["createdAt"]
            updatedAt = row["updatedAt"]
            options = row["options"] ?? "{}"
            summary = row["summary"] ?? "{}"
        }
    }

    /// What a workflow was started with; kept so a restarted daemon drives it the same way.
    struct Options: Sendable, Equatable {
        var threshold: Double?
        /// The tools the planner may offer.
        var tools: [String] = []
        var requireDifferentApprover = false
        /// The requester's permissions at start: tool calls run with these.
        var permissions: [String] = []

        init(
            threshold: Double? = nil, tools: [String] = [], requireDifferentApprover: Bool = false,
            permissions: [String] = []
        ) {
            self.threshold = threshold
            self.tools = tools
            self.requireDifferentApprover = requireDifferentApprover
            self.permissions = permissions
        }

        init(json: JSONValue) {
            threshold = json["threshold"]?.numberValue
            tools = json["tools"]?.arrayValue?.compactMap(\.stringValue) ?? []
            requireDifferentApprover = json["requireDifferentApprover"]?.boolValue ?? false
            permissions = json["permissions"]?.arrayValue?.compactMap(\.stringValue) ?? []
        }

        var json: JSONValue {
            var object: [String: JSONValue] = [
                "tools": .array(tools.map { .string($0) }), "requireDifferentApprover": .bool(requireDifferentApprover),
                "permissions": .array(permissions.map { .string($0) }),
            ]
            if let threshold { object["threshold"] = .double(threshold) }
            return .object(object)
        }
    }

    /// The latest of what the log says, for lists.
    struct Summary: Sendable, Equatable {
        var confidence: Double?
        var planHash: String?
        var questions: [String]?
        var failure: String?

        init() {}

        init(json: JSONValue) {
            confidence = json["confidence"]?.numberValue
            planHash = json["planHash"]?.stringValue
            questions = json["questions"]?.arrayValue?.compactMap(\.stringValue)
            failure = json["failure"]?.stringValue
        }

        var json: JSONValue {
            var object: [String: JSONValue] = [:]
            if let confidence { object["confidence"] = .double(confidence) }
            if let planHash { object["planHash"] = .string(planHash) }
            if let questions { object["questions"] = .array(questions.map { .string($0) }) }
            if let failure { object["failure"] = .string(failure) }
            return .object(object)
        }
    }

    struct Entry: Sendable, Equatable {
        var seq: Int64
        var timeMicros: Int64
        var event: WorkflowEvent
        var payload: JSONValue?
        var stateAfter: WorkflowState
        var user: String
    }

    struct Appended: Sendable, Equatable {
        var seq: Int64
        var state: WorkflowState
        var actions: [WorkflowAction]
        var timeMicros: Int64
        /// The workflow as it is after the event.
        var record: Record
    }

    static func newID() -> String {
        "wf_" + secureRandomBytes(8).hexString
    }

    /// Creates a workflow in `interpreting`; the caller then runs the interpretation.
    func create(request: String, options: Options = Options(), by actor: AuditActor) async throws -> Record {
        let now = Timestamp.now()
        let record = Record(
            id: Self.newID(), uid: actor.uid, user: actor.user, request: request,
            state: .interpreting, lastSeq: 0, createdAt: now, updatedAt: now,
            options: JSONWriter.string(options.json))
        try await store.combined.write { db in try record.insert(db) }
        return record
    }

    /// Records `event` if the workflow's state machine accepts it; returns the actions to run.
    func append(_ event: WorkflowEvent, to id: String, payload: JSONValue? = nil, by actor: AuditActor) async throws
        -> Appended
    {
        try await store.combined.write { db -> Appended in
            guard let row = try GRDB.Row.fetchOne(db, sql: "SELECT * FROM workflow WHERE id = ?", arguments: [id])
            else {
                throw WorkflowError.notFound("no workflow \(id)", field: "params.id")
            }
            var record = try Record(row: row)
            var machine = try Self.machine(db, id: id)
            let actions = try machine.apply(event)
            let seq = record.lastSeq + 1
            let now = Timestamp.nowMicroseconds()
            try db.execute(
                sql: """
                    INSERT INTO workflowEvent (workflowId, seq, timeMicros, name, event, payload, stateAfter, uid, user)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    id, seq, now, event.name, JSONWriter.string(event.json),
                    payload.map(JSONWriter.string), machine.state.rawValue, actor.uid, actor.user,
                ])
            record.state = machine.state
            record.lastSeq = seq
            record.updatedAt = Timestamp.format(microsecondsSinceEpoch: now)
            record.summary = Self.summarise(record.decodedSummary, after: event, payload: payload, machine: machine)
            try db.execute(
                sql: "UPDATE workflow SET state = ?, lastSeq = ?, updatedAt = ?, summary = ? WHERE id = ?",
                arguments: [record.state, seq, record.updatedAt, record.summary, id])
            return Appended(seq: seq, state: machine.state, actions: actions, timeMicros: now, record: record)
        }
    }

    private static func summarise(
        _ old: Summary, after event: WorkflowEvent, payload: JSONValue?,
        machine: WorkflowMachine
    ) -> String {
        var summary = old
        summary.planHash = machine.planHash
        switch event {
        case .interpreted(let confident):
            summary.confidence = payload?["confidence"]?.numberValue
            summary.questions = confident ? nil : payload?["questions"]?.arrayValue?.compactMap(\.stringValue)
        case .clarificationNeeded:
            summary.confidence = payload?["confidence"]?.numberValue ?? summary.confidence
            summary.questions = payload?["questions"]?.arrayValue?.compactMap(\.stringValue)
        case .planned:
            // The plan's checks can only lower what the interpretation said.
            summary.confidence = payload?["confidence"]?.numberValue ?? summary.confidence
        case .clarified:
            summary.questions = nil
        case .failed(let reason):
            summary.failure = reason
        default:
            break
        }
        return JSONWriter.string(summary.json)
    }

    /// The machine as the log leaves it.
    static func machine(_ db: Database, id: String) throws -> WorkflowMachine {
        let rows = try String.fetchAll(
            db, sql: "SELECT event FROM workflowEvent WHERE workflowId = ? ORDER BY seq", arguments: [id])
        return try WorkflowMachine.replay(try rows.map { try WorkflowEvent(json: try JSONParser.parse($0)) })
    }

    func machine(_ id: String) throws -> WorkflowMachine {
        try store.writer.read { db in try Self.machine(db, id: id) }
    }

    func record(_ id: String) throws -> Record? {
        try store.writer.read { db in try Record.fetchOne(db, key: id) }
    }

    /// The record and its log, read together.
    func snapshot(_ id: String) throws -> (Record, [Entry])? {
        try store.writer.read { db in
            guard let record = try Record.fetchOne(db, key: id) else { return nil }
            return (record, try Self.entries(db, id: id))
        }
    }

    func entries(_ id: String) throws -> [Entry] {
        try store.writer.read { db in try Self.entries(db, id: id) }
    }

    static func entries(_ db: Database, id: String) throws -> [Entry] {
        try GRDB.Row.fetchAll(
            db,
            sql: """
                SELECT seq, timeMicros, event, payload, stateAfter, user FROM workflowEvent WHERE workflowId = ? ORDER BY seq
                """, arguments: [id]
        ).map { row in
            let payload: String? = row["payload"]
            return Entry(
                seq: row["seq"], timeMicros: row["timeMicros"],
                event: try WorkflowEvent(json: try JSONParser.parse(row["event"] as String)),
                payload: try payload.map { try JSONParser.parse($0) },
                stateAfter: WorkflowState(rawValue: row["stateAfter"]) ?? .failed, user: row["user"])
        }
    }

    static let liveQuery = "SELECT * FROM workflow WHERE state NOT IN \(WorkflowState.terminalList) ORDER BY createdAt"

    /// Workflows that have not ended: what a restarted daemon resumes.
    func live() throws -> [Record] {
        try store.writer.read { db in try Record.fetchAll(db, sql: Self.liveQuery) }
    }
}
