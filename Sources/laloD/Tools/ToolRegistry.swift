import Foundation
import GRDB
import Shared
import Synchronization

/// The tool registry (docs/tools.md#the-registry): what exists, what an admin enabled and limited, and the one path
/// every tool call takes — permission, input schema, rate limit, the execution record written
/// before the call starts, timeout, output schema, redaction, the record of its end, audit.
final class ToolRegistry: Sendable {
    private let tools: [String: any Tool]
    private let store: Store
    private let audit: AuditLog
    private let redactor: Redactor
    /// Calls per minute, per tool.
    private let limiter = RateLimiter()
    /// Executions running in this process: a `started` record not in here was interrupted.
    private let running = Mutex<Set<Int64>>([])

    init(tools: [any Tool], store: Store, audit: AuditLog, redactor: Redactor) {
        self.tools = Dictionary(uniqueKeysWithValues: tools.map { ($0.descriptor.name, $0) })
        self.store = store
        self.audit = audit
        self.redactor = redactor
    }

    struct Setting: Codable, FetchableRecord, PersistableRecord, Sendable {
        static let databaseTableName = "toolSetting"
        var name: String
        var enabled: Bool
        var timeoutMs: Int?
        var rateLimitPerMinute: Int?
        var settings: String
        var updatedBy: String
        var updatedAt: String
    }

    func tool(_ name: String) throws(ToolError) -> any Tool {
        guard let tool = tools[name] else {
            throw ToolError.notFound(
                "no tool named \(name) (tools: \(tools.keys.sorted().joined(separator: ", ")))", field: "params.name")
        }
        return tool
    }

    /// The planning actions of the named tools, in name order (``PlanningAction``); unknown names
    /// have none.
    func planningActions(_ names: [String]) -> [PlanningAction] {
        names.sorted().flatMap { (try? tool($0).planningActions) ?? [] }
    }

    func info(_ name: String) throws -> ToolInfo {
        let tool = try tool(name)
        let descriptor = tool.descriptor
        let setting = try store.writer.read { db in try Setting.fetchOne(db, key: name) }
        return ToolInfo(
            name: descriptor.name, description: descriptor.description, risk: descriptor.risk.rawValue,
            permission: descriptor.permission.rawValue, idempotent: descriptor.idempotent,
            canRollback: descriptor.canRollback,
            enabled: setting?.enabled ?? true,
            timeoutMs: setting?.timeoutMs ?? Int(descriptor.defaultTimeout.components.seconds * 1000),
            rateLimitPerMinute: setting?.rateLimitPerMinute ?? descriptor.defaultRateLimitPerMinute,
            inputSchema: descriptor.inputSchema.json, outputSchema: descriptor.outputSchema.json,
            settings: Self.effectiveSettings(
                tool, stored: (try? setting.map { try JSONParser.parse($0.settings) }) ?? nil))
    }

    /// The tool's defaults with the administrator's values over them.
    private static func effectiveSettings(_ tool: any Tool, stored: JSONValue?) -> JSONValue {
        var merged = tool.defaultSettings.mapValues(JSONValue.int)
        for (key, value) in stored?.objectValue ?? [:] { merged[key] = value }
        return .object(merged)
    }

    func list() throws -> [ToolInfo] {
        try tools.keys.sorted().map { try info($0) }
    }

    func configure(_ params: ToolConfigure.Params, by actor: AuditActor) async throws -> ToolInfo {
        let current = try info(params.name)
        if let settings = params.settings, settings.objectValue == nil {
            throw ToolError.invalidParams("settings must be an object", field: "params.settings")
        }
        let known = try tool(params.name).defaultSettings
        var merged = current.settings.objectValue ?? [:]
        for (key, value) in (params.settings?.objectValue ?? [:]).sorted(by: { $0.key < $1.key }) {
            guard known[key] != nil else {
                throw ToolError.invalidParams(
                    "\(params.name) has no setting \(key)"
                        + (known.isEmpty ? "" : " (settings: \(known.keys.sorted().joined(separator: ", ")))"),
                    field: "params.settings.\(key)")
            }
            guard let number = value.intValue, number >= 0 else {
                throw ToolError.invalidParams(
                    "\(key) must be a whole number, 0 or more", field: "params.settings.\(key)")
            }
            merged[key] = .int(number)
        }
        let setting = Setting(
            name: params.name, enabled: params.enabled ?? current.enabled,
            timeoutMs: params.timeoutMs ?? current.timeoutMs,
            rateLimitPerMinute: params.rateLimitPerMinute ?? current.rateLimitPerMinute,
            settings: JSONWriter.string(.object(merged)), updatedBy: actor.user, updatedAt: Timestamp.now())
        try await store.writer.write { db in try setting.save(db) }
        limiter.reset(params.name)
        try await audit.append(
            AuditEvent(
                .tool, "tool.configure", by: actor,
                detail: [
                    "tool": .string(params.name), "enabled": .bool(setting.enabled),
                    "timeoutMs": .int(Int64(setting.timeoutMs ?? 0)),
                    "rateLimitPerMinute": .int(Int64(setting.rateLimitPerMinute ?? 0)),
                ]))
        return try info(params.name)
    }

