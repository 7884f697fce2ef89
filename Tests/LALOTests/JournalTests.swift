import Foundation
import Shared
import Testing

/// Reads what laloD sends to journald: a datagram socket at journald's path when no journald runs
/// (as on this machine and in CI), or journalctl when one does.
final class JournalCapture: @unchecked Sendable {
    static let path = "/run/systemd/journal/socket"
    private var fd: Int32 = -1
    let owned: Bool
    private let lock = NSLock()
    private var received: [[String: String]] = []
    private var stopped = false

    init() throws {
        if FileManager.default.fileExists(atPath: Self.path) {
            owned = false
            return
        }
        owned = true
        try FileManager.default.createDirectory(atPath: "/run/systemd/journal", withIntermediateDirectories: true)
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(Self.path.utf8) + [0]) }
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard rc == 0 else { throw HarnessError("cannot bind \(Self.path): \(String(cString: strerror(errno)))") }
        var size: Int32 = 4 << 20
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        var timeout = timeval(tv_sec: 0, tv_usec: 100_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        // Read continuously, as journald does: a datagram socket holds only a few messages
        // (net.unix.max_dgram_qlen) and a sender blocks once it is full.
        Thread { [self] in
            var buffer = [UInt8](repeating: 0, count: 65536)
            while !lock.withLock({ stopped }) {
                let n = recv(fd, &buffer, buffer.count, 0)
                guard n > 0 else { continue }
                var entry: [String: String] = [:]
                for line in buffer[0..<n].split(separator: 0x0A) {
                    guard let equals = line.firstIndex(of: UInt8(ascii: "=")) else { continue }
                    entry[String(decoding: line[line.startIndex..<equals], as: UTF8.self)] =
                        String(decoding: line[(equals + 1)...], as: UTF8.self)
                }
                lock.withLock { received.append(entry) }
            }
        }.start()
    }

    func stop() {
        guard owned else { return }
        lock.withLock { stopped = true }
        usleep(200_000)
        close(fd)
        unlink(Self.path)
    }

    /// Journal entries (field → value) received within `seconds`, until `enough` holds.
    func entries(seconds: Double = 5, until enough: ([[String: String]]) -> Bool) throws -> [[String: String]] {
        var found: [[String: String]] = []
        let deadline = Date().addingTimeInterval(seconds)
        if !owned {
            while Date() < deadline {
                let output = try run(
                    "/usr/bin/journalctl", ["-o", "json", "--no-pager", "SYSLOG_IDENTIFIER=laloD", "-n", "500"])
                found = output.stdout.split(separator: "\n").compactMap { line in
                    (try? JSONParser.parse(String(line)))?.objectValue?.compactMapValues(\.stringValue)
                }
                if enough(found) { return found }
                usleep(200_000)
            }
            return found
        }
        while Date() < deadline {
            found = lock.withLock { received }
            if enough(found) { break }
            usleep(20_000)
        }
        return found
    }
}

@Suite("journald: audit mirror and structured logs", .serialized, .timeLimit(.minutes(1)))
struct JournalTests {
    @Test("every audit entry reaches the journal with LALO_* fields, and logs carry their metadata")
    func mirror() throws {
        let journal = try JournalCapture()
        defer { journal.stop() }
        let daemon = try DaemonProcess(
            config: DaemonProcess.config(extra: "[audit]\njournal = \"on\""),
            environment: ["JOURNAL_STREAM": "0:0"])
        let client = try daemon.client()
        let me = try client.call(SessionWhoami.self)
        let last = try client.call(AuditQuery.self, .init(filter: .init(method: "session.whoami"), limit: 10)).entries
            .last
        let entry = try #require(last)
        let entries = try journal.entries { found in
            found.contains { $0["LALO_HASH"] == entry.hash } && found.contains { $0["MESSAGE"] == "listening" }
        }
        let mirrored = try #require(entries.first { $0["LALO_HASH"] == entry.hash })
        #expect(mirrored["LALO_METHOD"] == "session.whoami")
        #expect(mirrored["LALO_AUDIT_SEQ"] == String(entry.seq))
        #expect(mirrored["LALO_SESSION"] == String(me.sessionId))
        #expect(mirrored["LALO_OUTCOME"] == "ok")
        #expect(mirrored["LALO_PREV_HASH"] == entry.prevHash)
        #expect(mirrored["SYSLOG_IDENTIFIER"] == "laloD")
        let listening = try #require(entries.first { $0["MESSAGE"] == "listening" })
        #expect(listening["LALO_SOCKET"] == daemon.socketPath)
        #expect(listening["PRIORITY"] == "6")
        #expect(daemon.stop() == 0)
    }
}
