import Foundation
import Shared

/// Any OpenAI-compatible endpoint: OpenAI, vLLM, Ollama, LM Studio, llama.cpp's server.
struct OpenAIClient: ModelProvider {
    /// How the endpoint takes a JSON Schema for the answer.
    enum SchemaStyle: String, Sendable, CaseIterable {
        /// `response_format: {type: "json_schema", json_schema: {...}}` (OpenAI, vLLM, Ollama, llama.cpp server).
        case jsonSchema
        /// `response_format: {type: "json_object", schema: {...}}` (llama-cpp-python's server).
        case jsonObject
    }

    let transport: ProviderTransport
    let schemaStyle: SchemaStyle

    var name: String { transport.endpoint.name }
    var kind: String { "openai" }
    var baseURL: String { transport.endpoint.baseURL }

    /// llama.cpp turns a schema into a grammar, and its grammar parser refuses (and
    /// llama-cpp-python 0.3.x then crashes on) bounded repetitions that are long or nested:
    /// `maxLength: 1024` inside an array of objects is enough. So for the grammar, string length
    /// bounds and large item bounds are dropped, and descriptions (noise to a grammar) too. The
    /// answer is still checked against the full schema afterwards; only the decoder is looser.
    static func grammarFriendly(_ schema: JSONValue) -> JSONValue {
        guard case .object(let object) = schema else { return schema }
        var kept: [String: JSONValue] = [:]
        for (key, value) in object {
            switch key {
            case "maxLength", "minLength", "description", "pattern", "format":
                continue
            case "maxItems" where (value.intValue ?? 0) > 8:
                continue
            case "properties":
                // Keys here are property names (one may well be "description"), values schemas.
                kept[key] = .object((value.objectValue ?? [:]).mapValues(grammarFriendly))
            case "items", "additionalProperties", "not":
                kept[key] = grammarFriendly(value)
            case "anyOf", "oneOf", "allOf":
                kept[key] = .array((value.arrayValue ?? []).map(grammarFriendly))
            default:
                kept[key] = value
            }
        }
        return .object(kept)
    }

    func body(_ request: ChatRequest, stream: Bool) -> JSONValue {
        var body: [String: JSONValue] = [
            "model": .string(request.model),
            "messages": .array(request.messages.map(Self.wire)),
        ]
        if !request.tools.isEmpty {
            body["tools"] = .array(
                request.tools.map { tool in
                    [
                        "type": "function",
                        "function": [
                            "name": .string(tool.name), "description": .string(tool.description),
                            "parameters": tool.parameters,
                        ],
                    ]
                })
        }
        if let schema = request.responseSchema {
            switch schemaStyle {
            case .jsonSchema:
                body["response_format"] = [
                    "type": "json_schema",
                    "json_schema": ["name": "response", "schema": schema, "strict": true],
                ]
            case .jsonObject:
                body["response_format"] = ["type": "json_object", "schema": Self.grammarFriendly(schema)]
            }
        }
        if let maxTokens = request.maxTokens { body["max_tokens"] = .int(Int64(maxTokens)) }
        if let temperature = request.temperature { body["temperature"] = .double(temperature) }
        if stream {
            body["stream"] = true
            body["stream_options"] = ["include_usage": true]
        }
        return .object(body)
    }

    static func wire(_ message: ChatMessage) -> JSONValue {
        var object: [String: JSONValue] = ["role": .string(message.role), "content": .string(message.content)]
        if let calls = message.toolCalls, !calls.isEmpty {
            object["tool_calls"] = .array(
                calls.map { call in
                    [
                        "id": .string(call.id), "type": "function",
                        "function": [
                            "name": .string(call.name), "arguments": .string(JSONWriter.string(call.arguments)),
                        ],
                    ]
                })
        }
        if let id = message.toolCallId { object["tool_call_id"] = .string(id) }
        return .object(object)
    }

    static func finishReason(_ reason: String?) -> String {
        switch reason {
        case "stop", nil: return "stop"
        case "length": return "length"
        case "tool_calls", "function_call": return "toolCalls"
        case let other?: return other
        }
    }

    /// Tool call arguments arrive as JSON text; text that does not parse is kept as a string so
    /// the caller can refuse it rather than act on a guess.
    static func arguments(_ text: String) -> JSONValue {
        if text.isEmpty { return [:] }
        return (try? JSONParser.parse(text)) ?? .string(text)
    }

    func chat(_ request: ChatRequest, stream: Bool, onDelta: @escaping @Sendable (String) async throws -> Void)
        async throws -> ChatResult
    {
        let body = body(request, stream: stream)
        return try await transport.chatWithRetries {
            stream
                ? try await streamed(body, request: request, onDelta: onDelta) : try await whole(body, request: request)
        }
    }

