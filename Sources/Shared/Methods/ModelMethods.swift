/// The model roles of docs/models.md#roles; each maps to a provider and model in the configuration.
public enum ModelRole: String, Codable, Sendable, CaseIterable {
    case interpreter, judge, planner, critic, chat, embedder
}

/// A tool call a model asked for.
public struct ToolCall: Codable, Sendable, Equatable {
    public var id: String
    public var name: String
    /// The arguments object, parsed. Providers send it as (possibly streamed) JSON text.
    public var arguments: JSONValue
    public init(id: String, name: String, arguments: JSONValue) {
        self.id = id
        self.name = name
        self.arguments = arguments
    }

    static let schema = Schema.object(
        "A tool call the model asked for",
        [
            .required("id", .string()), .required("name", .string()),
            .required("arguments", .any(description: "The arguments object")),
        ])
}

/// One message of a conversation.
public struct ChatMessage: Codable, Sendable, Equatable {
    /// `system`, `user`, `assistant` or `tool`.
    public var role: String
    public var content: String
    /// Tool calls an assistant message made.
    public var toolCalls: [ToolCall]?
    /// For `tool` messages: the id of the call this answers.
    public var toolCallId: String?
    public init(role: String, content: String, toolCalls: [ToolCall]? = nil, toolCallId: String? = nil) {
        self.role = role
        self.content = content
        self.toolCalls = toolCalls
        self.toolCallId = toolCallId
    }

    static let schema = Schema.object(
        "A message",
        [
            .required("role", .string(enum: ["system", "user", "assistant", "tool"])),
            .required("content", .string(maxLength: 1 << 20)),
            .optional("toolCalls", .array(ToolCall.schema, maxItems: 64)),
            .optional("toolCallId", .string(maxLength: 256)),
        ])
}

/// A tool offered to the model.
public struct ToolSpec: Codable, Sendable, Equatable {
    public var name: String
    public var description: String
    /// JSON Schema of the arguments object.
    public var parameters: JSONValue
    public init(name: String, description: String, parameters: JSONValue) {
        self.name = name
        self.description = description
        self.parameters = parameters
    }

    static let schema = Schema.object(
        "A tool the model may call",
        [
            .required(
                "name",
                .string(
                    pattern: "^[A-Za-z0-9_-]{1,64}$",
                    check: { name in
                        (1...64).contains(name.unicodeScalars.count)
                            && name.unicodeScalars.allSatisfy { $0.isASCIIAlphanumeric || $0 == "_" || $0 == "-" }
                    })),
            .required("description", .string(maxLength: 4096)),
            .required("parameters", .any(description: "JSON Schema of the arguments object")),
        ])
}

/// Tokens a call used, as the provider reported them.
public struct TokenUsage: Codable, Sendable, Equatable {
    public var promptTokens: Int64
    public var completionTokens: Int64
    public init(promptTokens: Int64 = 0, completionTokens: Int64 = 0) {
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
    }

    static let schema = Schema.object(
        "Token usage",
        [
            .required("promptTokens", .integer()), .required("completionTokens", .integer()),
        ])
}

public enum ModelList: RPCMethod {
    public static let name = "model.list"
    public static let summary = "Model roles, the providers they map to and their health"
    public static let permission = Permission.modelRead
    public typealias Params = NoParams

    public struct RoleInfo: Codable, Sendable, Equatable {
        public var role: String
        public var provider: String
        public var model: String
        public init(role: String, provider: String, model: String) {
            self.role = role
            self.provider = provider
            self.model = model
        }
    }

    public struct ProviderInfo: Codable, Sendable, Equatable {
        public var name: String
        /// `openai` (any OpenAI-compatible endpoint) or `anthropic`.
        public var kind: String
        public var baseURL: String
        /// The secret reference of the API key (`secret:NAME`), never the key.
        public var apiKey: String?
        /// `ok`, `down` or `starting`.
        public var health: String
        public var detail: String?
        public var latencyMicros: Int64?
        public init(
            name: String, kind: String, baseURL: String, apiKey: String?, health: String, detail: String?,
            latencyMicros: Int64?
        ) {
            self.name = name
            self.kind = kind
            self.baseURL = baseURL
            self.apiKey = apiKey
            self.health = health
            self.detail = detail
            self.latencyMicros = latencyMicros
        }
    }

    /// The embedded llama.cpp server laloD supervises.
    public struct LocalModelInfo: Codable, Sendable, Equatable {
        /// `disabled`, `starting`, `running`, `restarting` or `failed`.
        public var state: String
        public var pid: Int32?
        public var port: Int?
        public var restarts: Int
        public var modelFile: String
        public var lastError: String?
        public init(state: String, pid: Int32?, port: Int?, restarts: Int, modelFile: String, lastError: String?) {
            self.state = state
            self.pid = pid
            self.port = port
            self.restarts = restarts
            self.modelFile = modelFile
            self.lastError = lastError
        }
    }