    // MARK: Execution

    /// What the execution record says about an idempotency key before a call.
    private enum Begin {
        case fresh(Int64)
        case finished(ToolExecutionInfo)
    }

    /// Runs a tool call for `context`. Throws ``ToolFailure`` or ``ToolError`` with a kind the
    /// caller can act on; a call whose key was already executed returns that execution.
    func execute(_ name: String, arguments: JSONValue, context: ToolContext) async throws -> ToolExecutionInfo {
        try await run(name, arguments: arguments, context: context).execution
    }

    /// Like ``execute(_:arguments:context:)``, and says whether the result was recorded earlier
    /// (the key had already run) rather than produced by this call.
    func run(_ name: String, arguments: JSONValue, context: ToolContext) async throws -> (
        execution: ToolExecutionInfo, replayed: Bool
    ) {
        let tool = try tool(name)
        let descriptor = tool.descriptor
        let configured = try info(name)
        guard configured.enabled else { throw ToolError(.conflict, "tool \(name) is disabled by an administrator") }
        guard context.permissions.contains(descriptor.permission) else {
            throw ToolError.permissionDenied("tool \(name) needs \(descriptor.permission)")
        }
        try descriptor.inputSchema.validate(arguments, at: "arguments")
        let execution: Int64
        switch try await begin(name, arguments: arguments, context: context, idempotent: tool.isIdempotent(arguments)) {
        case .finished(let earlier): return (earlier, true)
        case .fresh(let id): execution = id
        }
        // Rate limiting after the record: a refused call is recorded as failed, so nothing is
        // left in `started` that never ran.
        let start = ContinuousClock.now
        var outcome: Result<JSONValue, ToolFailure>
        if !limiter.take(name, perMinute: configured.rateLimitPerMinute) {
            outcome = .failure(
                ToolFailure(
                    kind: .rateLimited,
                    message: "tool \(name) is limited to \(configured.rateLimitPerMinute) calls a minute"))
        } else {
            var prepared = context
            prepared.settings = configured.settings
            let runContext = prepared
            do {
                let result = try await withTimeout(.milliseconds(configured.timeoutMs)) {
                    try await tool.run(arguments, context: runContext)
                }
                do {
                    try descriptor.outputSchema.validate(result, at: "result")
                    outcome = .success(redactor.redact(result))
                } catch {
                    outcome = .failure(
                        ToolFailure(
                            kind: .internalError,
                            message: "tool \(name) returned a result that does not match its schema: \(error.message)"))
                }
            } catch let failure as ToolFailure {
                outcome = .failure(failure)
            } catch is TimeoutError {
                outcome = .failure(
                    ToolFailure(
                        kind: .timeout, message: "tool \(name) did not finish within \(configured.timeoutMs) ms"))
            } catch let error as any DaemonError {
                outcome = .failure(ToolFailure(kind: error.kind, message: error.message, field: error.field))
            } catch {
                outcome = .failure(ToolFailure(kind: .internalError, message: "tool \(name) failed"))
            }
        }
        let duration = (ContinuousClock.now - start).microseconds
        let record = try await finish(execution, outcome: outcome, duration: duration)
        running.withLock { _ = $0.remove(execution) }
        let failure: ToolFailure? = { if case .failure(let f) = outcome { return f } else { return nil } }()
        try await audit.append(
            AuditEvent(
                .tool, "tool.execute", by: context.actor, outcome: failure == nil ? .ok : .error,
                errorKind: failure?.kind, durationMicros: duration,
                detail: [
                    "tool": .string(name), "execution": .int(execution),
                    "risk": .string(tool.risk(of: arguments).rawValue),
                    "workflowId": context.workflowId.map(JSONValue.string) ?? .null,
                ]))
        if let failure { throw failure }
        return (record, false)
    }

