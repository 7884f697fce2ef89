import BenchSupport
import Foundation
import Shared
import Synchronization

/// An HTTP/1.1 server on a loopback port speaking just enough of the OpenAI chat API for every
/// workflow role, plus an `/orders/N` endpoint that counts how often each order was placed.
/// Answers are chosen by the `model` field (each role is bound to a model named after it).
final class StubModels: Sendable {
    let port: Int
    let delayMs = Atomic<Int>(0)
    let orderDelayMs = Atomic<Int>(0)
    let calls = Atomic<Int>(0)
    let orders = Mutex<[Int: Int]>([:])

    init() {
        // `self` is not complete until `port` is set; the responder reaches it through a box.
        let box = Mutex<StubModels?>(nil)
        port = LoopbackHTTPServer.start { path, body in
            guard let stub = box.withLock({ $0 }) else {
                return Array("HTTP/1.1 503 Starting\r\nContent-Length: 0\r\n\r\n".utf8)
            }
            let reply = JSONWriter.bytes(stub.answer(path: path, body: body))
            return Array(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: \(reply.count)\r\n\r\n".utf8)
                + reply
        }
        box.withLock { $0 = self }
    }

    private func answer(path: String, body: [UInt8]) -> JSONValue {
        if path.hasPrefix("/orders/"), let n = Int(path.dropFirst(8)) {
            let delay = orderDelayMs.load(ordering: .relaxed)
            // Counted on arrival: a call that laloD's kill cuts off still counts as sent.
            orders.withLock { $0[n, default: 0] += 1 }
            if delay > 0 { usleep(UInt32(delay) * 1000) }
            return ["ok": true]
        }
        guard path.hasSuffix("/chat/completions") else { return ["data": [["id": "stub"]]] }
        calls.add(1, ordering: .relaxed)
        let delay = delayMs.load(ordering: .relaxed)
        if delay > 0 { usleep(UInt32(delay) * 1000) }
        let request = (try? JSONParser.parse(body)) ?? .null
        let prompt =
            request["messages"]?.arrayValue?.compactMap { $0["content"]?.stringValue }.joined(separator: "\n") ?? ""
        // The crash workflows carry their number through the request, the intent and the plan.
        var number: Int?
        if let range = prompt.range(of: #"crash-[0-9]+"#, options: .regularExpression) {
            number = Int(prompt[range].dropFirst(6))
        }
        let content: JSONValue
        switch request["model"]?.stringValue {
        case "interpreter":
            content = [
                "goal": .string(
                    number.map { "crash-\($0): write the file and place the order" } ?? "list the workspace"),
                "entities": [], "constraints": [], "expectedOutput": "done", "tools": ["file"],
            ]
        case "judge":
            content = ["score": 0.95, "questions": []]
        case "planner":
            if let number {
                content = [
                    "steps": [
                        [
                            "tool": "file",
                            "arguments": [
                                "operation": "write", "path": .string("order-\(number).txt"),
                                "content": .string("\(number)"),
                            ],
                            "expectedOutcome": "the file is written", "dependsOn": [],
                        ],
                        [
                            "tool": "http.request",
                            "arguments": [
                                "url": .string("http://127.0.0.1:\(port)/orders/\(number)"), "method": "POST",
                                "json": ["n": .int(Int64(number))],
                            ],
                            "expectedOutcome": "the order is placed", "dependsOn": [0],
                        ],
                    ]
                ]
            } else {
                content = [
                    "steps": [
                        [
                            "tool": "file", "arguments": ["operation": "list", "path": "."],
                            "expectedOutcome": "the names",
                            "dependsOn": [],
                        ]
                    ]
                ]
            }
        default:
            content = ["score": 0.9, "objections": []]
        }
        return [
            "id": "stub", "object": "chat.completion", "model": request["model"] ?? "stub",
            "choices": [
                [
                    "index": 0, "message": ["role": "assistant", "content": .string(JSONWriter.string(content))],
                    "finish_reason": "stop",
                ]
            ],
            "usage": ["prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20],
        ]
    }
}
