import Foundation
import Shared
import Synchronization
import Testing

@testable import laloD

/// The real OpenAI-compatible and Anthropic clients, over libcurl, against the scripted server.
@Suite("Model providers")
struct ProviderTests {
    static func openAI(
        _ server: ScriptedServer, retries: Int = 3, timeout: Duration = .seconds(10),
        apiKey: String = "sk-test-0123456789"
    ) -> OpenAIClient {
        OpenAIClient(
            transport: transport(
                server, path: "/v1", retries: retries, timeout: timeout,
                auth: [("Authorization", "Bearer \(apiKey)")]), schemaStyle: .jsonSchema)
    }

    static func anthropic(_ server: ScriptedServer, retries: Int = 3) -> AnthropicClient {
        AnthropicClient(
            transport: transport(
                server, path: "/v1", retries: retries, timeout: .seconds(10),
                auth: [("x-api-key", "ak-test-0123456789")],
                extra: [("anthropic-version", AnthropicClient.apiVersion)]))
    }

    static func transport(
        _ server: ScriptedServer, path: String, retries: Int, timeout: Duration,
        auth: [(name: String, value: String)], extra: [(name: String, value: String)] = []
    ) -> ProviderTransport {
        var endpoint = ProviderEndpoint(name: "scripted", baseURL: server.baseURL + path)
        endpoint.timeout = timeout
        endpoint.connectTimeout = .seconds(2)
        endpoint.retry = RetryPolicy(maxRetries: retries, baseDelay: .milliseconds(20), maxDelay: .milliseconds(100))
        endpoint.authHeaders = { auth }
        endpoint.extraHeaders = extra
        return ProviderTransport(endpoint: endpoint, http: HTTPClient(), redactor: Redactor())
    }

    static let hello = ChatRequest(
        model: "gpt-test",
        messages: [
            ChatMessage(role: "system", content: "Be brief."),
            ChatMessage(role: "user", content: "Hello"),
        ])

    final class Deltas: Sendable {
        let items = Mutex<[String]>([])
        func add(_ s: String) { items.withLock { $0.append(s) } }
        var all: [String] { items.withLock { $0 } }
    }

    // MARK: OpenAI

    @Test func openAIStreamingAssemblesDeltasAndUsage() async throws {
        let server = try ScriptedServer([
            [
                "expect": [
                    "method": "POST", "path": "/v1/chat/completions",
                    "headers": ["authorization": "Bearer sk-test-0123456789", "accept": "text/event-stream"],
                    "json": [
                        "model": "gpt-test", "stream": true, "stream_options": ["include_usage": true],
                        "messages": [
                            ["role": "system", "content": "Be brief."], ["role": "user", "content": "Hello"],
                        ],
                    ],
                ],
                "reply": Reply.sse(Reply.openAIStream(["Hel", "lo", ", wor", "ld"])),
            ]
        ])
        let deltas = Deltas()
        let result = try await Self.openAI(server).chat(Self.hello, stream: true) { deltas.add($0) }
        #expect(deltas.all == ["Hel", "lo", ", wor", "ld"])
        #expect(result.content == "Hello, world")
        #expect(result.finishReason == "stop")
        #expect(result.usage == TokenUsage(promptTokens: 5, completionTokens: 4))
        #expect(result.timeToFirstToken != nil)
        #expect(result.retries == 0)
        #expect(try server.remaining() == 0)
    }

