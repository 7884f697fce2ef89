/// How much a tool call can change (docs/tools.md#the-registry); approval policy keys on it.
public enum ToolRisk: String, Codable, Sendable, CaseIterable, Comparable {
    case read, write, external, destructive

    public static func < (a: ToolRisk, b: ToolRisk) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

/// A tool as the registry describes it.
public struct ToolInfo: Codable, Sendable, Equatable {
    public var name: String
    public var description: String
    /// The highest risk any call can have; a call's own risk may be lower (reading a file).
    public var risk: String
    public var permission: String
    public var idempotent: Bool
    public var canRollback: Bool
    public var enabled: Bool
    public var timeoutMs: Int
    public var rateLimitPerMinute: Int
    public var inputSchema: JSONValue
    public var outputSchema: JSONValue
    public var settings: JSONValue

    public init(
        name: String, description: String, risk: String, permission: String, idempotent: Bool, canRollback: Bool,
        enabled: Bool, timeoutMs: Int, rateLimitPerMinute: Int, inputSchema: JSONValue, outputSchema: JSONValue,
        settings: JSONValue
    ) {
        self.name = name
        self.description = description
        self.risk = risk
        self.permission = permission
        self.idempotent = idempotent
        self.canRollback = canRollback
        self.enabled = enabled
        self.timeoutMs = timeoutMs
        self.rateLimitPerMinute = rateLimitPerMinute
        self.inputSchema = inputSchema
        self.outputSchema = outputSchema
        self.settings = settings
    }

    static let schema = Schema.object(
        "A registered tool",
        [
            .required("name", .string()), .required("description", .string()),
            .required("risk", .string(enum: ToolRisk.allCases.map(\.rawValue))), .required("permission", .string()),
            .required("idempotent", .boolean()), .required("canRollback", .boolean()), .required("enabled", .boolean()),
            .required("timeoutMs", .integer()), .required("rateLimitPerMinute", .integer("0: unlimited")),
            .required("inputSchema", .any(description: "JSON Schema of the arguments")),
            .required("outputSchema", .any(description: "JSON Schema of the result")),
            .required("settings", .any(description: "Tool-specific settings")),
        ])
}

/// One recorded tool call.
public struct ToolExecutionInfo: Codable, Sendable, Equatable {
    public var id: Int64
    public var tool: String
    public var workflowId: String?
    public var step: Int?
    public var idempotencyKey: String
    /// `started` (running, or interrupted by a crash), `succeeded` or `failed`.
    public var status: String
    /// The arguments as given, secrets redacted.
    public var arguments: JSONValue
    public var result: JSONValue?
    public var error: String?
    public var user: String
    public var startedAt: String
    public var finishedAt: String?
    public var durationMicros: Int64?

    public init(
        id: Int64, tool: String, workflowId: String?, step: Int?, idempotencyKey: String, status: String,
        arguments: JSONValue, result: JSONValue?, error: String?, user: String, startedAt: String,
        finishedAt: String?, durationMicros: Int64?
    ) {
        self.id = id
        self.tool = tool
        self.workflowId = workflowId
        self.step = step
        self.idempotencyKey = idempotencyKey
        self.status = status
        self.arguments = arguments
        self.result = result
        self.error = error
        self.user = user
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.durationMicros = durationMicros
    }