    private func begin(_ name: String, arguments: JSONValue, context: ToolContext, idempotent: Bool) async throws
        -> Begin
    {
        let redacted = JSONWriter.string(redactor.redact(arguments))
        return try await store.combined.write { db -> Begin in
            if let row = try GRDB.Row.fetchOne(
                db, sql: "SELECT * FROM toolExecution WHERE idempotencyKey = ?",
                arguments: [context.idempotencyKey])
            {
                let earlier = try Self.info(row)
                let owner: Int64 = row["uid"]
                // A key names one call: the same tool, caller and arguments. Anything else reusing
                // it is a mistake (or an attempt to read another user's result).
                guard earlier.tool == name, owner == context.actor.uid,
                    earlier.arguments == JSONParser.parseOrNull(redacted)
                else {
                    throw ToolError(
                        .conflict, "idempotency key \(context.idempotencyKey) was already used for another call")
                }
                if earlier.status != "started" { return .finished(earlier) }
                if self.running.withLock({ $0.contains(earlier.id) }) {
                    throw ToolError(.conflict, "call \(earlier.id) of \(name) with this key is still running")
                }
                // Started and never finished: laloD stopped in the middle of it. Only a tool that
                // is safe to repeat runs again; anything else needs a person to look.
                guard idempotent else { throw InterruptedCall(execution: earlier.id, tool: name) }
                try db.execute(
                    sql: "UPDATE toolExecution SET startedAt = ? WHERE id = ?",
                    arguments: [Timestamp.now(), earlier.id])
                self.running.withLock { _ = $0.insert(earlier.id) }
                return .fresh(earlier.id)
            }
            try db.execute(
                sql: """
                    INSERT INTO toolExecution (tool, workflowId, step, idempotencyKey, status, arguments, uid, user, startedAt)
                    VALUES (?, ?, ?, ?, 'started', ?, ?, ?, ?)
                    """,
                arguments: [
                    name, context.workflowId, context.step, context.idempotencyKey, redacted,
                    context.actor.uid, context.actor.user, Timestamp.now(),
                ])
            let id = db.lastInsertedRowID
            self.running.withLock { _ = $0.insert(id) }
            return .fresh(id)
        }
    }

    private func finish(_ id: Int64, outcome: Result<JSONValue, ToolFailure>, duration: Int64) async throws
        -> ToolExecutionInfo
    {
        try await store.combined.write { db in
            switch outcome {
            case .success(let result):
                try db.execute(
                    sql:
                        "UPDATE toolExecution SET status = 'succeeded', result = ?, finishedAt = ?, durationMicros = ? WHERE id = ?",
                    arguments: [JSONWriter.string(result), Timestamp.now(), duration, id])
            case .failure(let failure):
                try db.execute(
                    sql:
                        "UPDATE toolExecution SET status = 'failed', error = ?, finishedAt = ?, durationMicros = ? WHERE id = ?",
                    arguments: [self.redactor.redact(failure.message), Timestamp.now(), duration, id])
            }
            return try Self.info(
                try GRDB.Row.fetchOne(db, sql: "SELECT * FROM toolExecution WHERE id = ?", arguments: [id])!)
        }
    }

    static func info(_ row: GRDB.Row) throws -> ToolExecutionInfo {
        let arguments: String = row["arguments"]
        let result: String? = row["result"]
        return ToolExecutionInfo(
            id: row["id"], tool: row["tool"], workflowId: row["workflowId"], step: row["step"],
            idempotencyKey: row["idempotencyKey"], status: row["status"], arguments: try JSONParser.parse(arguments),
            result: try result.map { try JSONParser.parse($0) }, error: row["error"], user: row["user"],
            startedAt: row["startedAt"], finishedAt: row["finishedAt"], durationMicros: row["durationMicros"])
    }

    /// Newest first; `uid` nil means everyone's.
    func executions(tool: String?, workflowId: String?, uid: Int64?, beforeID: Int64?, limit: Int) throws
        -> [ToolExecutionInfo]
    {
        var filter = SQLFilter()
        filter.add("tool = ?", ifPresent: tool)
        filter.add("workflowId = ?", ifPresent: workflowId)
        filter.add("uid = ?", ifPresent: uid)
        filter.add("id < ?", ifPresent: beforeID)
        return try store.writer.read { db in
            try GRDB.Row.fetchAll(
                db, sql: "SELECT * FROM toolExecution \(filter.clause) ORDER BY id DESC LIMIT ?",
                arguments: filter.arguments(then: [limit])
            ).map(Self.info)
        }
    }
}
