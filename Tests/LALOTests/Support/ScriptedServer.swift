import Foundation
import Shared

/// `Tests/ScriptedServer/scripted_server.py`, started for a test: a real HTTP server on a loopback
/// port that answers from a script and logs what it received.
final class ScriptedServer: @unchecked Sendable {
    let process = Process()
    let port: Int
    private let stdin = Pipe()
    private let http = HTTPProbe()

    static var scriptPath: String {
        // Tests/LALOTests/Support/ScriptedServer.swift → Tests/ScriptedServer/scripted_server.py
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("ScriptedServer/scripted_server.py").path
    }

    var baseURL: String { "http://127.0.0.1:\(port)" }

    init(_ exchanges: [JSONValue] = []) throws {
        let directory = TemporaryDirectory("lalo-script")
        directory.write("script.json", JSONWriter.string(["exchanges": .array(exchanges)]))
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", Self.scriptPath, directory.file("script.json")]
        let stdout = Pipe()
        process.standardOutput = stdout
        process.standardInput = stdin
        try process.run()
        ChildProcesses.register(process.processIdentifier)
        // The first line is "PORT n".
        var line = Data()
        while !line.contains(UInt8(ascii: "\n")) {
            let chunk = stdout.fileHandleForReading.availableData
            if chunk.isEmpty { throw HarnessError("the scripted server exited before printing its port") }
            line.append(chunk)
        }
        let text = String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard text.hasPrefix("PORT "), let port = Int(text.dropFirst(5)) else {
            throw HarnessError("the scripted server printed \(text)")
        }
        self.port = port
    }

    /// Replaces the script (keeps the log).
    func load(_ exchanges: [JSONValue]) throws {
        let status = try http.request(
            "POST", "\(baseURL)/__script", body: JSONWriter.string(["exchanges": .array(exchanges)]))
        guard status.0 == 200 else { throw HarnessError("loading a script failed: \(status.1)") }
    }

    /// Every request the server received, in order.
    func requests() throws -> [JSONValue] {
        let (_, body) = try http.request("GET", "\(baseURL)/__log")
        return try JSONParser.parse(body).arrayValue ?? []
    }

    func remaining() throws -> Int {
        let (_, body) = try http.request("GET", "\(baseURL)/__remaining")
        return Int(try JSONParser.parse(body)["remaining"]?.intValue ?? -1)
    }

    deinit {
        try? stdin.fileHandleForWriting.close()
        process.terminate()
        process.waitUntilExit()
    }
}

/// A plain HTTP/1.1 client for the control endpoints (curl as a subprocess: independent of the
/// code under test).
struct HTTPProbe {
    func request(_ method: String, _ url: String, body: String? = nil) throws -> (Int, String) {
        var arguments = ["-sS", "-X", method, "-w", "\n%{http_code}", url]
        if let body { arguments += ["-H", "content-type: application/json", "--data-binary", "@-"] }
        let result = try run("/usr/bin/curl", arguments, stdin: body)
        guard result.status == 0 else { throw HarnessError("curl \(url) failed: \(result.stderr)") }
        let lines = result.stdout.split(separator: "\n", omittingEmptySubsequences: false)
        return (Int(lines.last ?? "") ?? 0, lines.dropLast().joined(separator: "\n"))
    }
}

/// Builders for scripted replies in the providers' documented formats.
enum Reply {
    static func json(_ body: JSONValue, status: Int = 200, headers: [String: String] = [:]) -> JSONValue {
        ["status": .int(Int64(status)), "json": body, "headers": .object(headers.mapValues { .string($0) })]
    }

    static func sse(_ events: [JSONValue], delayMs: Int = 0, cutAfter: Int? = nil) -> JSONValue {
        var reply: [String: JSONValue] = ["status": 200, "sse": .array(events), "eventDelayMs": .int(Int64(delayMs))]
        if let cutAfter { reply["cutAfter"] = .int(Int64(cutAfter)) }
        return .object(reply)
    }

    static func error(_ status: Int, _ message: String, headers: [String: String] = [:]) -> JSONValue {
        json(["error": ["message": .string(message), "type": "test_error"]], status: status, headers: headers)
    }

