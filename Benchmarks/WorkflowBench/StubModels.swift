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
        let fd = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        listen(fd, 256)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        port = Int(UInt16(bigEndian: address.sin_port))
        Thread.detachNewThread { [self] in
            while true {
                let client = accept(fd, nil, nil)
                if client < 0 { continue }
                var flag: Int32 = 1
                setsockopt(client, Int32(IPPROTO_TCP), TCP_NODELAY, &flag, socklen_t(MemoryLayout<Int32>.size))
                Thread.detachNewThread { self.serve(client) }
            }
        }
    }

    private func serve(_ fd: Int32) {
        var buffer = [UInt8](repeating: 0, count: 65536)
        var pending: [UInt8] = []
        while true {
            let n = read(fd, &buffer, buffer.count)
            if n <= 0 { break }
            pending += buffer[0..<n]
            while let end = pending.firstRange(of: Array("\r\n\r\n".utf8)) {
                let head = String(decoding: pending[..<end.lowerBound], as: UTF8.self)
                var bodyLength = 0
                for line in head.lowercased().split(separator: "\r\n") where line.hasPrefix("content-length:") {
                    bodyLength = Int(line.dropFirst(15).trimmingCharacters(in: .whitespaces)) ?? 0
                }
                guard pending.count >= end.upperBound + bodyLength else { break }
                let body = Array(pending[end.upperBound..<(end.upperBound + bodyLength)])
                pending.removeSubrange(..<(end.upperBound + bodyLength))
                let path = head.split(separator: " ").dropFirst().first.map(String.init) ?? "/"
                let reply = JSONWriter.bytes(answer(path: path, body: body))
                let response = Array("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: \(reply.count)\r\n\r\n".utf8) + reply
                _ = response.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            }
        }
        close(fd)
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
        let prompt = request["messages"]?.arrayValue?.compactMap { $0["content"]?.stringValue }.joined(separator: "\n") ?? ""
        // The crash workflows carry their number through the request, the intent and the plan.
        var number: Int?
        if let range = prompt.range(of: #"crash-[0-9]+"#, options: .regularExpression) {
            number = Int(prompt[range].dropFirst(6))
        }
        let content: JSONValue
        switch request["model"]?.stringValue {
        case "interpreter":
            content = ["goal": .string(number.map { "crash-\($0): write the file and place the order" } ?? "list the workspace"),
                       "entities": [], "constraints": [], "expectedOutput": "done", "tools": ["file"]]
        case "judge":
            content = ["score": 0.95, "questions": []]
        case "planner":
            if let number {
                content = ["steps": [
                    ["tool": "file", "arguments": ["operation": "write", "path": .string("order-\(number).txt"), "content": .string("\(number)")],
                     "expectedOutcome": "the file is written", "dependsOn": []],
                    ["tool": "http.request", "arguments": ["url": .string("http://127.0.0.1:\(port)/orders/\(number)"), "method": "POST",
                                                           "json": ["n": .int(Int64(number))]],
                     "expectedOutcome": "the order is placed", "dependsOn": [0]],
                ]]
            } else {
                content = ["steps": [["tool": "file", "arguments": ["operation": "list", "path": "."], "expectedOutcome": "the names",
                                      "dependsOn": []]]]
            }
        default:
            content = ["score": 0.9, "objections": []]
        }
        return ["id": "stub", "object": "chat.completion", "model": request["model"] ?? "stub",
                "choices": [["index": 0, "message": ["role": "assistant", "content": .string(JSONWriter.string(content))],
                             "finish_reason": "stop"]],
                "usage": ["prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20]]
    }
}