    public struct Result: Codable, Sendable {
        public var roles: [RoleInfo]
        public var providers: [ProviderInfo]
        public var localModel: LocalModelInfo
        public init(roles: [RoleInfo], providers: [ProviderInfo], localModel: LocalModelInfo) {
            self.roles = roles
            self.providers = providers
            self.localModel = localModel
        }
    }

    public static let paramsSchema = Schema.empty
    public static let resultSchema = Schema.object(
        nil,
        [
            .required(
                "roles",
                .array(
                    .object(
                        "A role's model",
                        [
                            .required("role", .string(enum: ModelRole.allCases.map(\.rawValue))),
                            .required("provider", .string()), .required("model", .string()),
                        ]))),
            .required(
                "providers",
                .array(
                    .object(
                        "A provider",
                        [
                            .required("name", .string()), .required("kind", .string(enum: ["openai", "anthropic"])),
                            .required("baseURL", .string()),
                            .optional("apiKey", .string("Secret reference, e.g. secret:openai")),
                            .required("health", .string(enum: ["ok", "down", "starting"])),
                            .optional("detail", .string()),
                            .optional("latencyMicros", .integer()),
                        ]))),
            .required(
                "localModel",
                .object(
                    "The embedded local model server",
                    [
                        .required("state", .string(enum: ["disabled", "starting", "running", "restarting", "failed"])),
                        .optional("pid", .integer()), .optional("port", .integer()), .required("restarts", .integer()),
                        .required("modelFile", .string()), .optional("lastError", .string()),
                    ])),
        ])
}

public enum ModelTest: RPCMethod {
    public static let name = "model.test"
    public static let summary = "A short round trip to one role's model, with its latency"
    public static let permission = Permission.modelUse
    public struct Params: Codable, Sendable {
        public var role: String?
        public init(role: String? = nil) { self.role = role }
    }
    public struct Result: Codable, Sendable {
        public var role: String
        public var provider: String
        public var model: String
        public var latencyMicros: Int64
        public var timeToFirstTokenMicros: Int64?
        public var reply: String
        public var usage: TokenUsage
        public init(
            role: String, provider: String, model: String, latencyMicros: Int64, timeToFirstTokenMicros: Int64?,
            reply: String, usage: TokenUsage
        ) {
            self.role = role
            self.provider = provider
            self.model = model
            self.latencyMicros = latencyMicros
            self.timeToFirstTokenMicros = timeToFirstTokenMicros
            self.reply = reply
            self.usage = usage
        }
    }
    public static let paramsSchema = Schema.object(
        nil,
        [
            .optional("role", .string("Model role (default chat)", enum: ModelRole.allCases.map(\.rawValue)))
        ])
    public static let resultSchema = Schema.object(
        nil,
        [
            .required("role", .string()), .required("provider", .string()), .required("model", .string()),
            .required("latencyMicros", .integer()), .optional("timeToFirstTokenMicros", .integer()),
            .required("reply", .string("The start of the model's reply")), .required("usage", TokenUsage.schema),
        ])
}