    private func whole(_ body: JSONValue, request: ChatRequest) async throws -> ChatResult {
        let json = try await transport.json("POST", "/chat/completions", body: body)
        guard let choice = json["choices"]?.arrayValue?.first, let message = choice["message"] else {
            throw transport.malformed("no choices[0].message")
        }
        var calls: [ToolCall] = []
        for call in message["tool_calls"]?.arrayValue ?? [] {
            guard let function = call["function"], let name = function["name"]?.stringValue else {
                throw transport.malformed("a tool call without function.name")
            }
            calls.append(
                ToolCall(
                    id: call["id"]?.stringValue ?? "call_\(calls.count)", name: name,
                    arguments: Self.arguments(function["arguments"]?.stringValue ?? "")))
        }
        return ChatResult(
            content: message["content"]?.stringValue ?? "", toolCalls: calls,
            finishReason: Self.finishReason(choice["finish_reason"]?.stringValue),
            usage: Self.usage(json["usage"]), model: json["model"]?.stringValue ?? request.model)
    }

    static func usage(_ value: JSONValue?) -> TokenUsage {
        TokenUsage(
            promptTokens: value?["prompt_tokens"]?.intValue ?? 0,
            completionTokens: value?["completion_tokens"]?.intValue ?? 0)
    }

    private func streamed(
        _ body: JSONValue, request: ChatRequest,
        onDelta: @escaping @Sendable (String) async throws -> Void
    ) async throws -> ChatResult {
        let start = ContinuousClock.now
        let response = try await transport.open("POST", "/chat/completions", body: body, accept: "text/event-stream")
        var parser = SSEParser()
        var content = ""
        var firstToken: Duration?
        var finish: String?
        var usage = TokenUsage()
        var model = request.model
        var done = false
        // Tool calls arrive in fragments keyed by index: id and name first, arguments in pieces.
        var calls: [Int: (id: String, name: String, arguments: String)] = [:]
        var deltas = 0
        do {
            for try await chunk in response.body {
                for event in parser.feed(chunk) {
                    if event.data == "[DONE]" {
                        done = true
                        continue
                    }
                    guard let json = try? JSONParser.parse(event.data) else {
                        throw transport.malformed("a stream event is not JSON")
                    }
                    if let error = json["error"] {
                        throw ProviderTransport.AttemptFailure(
                            error: ProviderError(
                                kind: .unavailable,
                                message:
                                    "provider \(name) failed mid-stream: \(transport.redactor.redact(error["message"]?.stringValue ?? "unknown error"))"
                            ),
                            retryable: deltas == 0)
                    }
                    if let m = json["model"]?.stringValue { model = m }
                    if let u = json["usage"], u != .null { usage = Self.usage(u) }
                    guard let choice = json["choices"]?.arrayValue?.first else { continue }
                    if let reason = choice["finish_reason"]?.stringValue { finish = reason }
                    let delta = choice["delta"]
                    if let text = delta?["content"]?.stringValue, !text.isEmpty {
                        if firstToken == nil { firstToken = ContinuousClock.now - start }
                        content += text
                        deltas += 1
                        try await onDelta(text)
                    }
                    for fragment in delta?["tool_calls"]?.arrayValue ?? [] {
                        let index = Int(fragment["index"]?.intValue ?? 0)
                        var call = calls[index] ?? (id: "", name: "", arguments: "")
                        if let id = fragment["id"]?.stringValue { call.id = id }
                        if let n = fragment["function"]?["name"]?.stringValue { call.name += n }
                        if let a = fragment["function"]?["arguments"]?.stringValue { call.arguments += a }
                        calls[index] = call
                    }
                }
            }
        } catch let error as HTTPError {
            throw transport.streamBroke(error, afterDeltas: deltas)
        }
        // An ended iteration may mean the task was cancelled (the stream stops yielding then).
        try Task.checkCancellation()
        guard done || finish != nil else {
            throw ProviderTransport.AttemptFailure(
                error: ProviderError(
                    kind: .unavailable, message: "provider \(name): the stream ended before the answer was complete"),
                retryable: deltas == 0)
        }
        let toolCalls = calls.keys.sorted().map { index in
            let call = calls[index]!
            return ToolCall(
                id: call.id.isEmpty ? "call_\(index)" : call.id, name: call.name,
                arguments: Self.arguments(call.arguments))
        }
        if usage.completionTokens == 0 { usage.completionTokens = Int64(deltas) }  // servers that omit stream usage
        return ChatResult(
            content: content, toolCalls: toolCalls, finishReason: Self.finishReason(finish), usage: usage,
            model: model, timeToFirstToken: firstToken)
    }

    func embed(_ inputs: [String], model: String) async throws -> EmbeddingResult {
        try await transport.withRetries { _ in
            let json = try await transport.json(
                "POST", "/embeddings",
                body: [
                    "model": .string(model),
                    "input": .array(inputs.map { .string($0) }),
                ])
            guard let data = json["data"]?.arrayValue else { throw transport.malformed("no data array") }
            let vectors = try data.map { item -> [Double] in
                guard let values = item["embedding"]?.arrayValue else {
                    throw transport.malformed("an item without embedding")
                }
                return try values.map { value -> Double in
                    guard let number = value.numberValue else {
                        throw transport.malformed("an embedding value is not a number")
                    }
                    return number
                }
            }
            return EmbeddingResult(
                vectors: vectors, usage: Self.usage(json["usage"]), model: json["model"]?.stringValue ?? model)
        }
    }

    func models() async throws -> [String] {
        try await transport.withRetries { _ in
            let json = try await transport.json("GET", "/models", body: nil)
            return (json["data"]?.arrayValue ?? []).compactMap { $0["id"]?.stringValue }
        }
    }
}