    static let schema = Schema.object(
        "A recorded tool call",
        [
            .required("id", .integer()), .required("tool", .string()), .optional("workflowId", .string()),
            .optional("step", .integer()), .required("idempotencyKey", .string()),
            .required("status", .string(enum: ["started", "succeeded", "failed"])),
            .required("arguments", .any(description: "Arguments, secrets redacted")),
            .optional("result", .any(description: "The result, secrets redacted")), .optional("error", .string()),
            .required("user", .string()), .required("startedAt", .string(format: "date-time")),
            .optional("finishedAt", .string(format: "date-time")), .optional("durationMicros", .integer()),
        ])
}

public let toolNamePattern = "^[a-z][a-z0-9_.-]{0,63}$"
public let isValidToolName: @Sendable (String) -> Bool = { name in
    let scalars = Array(name.unicodeScalars)
    guard let first = scalars.first, ("a"..."z").contains(first), scalars.count <= 64 else { return false }
    return scalars.allSatisfy {
        ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "_" || $0 == "." || $0 == "-"
    }
}

public enum ToolList: RPCMethod {
    public static let name = "tool.list"
    public static let summary = "Registered tools with their risk, permission, limits and whether they are enabled"
    public static let permission = Permission.workflowRead
    public typealias Params = NoParams
    public struct Result: Codable, Sendable {
        public var tools: [ToolInfo]
        public init(tools: [ToolInfo]) { self.tools = tools }
    }
    public static let paramsSchema = Schema.empty
    public static let resultSchema = Schema.object(nil, [.required("tools", .array(ToolInfo.schema))])
}

public enum ToolDescribe: RPCMethod {
    public static let name = "tool.describe"
    public static let summary = "One tool, with its input and output schemas and settings"
    public static let permission = Permission.workflowRead
    public struct Params: Codable, Sendable {
        public var name: String
        public init(name: String) { self.name = name }
    }
    public typealias Result = ToolInfo
    public static let paramsSchema = Schema.object(
        nil,
        [
            .required("name", .string("Tool name", pattern: toolNamePattern, check: isValidToolName))
        ])
    public static let resultSchema = ToolInfo.schema
}

public enum ToolConfigure: RPCMethod {
    public static let name = "tool.configure"
    public static let summary = "Enable or disable a tool, change its limits or settings"
    public static let permission = Permission.toolConfigure
    public struct Params: Codable, Sendable {
        public var name: String
        public var enabled: Bool?
        public var timeoutMs: Int?
        public var rateLimitPerMinute: Int?
        public var settings: JSONValue?
        public init(
            name: String, enabled: Bool? = nil, timeoutMs: Int? = nil, rateLimitPerMinute: Int? = nil,
            settings: JSONValue? = nil
        ) {
            self.name = name
            self.enabled = enabled
            self.timeoutMs = timeoutMs
            self.rateLimitPerMinute = rateLimitPerMinute
            self.settings = settings
        }
    }
    public typealias Result = ToolInfo
    public static let paramsSchema = Schema.object(
        nil,
        [
            .required("name", .string("Tool name", pattern: toolNamePattern, check: isValidToolName)),
            .optional("enabled", .boolean()),
            .optional("timeoutMs", .integer(minimum: 1, maximum: 3_600_000)),
            .optional("rateLimitPerMinute", .integer("0: unlimited", minimum: 0, maximum: 1_000_000)),
            .optional("settings", .any(description: "Tool-specific settings object, merged over the current ones")),
        ])
    public static let resultSchema = ToolInfo.schema
}

public enum ToolExecutions: RPCMethod {
    public static let name = "tool.executions"
    public static let summary = "Recorded tool calls, newest first (the caller's own; everyone's with audit.read)"
    public static let permission = Permission.workflowRead
    public struct Params: Codable, Sendable {
        public var tool: String?
        public var workflowId: String?
        public var limit: Int?
        public var cursor: String?
        public init(tool: String? = nil, workflowId: String? = nil, limit: Int? = nil, cursor: String? = nil) {
            self.tool = tool
            self.workflowId = workflowId
            self.limit = limit
            self.cursor = cursor
        }
    }
    public struct Result: Codable, Sendable {
        public var executions: [ToolExecutionInfo]
        public var nextCursor: String?
        public init(executions: [ToolExecutionInfo], nextCursor: String?) {
            self.executions = executions
            self.nextCursor = nextCursor
        }
    }
    public static let paramsSchema = Schema.object(
        nil,
        [
            .optional("tool", .string(pattern: toolNamePattern, check: isValidToolName)),
            .optional("workflowId", .string(minLength: 1, maxLength: 64)),
            .optional("limit", .integer(minimum: 1, maximum: 1000)),
            .optional("cursor", .string("nextCursor of the previous page", minLength: 1, maxLength: 32)),
        ])
    public static let resultSchema = Schema.object(
        nil,
        [
            .required("executions", .array(ToolExecutionInfo.schema)), .optional("nextCursor", .string()),
        ])
}