public enum ModelComplete: RPCMethod {
    public static let name = "model.complete"
    public static let summary = "A raw chat completion from one role's model, streamed as model.delta notifications"
    public static let permission = Permission.modelUse
    public static let notification: String? = "model.delta"
    public struct Params: Codable, Sendable {
        public var role: String?
        public var messages: [ChatMessage]
        public var tools: [ToolSpec]?
        /// A JSON Schema the answer must match (OpenAI `response_format`, a forced tool on Anthropic).
        public var responseSchema: JSONValue?
        public var maxTokens: Int?
        public var temperature: Double?
        public var stream: Bool?
        public init(
            role: String? = nil, messages: [ChatMessage], tools: [ToolSpec]? = nil, responseSchema: JSONValue? = nil,
            maxTokens: Int? = nil, temperature: Double? = nil, stream: Bool? = nil
        ) {
            self.role = role
            self.messages = messages
            self.tools = tools
            self.responseSchema = responseSchema
            self.maxTokens = maxTokens
            self.temperature = temperature
            self.stream = stream
        }
    }
    public struct Result: Codable, Sendable {
        public var content: String
        public var toolCalls: [ToolCall]
        public var finishReason: String
        public var usage: TokenUsage
        public var provider: String
        public var model: String
        public var timeToFirstTokenMicros: Int64?
        public var durationMicros: Int64
        public var retries: Int
        public init(
            content: String, toolCalls: [ToolCall], finishReason: String, usage: TokenUsage, provider: String,
            model: String, timeToFirstTokenMicros: Int64?, durationMicros: Int64, retries: Int
        ) {
            self.content = content
            self.toolCalls = toolCalls
            self.finishReason = finishReason
            self.usage = usage
            self.provider = provider
            self.model = model
            self.timeToFirstTokenMicros = timeToFirstTokenMicros
            self.durationMicros = durationMicros
            self.retries = retries
        }
    }
    public static let paramsSchema = Schema.object(
        nil,
        [
            .optional("role", .string("Model role (default chat)", enum: ModelRole.allCases.map(\.rawValue))),
            .required("messages", .array(ChatMessage.schema, "The conversation, oldest first", maxItems: 512)),
            .optional("tools", .array(ToolSpec.schema, maxItems: 128)),
            .optional("responseSchema", .any(description: "JSON Schema (an object) the answer must match")),
            .optional("maxTokens", .integer(minimum: 1, maximum: 131_072)),
            .optional("temperature", .number(description: "0 to 2")),
            .optional("stream", .boolean("Stream model.delta notifications (default true)")),
        ])
    public static let resultSchema = Schema.object(
        nil,
        [
            .required("content", .string()), .required("toolCalls", .array(ToolCall.schema)),
            .required("finishReason", .string("stop, length, toolCalls or the provider's own reason")),
            .required("usage", TokenUsage.schema), .required("provider", .string()), .required("model", .string()),
            .optional("timeToFirstTokenMicros", .integer()), .required("durationMicros", .integer()),
            .required("retries", .integer("Attempts retried after 429, 5xx or transport errors")),
        ])
}

public enum ModelUsage: RPCMethod {
    public static let name = "model.usage"
    public static let summary = "Token usage by user and day (the caller's own; everyone's with model.manage)"
    public static let permission = Permission.modelRead
    public struct Params: Codable, Sendable {
        public var user: String?
        public var all: Bool?
        public var since: String?
        public var until: String?
        public init(user: String? = nil, all: Bool? = nil, since: String? = nil, until: String? = nil) {
            self.user = user
            self.all = all
            self.since = since
            self.until = until
        }
    }
    public struct Row: Codable, Sendable, Equatable {
        public var day: String
        public var user: String
        public var uid: Int64
        public var provider: String
        public var model: String
        public var calls: Int64
        public var promptTokens: Int64
        public var completionTokens: Int64
        public init(
            day: String, user: String, uid: Int64, provider: String, model: String, calls: Int64,
            promptTokens: Int64, completionTokens: Int64
        ) {
            self.day = day
            self.user = user
            self.uid = uid
            self.provider = provider
            self.model = model
            self.calls = calls
            self.promptTokens = promptTokens
            self.completionTokens = completionTokens
        }
    }
    public struct Result: Codable, Sendable {
        public var rows: [Row]
        public var total: TokenUsage
        public init(rows: [Row], total: TokenUsage) {
            self.rows = rows
            self.total = total
        }
    }
    public static let paramsSchema = Schema.object(
        nil,
        [
            .optional("user", .string("Another user's usage (needs model.manage)", minLength: 1, maxLength: 256)),
            .optional("all", .boolean("Every user's usage (needs model.manage)")),
            .optional(
                "since", .string("First day, YYYY-MM-DD (UTC)", pattern: "^\\d{4}-\\d{2}-\\d{2}$", check: isValidDay)),
            .optional(
                "until",
                .string("Last day, YYYY-MM-DD (UTC), inclusive", pattern: "^\\d{4}-\\d{2}-\\d{2}$", check: isValidDay)),
        ])
    public static let resultSchema = Schema.object(
        nil,
        [
            .required(
                "rows",
                .array(
                    .object(
                        "Usage of one user, day, provider and model",
                        [
                            .required("day", .string()), .required("user", .string()), .required("uid", .integer()),
                            .required("provider", .string()), .required("model", .string()),
                            .required("calls", .integer()),
                            .required("promptTokens", .integer()), .required("completionTokens", .integer()),
                        ]))),
            .required("total", TokenUsage.schema),
        ])
}

/// `YYYY-MM-DD` with a plausible month and day.
public let isValidDay: @Sendable (String) -> Bool = { text in
    let parts = text.split(separator: "-", omittingEmptySubsequences: false)
    guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
        let year = Int(parts[0]), let month = Int(parts[1]), let day = Int(parts[2])
    else { return false }
    return year >= 1970 && (1...12).contains(month) && (1...31).contains(day)
}