    /// An OpenAI chat completion.
    static func openAIChat(
        _ content: String?, toolCalls: [JSONValue] = [], finish: String = "stop",
        prompt: Int64 = 11, completion: Int64 = 7
    ) -> JSONValue {
        var message: [String: JSONValue] = ["role": "assistant", "content": content.map { .string($0) } ?? .null]
        if !toolCalls.isEmpty { message["tool_calls"] = .array(toolCalls) }
        return json([
            "id": "chatcmpl-1", "object": "chat.completion", "model": "gpt-test",
            "choices": [["index": 0, "message": .object(message), "finish_reason": .string(finish)]],
            "usage": [
                "prompt_tokens": .int(prompt), "completion_tokens": .int(completion),
                "total_tokens": .int(prompt + completion),
            ],
        ])
    }

    /// OpenAI stream chunks carrying `pieces` of content, then a finish chunk, usage and [DONE].
    static func openAIStream(_ pieces: [String], finish: String = "stop") -> [JSONValue] {
        var events: [JSONValue] = [chunk(["role": "assistant"])]
        events += pieces.map { chunk(["content": .string($0)]) }
        events.append([
            "id": "c", "object": "chat.completion.chunk", "model": "gpt-test",
            "choices": [["index": 0, "delta": [:], "finish_reason": .string(finish)]],
        ])
        events.append([
            "id": "c", "object": "chat.completion.chunk", "model": "gpt-test", "choices": [],
            "usage": ["prompt_tokens": 5, "completion_tokens": .int(Int64(pieces.count))],
        ])
        events.append("[DONE]")
        return events
    }

    static func chunk(_ delta: JSONValue) -> JSONValue {
        [
            "id": "c", "object": "chat.completion.chunk", "model": "gpt-test",
            "choices": [["index": 0, "delta": delta, "finish_reason": .null]],
        ]
    }

    /// An Anthropic Messages response.
    static func anthropicMessage(_ blocks: [JSONValue], stop: String = "end_turn") -> JSONValue {
        json([
            "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-test", "content": .array(blocks),
            "stop_reason": .string(stop), "usage": ["input_tokens": 12, "output_tokens": 9],
        ])
    }

    /// Anthropic stream events (`event:` names and `data:` objects) for the given content blocks.
    static func anthropicStream(
        text: [String], toolUse: (id: String, name: String, json: [String])? = nil,
        stop: String = "end_turn"
    ) -> [JSONValue] {
        func event(_ name: String, _ data: JSONValue) -> JSONValue { ["event": .string(name), "data": data] }
        var events = [
            event(
                "message_start",
                [
                    "type": "message_start",
                    "message": [
                        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-test", "content": [],
                        "usage": ["input_tokens": 21, "output_tokens": 1],
                    ],
                ])
        ]
        events.append(event("ping", ["type": "ping"]))
        var index: Int64 = 0
        if !text.isEmpty {
            events.append(
                event(
                    "content_block_start",
                    [
                        "type": "content_block_start", "index": .int(index),
                        "content_block": ["type": "text", "text": ""],
                    ]))
            for piece in text {
                events.append(
                    event(
                        "content_block_delta",
                        [
                            "type": "content_block_delta", "index": .int(index),
                            "delta": ["type": "text_delta", "text": .string(piece)],
                        ]))
            }
            events.append(event("content_block_stop", ["type": "content_block_stop", "index": .int(index)]))
            index += 1
        }
        if let toolUse {
            events.append(
                event(
                    "content_block_start",
                    [
                        "type": "content_block_start", "index": .int(index),
                        "content_block": [
                            "type": "tool_use", "id": .string(toolUse.id),
                            "name": .string(toolUse.name), "input": [:],
                        ],
                    ]))
            for piece in toolUse.json {
                events.append(
                    event(
                        "content_block_delta",
                        [
                            "type": "content_block_delta", "index": .int(index),
                            "delta": ["type": "input_json_delta", "partial_json": .string(piece)],
                        ]))
            }
            events.append(event("content_block_stop", ["type": "content_block_stop", "index": .int(index)]))
        }
        events.append(
            event(
                "message_delta",
                [
                    "type": "message_delta", "delta": ["stop_reason": .string(stop)],
                    "usage": ["output_tokens": 15],
                ]))
        events.append(event("message_stop", ["type": "message_stop"]))
        return events
    }
}
