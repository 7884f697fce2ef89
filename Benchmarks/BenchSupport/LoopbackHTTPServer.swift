import Foundation

/// A minimal HTTP/1.1 server on a free loopback port for the benchmarks' stand-in providers:
/// a thread per connection, keep-alive, request bodies by Content-Length, and whatever bytes
/// `respond` returns for each request (status line, headers and body).
public enum LoopbackHTTPServer {
    /// Starts listening and returns the port.
    public static func start(respond: @escaping @Sendable (_ path: String, _ body: [UInt8]) -> [UInt8]) -> Int {
        let fd = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        listen(fd, 256)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        Thread.detachNewThread {
            while true {
                let client = accept(fd, nil, nil)
                if client < 0 { continue }
                var flag: Int32 = 1
                setsockopt(client, Int32(IPPROTO_TCP), TCP_NODELAY, &flag, socklen_t(MemoryLayout<Int32>.size))
                Thread.detachNewThread { serve(client, respond) }
            }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Answers each request on the connection until the client closes it.
    private static func serve(_ fd: Int32, _ respond: @Sendable (String, [UInt8]) -> [UInt8]) {
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
                let response = respond(path, body)
                _ = response.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            }
        }
        close(fd)
    }
}