    @Test func openAIToolCallsWholeAndStreamed() async throws {
        let tool = ToolSpec(
            name: "get_weather", description: "Weather for a city",
            parameters: ["type": "object", "properties": ["city": ["type": "string"]], "required": ["city"]])
        var request = Self.hello
        request.tools = [tool]
        let server = try ScriptedServer([
            [
                "expect": [
                    "json": [
                        "tools": [
                            [
                                "type": "function",
                                "function": [
                                    "name": "get_weather", "description": "Weather for a city",
                                    "parameters": tool.parameters,
                                ],
                            ]
                        ]
                    ]
                ],
                "reply": Reply.openAIChat(
                    nil,
                    toolCalls: [
                        [
                            "id": "call_1", "type": "function",
                            "function": ["name": "get_weather", "arguments": #"{"city":"Oslo"}"#],
                        ],
                        [
                            "id": "call_2", "type": "function",
                            "function": ["name": "get_weather", "arguments": "{not json"],
                        ],
                    ], finish: "tool_calls"),
            ],
            [
                "reply": Reply.sse([
                    Reply.chunk([
                        "role": "assistant",
                        "tool_calls": [
                            [
                                "index": 0, "id": "call_9", "type": "function",
                                "function": ["name": "get_weather", "arguments": ""],
                            ]
                        ],
                    ]),
                    Reply.chunk(["tool_calls": [["index": 0, "function": ["arguments": #"{"ci"#]]]]),
                    Reply.chunk(["tool_calls": [["index": 0, "function": ["arguments": #"ty": "Bergen"}"#]]]]),
                    ["id": "c", "choices": [["index": 0, "delta": [:], "finish_reason": "tool_calls"]]],
                    "[DONE]",
                ])
            ],
        ])
        let whole = try await Self.openAI(server).chat(request, stream: false) { _ in }
        #expect(whole.finishReason == "toolCalls")
        #expect(whole.toolCalls.count == 2)
        #expect(whole.toolCalls[0] == ToolCall(id: "call_1", name: "get_weather", arguments: ["city": "Oslo"]))
        // Arguments that are not JSON are kept as text for the caller to refuse, never guessed at.
        #expect(whole.toolCalls[1].arguments == .string("{not json"))
        let streamed = try await Self.openAI(server).chat(request, stream: true) { _ in }
        #expect(streamed.toolCalls == [ToolCall(id: "call_9", name: "get_weather", arguments: ["city": "Bergen"])])
        #expect(streamed.finishReason == "toolCalls")
    }

    @Test func openAIJSONSchemaOutputAndToolResultMessages() async throws {
        let schema: JSONValue = [
            "type": "object", "properties": ["answer": ["type": "integer"]], "required": ["answer"],
        ]
        var request = Self.hello
        request.responseSchema = schema
        request.messages += [
            ChatMessage(
                role: "assistant", content: "", toolCalls: [ToolCall(id: "call_1", name: "calc", arguments: ["x": 2])]),
            ChatMessage(role: "tool", content: "4", toolCallId: "call_1"),
        ]
        let server = try ScriptedServer([
            [
                "expect": [
                    "json": [
                        "response_format": [
                            "type": "json_schema",
                            "json_schema": ["name": "response", "schema": schema, "strict": true],
                        ],
                        "messages": [
                            ["role": "system", "content": "Be brief."], ["role": "user", "content": "Hello"],
                            [
                                "role": "assistant", "content": "",
                                "tool_calls": [
                                    [
                                        "id": "call_1", "type": "function",
                                        "function": ["name": "calc", "arguments": #"{"x":2}"#],
                                    ]
                                ],
                            ],
                            ["role": "tool", "content": "4", "tool_call_id": "call_1"],
                        ],
                    ]
                ],
                "reply": Reply.openAIChat(#"{"answer": 4}"#),
            ]
        ])
        let result = try await Self.openAI(server).chat(request, stream: false) { _ in }
        #expect(try JSONParser.parse(result.content) == ["answer": 4])
        #expect(result.usage == TokenUsage(promptTokens: 11, completionTokens: 7))
        // llama-cpp-python's server takes {type: json_object, schema} instead.
        let local = OpenAIClient(
            transport: Self.transport(server, path: "/v1", retries: 0, timeout: .seconds(5), auth: []),
            schemaStyle: .jsonObject)
        #expect(local.body(request, stream: false)["response_format"] == ["type": "json_object", "schema": schema])
    }

    @Test func embeddingsAndModels() async throws {
        let server = try ScriptedServer([
            [
                "expect": [
                    "method": "POST", "path": "/v1/embeddings", "json": ["model": "emb", "input": ["a", "b"]],
                ],
                "reply": Reply.json([
                    "data": [["index": 0, "embedding": [0.5, -1]], ["index": 1, "embedding": [0.25, 2]]],
                    "model": "emb", "usage": ["prompt_tokens": 2, "total_tokens": 2],
                ]),
            ],
            [
                "expect": ["method": "GET", "path": "/v1/models"],
                "reply": Reply.json(["object": "list", "data": [["id": "gpt-a"], ["id": "gpt-b"]]]),
            ],
        ])
        let client = Self.openAI(server)
        let embedded = try await client.embed(["a", "b"], model: "emb")
        #expect(embedded.vectors == [[0.5, -1], [0.25, 2]])
        #expect(embedded.usage.promptTokens == 2)
        #expect(try await client.models() == ["gpt-a", "gpt-b"])
    }

    // MARK: Anthropic

    @Test func anthropicStreamingTextAndToolUse() async throws {
        let server = try ScriptedServer([
            [
                "expect": [
                    "method": "POST", "path": "/v1/messages",
                    "headers": ["x-api-key": "ak-test-0123456789", "anthropic-version": "2023-06-01"],
                    "headersAbsent": ["authorization"],
                    "json": [
                        "model": "claude-test", "max_tokens": 1024, "stream": true, "system": "Be brief.",
                        "messages": [["role": "user", "content": "Hello"]],
                    ],
                ],
                "reply": Reply.sse(
                    Reply.anthropicStream(
                        text: ["Let me ", "check."],
                        toolUse: (id: "toolu_1", name: "get_weather", json: [#"{"city""#, #": "Oslo"}"#]),
                        stop: "tool_use")),
            ]
        ])
        var request = Self.hello
        request.model = "claude-test"
        let deltas = Deltas()
        let result = try await Self.anthropic(server).chat(request, stream: true) { deltas.add($0) }
        #expect(deltas.all == ["Let me ", "check."])
        #expect(result.content == "Let me check.")
        #expect(result.toolCalls == [ToolCall(id: "toolu_1", name: "get_weather", arguments: ["city": "Oslo"])])
        #expect(result.finishReason == "toolCalls")
        #expect(result.usage == TokenUsage(promptTokens: 21, completionTokens: 15))
        #expect(result.model == "claude-test")
    }

    @Test func anthropicSchemaAnswerThroughForcedTool() async throws {
        let schema: JSONValue = [
            "type": "object", "properties": ["answer": ["type": "integer"]], "required": ["answer"],
        ]
        let server = try ScriptedServer([
            [
                "expect": [
                    "json": [
                        "tool_choice": ["type": "tool", "name": "respond"],
                        "tools": [
                            [
                                "name": "respond", "description": "Give the answer in the required structure.",
                                "input_schema": schema,
                            ]
                        ],
                    ]
                ],
                "reply": Reply.anthropicMessage(
                    [["type": "tool_use", "id": "toolu_2", "name": "respond", "input": ["answer": 42]]],
                    stop: "tool_use"),
            ],
            [
                "reply": Reply.sse(
                    Reply.anthropicStream(
                        text: [],
                        toolUse: (
                            id: "toolu_3", name: "respond",
                            json: [#"{"ans"#, #"wer": 7}"#]
                        ), stop: "tool_use"))
            ],
        ])
        var request = Self.hello
        request.responseSchema = schema
        let whole = try await Self.anthropic(server).chat(request, stream: false) { _ in }
        #expect(try JSONParser.parse(whole.content) == ["answer": 42])
        #expect(whole.toolCalls.isEmpty)
        #expect(whole.finishReason == "stop")
        let deltas = Deltas()
        let streamed = try await Self.anthropic(server).chat(request, stream: true) { deltas.add($0) }
        #expect(try JSONParser.parse(streamed.content) == ["answer": 7])
        #expect(deltas.all.joined() == #"{"answer": 7}"#)
    }

    @Test func anthropicToolResultsGoBackAsOneUserTurn() {
        let client = AnthropicClient(
            transport: ProviderTransport(
                endpoint: ProviderEndpoint(name: "a", baseURL: "http://127.0.0.1:9"),
                http: HTTPClient(), redactor: Redactor()))
        let request = ChatRequest(
            model: "m",
            messages: [
                ChatMessage(role: "user", content: "Weather in Oslo and Bergen?"),
                ChatMessage(
                    role: "assistant", content: "",
                    toolCalls: [
                        ToolCall(id: "t1", name: "w", arguments: ["city": "Oslo"]),
                        ToolCall(id: "t2", name: "w", arguments: ["city": "Bergen"]),
                    ]),
                ChatMessage(role: "tool", content: "rain", toolCallId: "t1"),
                ChatMessage(role: "tool", content: "sun", toolCallId: "t2"),
            ])
        let messages = client.body(request, stream: false)["messages"]?.arrayValue ?? []
        #expect(messages.count == 3)
        #expect(messages[1]["content"]?.arrayValue?.count == 2)
        #expect(
            messages[2] == [
                "role": "user",
                "content": [
                    ["type": "tool_result", "tool_use_id": "t1", "content": "rain"],
                    ["type": "tool_result", "tool_use_id": "t2", "content": "sun"],
                ],
            ])
    }

    // MARK: Failures

    struct FailureCase: Sendable, CustomTestStringConvertible {
        var name: String
        var replies: [JSONValue]
        var stream = false
        var retries = 3
        var timeout: Duration = .seconds(10)
        /// nil: the call succeeds.
        var kind: ErrorKind?
        var requests: Int
        var retriesReported: Int
        var testDescription: String { name }
    }

    static let failureCases: [FailureCase] = [
        FailureCase(
            name: "429 then success is retried",
            replies: [
                Reply.error(429, "slow down", headers: ["retry-after": "0"]),
                Reply.openAIChat("ok"),
            ],
            kind: nil, requests: 2, retriesReported: 1),
        FailureCase(
            name: "429 until retries run out is rateLimited",
            replies: Array(repeating: Reply.error(429, "slow down", headers: ["retry-after": "0"]), count: 3),
            retries: 2, kind: .rateLimited, requests: 3, retriesReported: 2),
        FailureCase(
            name: "Retry-After beyond the limit is not waited for",
            replies: [Reply.error(429, "come back tomorrow", headers: ["retry-after": "86400"])],
            kind: .rateLimited, requests: 1, retriesReported: 0),
        FailureCase(
            name: "500 then 503 then success",
            replies: [
                Reply.error(500, "boom"), Reply.error(503, "overloaded"),
                Reply.openAIChat("ok"),
            ],
            kind: nil, requests: 3, retriesReported: 2),
        FailureCase(
            name: "persistent 500 is unavailable", replies: Array(repeating: Reply.error(500, "boom"), count: 4),
            kind: .unavailable, requests: 4, retriesReported: 3),
        FailureCase(
            name: "401 is not retried", replies: [Reply.error(401, "invalid api key")],
            kind: .unavailable, requests: 1, retriesReported: 0),
        FailureCase(
            name: "400 is validationFailed, not retried", replies: [Reply.error(400, "messages: too long")],
            kind: .validationFailed, requests: 1, retriesReported: 0),
        FailureCase(
            name: "malformed JSON is unavailable",
            replies: [
                [
                    "status": 200, "body": "{\"choices\": [",
                    "headers": ["content-type": "application/json"],
                ]
            ],
            kind: .unavailable, requests: 1, retriesReported: 0),
        FailureCase(
            name: "connection closed without answer is retried", replies: [["close": true], Reply.openAIChat("ok")],
            kind: nil, requests: 2, retriesReported: 1),
        FailureCase(
            name: "slow response past the timeout is timeout",
            replies: [["status": 200, "delayMs": 3000, "json": ["choices": []]]],
            timeout: .milliseconds(700), kind: .timeout, requests: 1, retriesReported: 0),
        FailureCase(
            name: "stream cut mid-way after deltas is unavailable, not retried",
            replies: [Reply.sse(Reply.openAIStream(["a", "b", "c", "d"]), cutAfter: 3)], stream: true,
            kind: .unavailable, requests: 1, retriesReported: 0),
        FailureCase(
            name: "stream cut before any delta is retried",
            replies: [
                Reply.sse(Reply.openAIStream(["a", "b"]), cutAfter: 1), Reply.sse(Reply.openAIStream(["a", "b"])),
            ],
            stream: true, kind: nil, requests: 2, retriesReported: 1),
        FailureCase(
            name: "stream without [DONE] or finish is unavailable",
            replies: [Reply.sse([Reply.chunk(["content": "x"])])], stream: true,
            kind: .unavailable, requests: 1, retriesReported: 0),
    ]

    @Test(arguments: failureCases)
    func failuresMapToErrorKinds(_ failure: FailureCase) async throws {
        let server = try ScriptedServer(failure.replies.map { ["reply": $0] })
        let client = Self.openAI(server, retries: failure.retries, timeout: failure.timeout)
        do {
            let result = try await client.chat(Self.hello, stream: failure.stream) { _ in }
            #expect(failure.kind == nil, "expected \(String(describing: failure.kind)), got success")
            #expect(result.retries == failure.retriesReported)
        } catch let error as ProviderError {
            #expect(error.kind == failure.kind, "\(error.message)")
            #expect(error.retries == failure.retriesReported)
            // Provider error text is passed on, the API key never.
            #expect(!error.message.contains("sk-test"))
            #expect(!JSONWriter.string(RPCError(error.modelError).json).contains("sk-test"))
        }
        let requests = try server.requests()
        #expect(requests.count == failure.requests)
    }

    @Test func retryAfterIsHonoured() async throws {
        let server = try ScriptedServer([
            ["reply": Reply.error(429, "slow down", headers: ["retry-after": "1"])],
            ["reply": Reply.openAIChat("ok")],
        ])
        let result = try await Self.openAI(server).chat(Self.hello, stream: false) { _ in }
        #expect(result.retries == 1)
        let times = try server.requests().compactMap { request -> Double? in
            if case .double(let d)? = request["time"] { return d }
            return request["time"]?.intValue.map(Double.init)
        }
        #expect(times.count == 2)
        // The base backoff is 20 ms here: only Retry-After explains a gap of a second.
        #expect(times[1] - times[0] >= 0.95)
    }

    @Test func retryAfterParsing() {
        #expect(RetryPolicy.parseRetryAfter("3") == .seconds(3))
        #expect(RetryPolicy.parseRetryAfter("0.5") == .milliseconds(500))
        let now = Date(timeIntervalSince1970: 1_700_000_000)
        #expect(RetryPolicy.parseRetryAfter("Tue, 14 Nov 2023 22:13:30 GMT", now: now) == .seconds(10))
        #expect(RetryPolicy.parseRetryAfter("soon") == nil)
        #expect(RetryPolicy.parseRetryAfter(nil) == nil)
        let policy = RetryPolicy(maxRetries: 5, baseDelay: .milliseconds(100), maxDelay: .seconds(1))
        for attempt in 0..<8 {
            let delay = policy.delay(attempt: attempt, retryAfter: nil)
            let step = min(Duration.seconds(1), .milliseconds(100) * (1 << attempt))
            #expect(delay >= step / 2 && delay <= step)
        }
    }

    @Test func cancellationAbortsTheTransfer() async throws {
        // A long stream (20 s at 100 ms an event): many suites run at once on two cores, and
        // their blocking calls can keep this test's task from running for seconds; it must still
        // be reading the stream when it gets to cancel, or there is nothing left to abort.
        let pieces = (0..<200).map { "tok\($0) " }
        let server = try ScriptedServer([["reply": Reply.sse(Reply.openAIStream(pieces), delayMs: 100)]])
        let deltas = Deltas()
        let client = Self.openAI(server)
        let task = Task {
            try await client.chat(Self.hello, stream: true) { deltas.add($0) }
        }
        while deltas.all.count < 3 { try await Task.sleep(for: .milliseconds(10)) }
        task.cancel()
        let outcome = await task.result
        #expect(throws: CancellationError.self) { try outcome.get() }
        // The server notices the client going away on its next write.
        var log: JSONValue = .null
        for _ in 0..<50 {
            log = try server.requests().first ?? .null
            if log["clientDisconnected"] == .bool(true) { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(log["clientDisconnected"] == .bool(true))
        let sent = log["eventsSent"]?.intValue ?? 999
        #expect(sent < Int64(pieces.count), "the stream should stop early, sent \(sent)")
        #expect(deltas.all.count < pieces.count)
    }

    @Test func sseParserHandlesSplitsCommentsAndLineEndings() {
        var parser = SSEParser()
        let text = ": comment\r\nevent: a\r\ndata: one\r\ndata: two\r\n\r\ndata: {\"x\":1}\n\nevent: b\rdata: three\r\r"
        var events: [SSEParser.Event] = []
        // Byte by byte: every split point a network could produce.
        for byte in Array(text.utf8) { events += parser.feed([byte]) }
        #expect(
            events == [
                SSEParser.Event(name: "a", data: "one\ntwo"), SSEParser.Event(name: nil, data: #"{"x":1}"#),
                SSEParser.Event(name: "b", data: "three"),
            ])
        #expect(!parser.hasPartialEvent)
        _ = parser.feed(Array("data: cut".utf8))
        #expect(parser.hasPartialEvent)
    }
}
