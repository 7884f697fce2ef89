import Foundation
import Shared

/// The Anthropic Messages API (`POST /v1/messages`), streamed or not, with tools.
///
/// Anthropic has no `response_format`; a JSON Schema answer is obtained the documented way, by
/// offering one tool whose input schema is the answer's schema and forcing the model to call it.
struct AnthropicClient: ModelProvider {
    let transport: ProviderTransport
    /// `max_tokens` is required by the API; this is used when the caller gives none.
    var defaultMaxTokens = 1024

    static let apiVersion = "2023-06-01"
    /// The forced tool that carries a schema-constrained answer.
    static let answerTool = "respond"

    var name: String { transport.endpoint.name }
    var kind: String { "anthropic" }
    var baseURL: String { transport.endpoint.baseURL }

    func body(_ request: ChatRequest, stream: Bool) -> JSONValue {
        var system: [String] = []
        var messages: [JSONValue] = []
        var pendingResults: [JSONValue] = []
        func flushResults() {
            if !pendingResults.isEmpty {
                messages.append(["role": "user", "content": .array(pendingResults)])
                pendingResults = []
            }
        }
        for message in request.messages {
            switch message.role {
            case "system":
                system.append(message.content)
            case "tool":
                // Consecutive tool results go back together in one user turn.
                pendingResults.append([
                    "type": "tool_result", "tool_use_id": .string(message.toolCallId ?? ""),
                    "content": .string(message.content),
                ])
            case "assistant":
                flushResults()
                var blocks: [JSONValue] = []
                if !message.content.isEmpty { blocks.append(["type": "text", "text": .string(message.content)]) }
                for call in message.toolCalls ?? [] {
                    blocks.append([
                        "type": "tool_use", "id": .string(call.id), "name": .string(call.name), "input": call.arguments,
                    ])
                }
                messages.append(["role": "assistant", "content": .array(blocks)])
            default:
                flushResults()
                messages.append(["role": "user", "content": .string(message.content)])
            }
        }
        flushResults()
        var body: [String: JSONValue] = [
            "model": .string(request.model),
            "max_tokens": .int(Int64(request.maxTokens ?? defaultMaxTokens)),
            "messages": .array(messages),
        ]
        if !system.isEmpty { body["system"] = .string(system.joined(separator: "\n\n")) }
        var tools: [JSONValue] = request.tools.map { tool in
            ["name": .string(tool.name), "description": .string(tool.description), "input_schema": tool.parameters]
        }
        if let schema = request.responseSchema {
            tools.append([
                "name": .string(Self.answerTool), "description": "Give the answer in the required structure.",
                "input_schema": schema,
            ])
            body["tool_choice"] = ["type": "tool", "name": .string(Self.answerTool)]
        }
        if !tools.isEmpty { body["tools"] = .array(tools) }
        if let temperature = request.temperature { body["temperature"] = .double(temperature) }
        if stream { body["stream"] = true }
        return .object(body)
    }

    static func finishReason(_ reason: String?) -> String {
        switch reason {
        case "end_turn", "stop_sequence", nil: return "stop"
        case "max_tokens": return "length"
        case "tool_use": return "toolCalls"
        case let other?: return other
        }
    }

    static func usage(_ value: JSONValue?) -> TokenUsage {
        TokenUsage(
            promptTokens: value?["input_tokens"]?.intValue ?? 0,
            completionTokens: value?["output_tokens"]?.intValue ?? 0)
    }

    /// Splits tool calls into the forced answer (returned as content) and real tool calls.
    private static func result(
        text: String, calls: [ToolCall], stop: String?, usage: TokenUsage, model: String,
        schemaAnswer: Bool
    ) -> ChatResult {
        var content = text
        var toolCalls = calls
        var finish = finishReason(stop)
        if schemaAnswer, let index = calls.firstIndex(where: { $0.name == answerTool }) {
            content = JSONWriter.string(calls[index].arguments)
            toolCalls.remove(at: index)
            if toolCalls.isEmpty && finish == "toolCalls" { finish = "stop" }
        }
        return ChatResult(content: content, toolCalls: toolCalls, finishReason: finish, usage: usage, model: model)
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
        let json = try await transport.json("POST", "/messages", body: body)
        guard let blocks = json["content"]?.arrayValue else { throw transport.malformed("no content array") }
        var text = ""
        var calls: [ToolCall] = []
        for block in blocks {
            switch block["type"]?.stringValue {
            case "text": text += block["text"]?.stringValue ?? ""
            case "tool_use":
                guard let id = block["id"]?.stringValue, let name = block["name"]?.stringValue else {
                    throw transport.malformed("a tool_use block without id or name")
                }
                calls.append(ToolCall(id: id, name: name, arguments: block["input"] ?? [:]))
            default: break
            }
        }
        return Self.result(
            text: text, calls: calls, stop: json["stop_reason"]?.stringValue, usage: Self.usage(json["usage"]),
            model: json["model"]?.stringValue ?? request.model, schemaAnswer: request.responseSchema != nil)
    }

    private func streamed(
        _ body: JSONValue, request: ChatRequest,
        onDelta: @escaping @Sendable (String) async throws -> Void
    ) async throws -> ChatResult {
        let start = ContinuousClock.now
        let response = try await transport.open("POST", "/messages", body: body, accept: "text/event-stream")
        var parser = SSEParser()
        var text = ""
        var firstToken: Duration?
        var stop: String?
        var usage = TokenUsage()
        var model = request.model
        var finished = false
        var deltas = 0
        // Content blocks by index: text, or a tool_use whose input arrives as partial JSON.
        var blocks: [Int: (type: String, id: String, name: String, json: String)] = [:]
        let schemaAnswer = request.responseSchema != nil
        do {
            for try await chunk in response.body {
                for event in parser.feed(chunk) {
                    guard let json = try? JSONParser.parse(event.data) else {
                        throw transport.malformed("a stream event is not JSON")
                    }
                    let type = event.name ?? json["type"]?.stringValue
                    switch type {
                    case "message_start":
                        if let m = json["message"]?["model"]?.stringValue { model = m }
                        usage = Self.usage(json["message"]?["usage"])
                    case "content_block_start":
                        let index = Int(json["index"]?.intValue ?? 0)
                        let block = json["content_block"]
                        blocks[index] = (
                            type: block?["type"]?.stringValue ?? "text", id: block?["id"]?.stringValue ?? "",
                            name: block?["name"]?.stringValue ?? "", json: ""
                        )
                    case "content_block_delta":
                        let index = Int(json["index"]?.intValue ?? 0)
                        let delta = json["delta"]
                        var piece: String?
                        if delta?["type"]?.stringValue == "text_delta", let t = delta?["text"]?.stringValue {
                            text += t
                            piece = t
                        } else if delta?["type"]?.stringValue == "input_json_delta",
                            let partial = delta?["partial_json"]?.stringValue
                        {
                            blocks[index, default: (type: "tool_use", id: "", name: "", json: "")].json += partial
                            // The forced answer tool's input is the answer: stream it like text.
                            if schemaAnswer && blocks[index]?.name == Self.answerTool { piece = partial }
                        }
                        if let piece, !piece.isEmpty {
                            if firstToken == nil { firstToken = ContinuousClock.now - start }
                            deltas += 1
                            try await onDelta(piece)
                        }
                    case "message_delta":
                        if let reason = json["delta"]?["stop_reason"]?.stringValue { stop = reason }
                        if let output = json["usage"]?["output_tokens"]?.intValue { usage.completionTokens = output }
                        if let input = json["usage"]?["input_tokens"]?.intValue, input > 0 {
                            usage.promptTokens = input
                        }
                    case "message_stop":
                        finished = true
                    case "error":
                        let message = json["error"]?["message"]?.stringValue ?? "unknown error"
                        let overloaded = json["error"]?["type"]?.stringValue == "overloaded_error"
                        throw ProviderTransport.AttemptFailure(
                            error: ProviderError(
                                kind: overloaded ? .rateLimited : .unavailable,
                                message: "provider \(name) failed mid-stream: \(transport.redactor.redact(message))"),
                            retryable: deltas == 0)
                    default:
                        break  // ping, content_block_stop, and event types added later
                    }
                }
            }
        } catch let error as HTTPError {
            throw transport.streamBroke(error, afterDeltas: deltas)
        }
        // An ended iteration may mean the task was cancelled (the stream stops yielding then).
        try Task.checkCancellation()
        guard finished else {
            throw ProviderTransport.AttemptFailure(
                error: ProviderError(
                    kind: .unavailable, message: "provider \(name): the stream ended before message_stop"),
                retryable: deltas == 0)
        }
        let calls = blocks.keys.sorted().compactMap { index -> ToolCall? in
            let block = blocks[index]!
            guard block.type == "tool_use" else { return nil }
            return ToolCall(id: block.id, name: block.name, arguments: OpenAIClient.arguments(block.json))
        }
        var result = Self.result(
            text: text, calls: calls, stop: stop, usage: usage, model: model, schemaAnswer: schemaAnswer)
        result.timeToFirstToken = firstToken
        return result
    }

    func embed(_ inputs: [String], model: String) async throws -> EmbeddingResult {
        throw ProviderError(
            kind: .validationFailed,
            message:
                "provider \(name) speaks the Anthropic API, which has no embeddings; map the embedder role to an OpenAI-compatible provider"
        )
    }

    func models() async throws -> [String] {
        try await transport.withRetries { _ in
            let json = try await transport.json("GET", "/models", body: nil)
            return (json["data"]?.arrayValue ?? []).compactMap { $0["id"]?.stringValue }
        }
    }
}
