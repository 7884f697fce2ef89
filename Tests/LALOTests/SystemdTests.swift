import Foundation
import Shared
import Testing

/// A datagram socket standing in for systemd's notify socket.
final class NotifySocket {
    let path: String
    private let fd: Int32

    init(directory: TemporaryDirectory) throws {
        path = directory.file("notify.sock")
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: Array(path.utf8) + [0])
        }
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard rc == 0 else { throw HarnessError("cannot bind notify socket") }
        var timeout = timeval(tv_sec: 0, tv_usec: 200_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(fd) }

    /// Collects messages until `predicate` holds for one of them or the time is up.
    func waitFor(seconds: Double = 15, _ predicate: (String) -> Bool) -> [String] {
        var messages: [String] = []
        let deadline = Date().addingTimeInterval(seconds)
        var buffer = [UInt8](repeating: 0, count: 4096)
        while Date() < deadline {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n > 0 {
                let message = String(decoding: buffer[0..<n], as: UTF8.self)
                messages.append(message)
                if predicate(message) { return messages }
            }
        }
        return messages
    }
}

@Suite("systemd integration", .serialized, .timeLimit(.minutes(2)))
struct SystemdTests {
    @Test("READY, STATUS, WATCHDOG and STOPPING reach the notify socket")
    func notify() throws {
        let directory = TemporaryDirectory("lalo-notify")
        let notify = try NotifySocket(directory: directory)
        let daemon = try DaemonProcess(
            environment: ["NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "400000"],
            waitForSocket: false)
        let ready = notify.waitFor { $0.contains("READY=1") }
        #expect(ready.contains { $0.contains("READY=1") })
        try daemon.waitForSocket()
        let status = notify.waitFor { $0.hasPrefix("STATUS=") && $0.contains("sessions") }
        #expect(status.contains { $0.contains("STATUS=") && $0.contains("audit at") })
        let watchdog = notify.waitFor { $0.contains("WATCHDOG=1") }
        #expect(watchdog.contains { $0.contains("WATCHDOG=1") })
        daemon.signal(SIGTERM)
        let stopping = notify.waitFor { $0.contains("STOPPING=1") }
        #expect(stopping.contains { $0.contains("STOPPING=1") })
        #expect(daemon.waitForExit() == 0)
    }

    @Test("socket activation through systemd-socket-activate")
    func socketActivation() throws {
        let directory = TemporaryDirectory("lalo-activate")
        let socketPath = directory.file("activated.sock")
        directory.write("laloD.toml", DaemonProcess.config())
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/systemd-socket-activate")
        process.arguments = [
            "-l", socketPath, Binaries.laloD, "--config", directory.file("laloD.toml"),
            "--state-dir", directory.file("state"),
        ]
        process.standardError = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        ChildProcesses.register(process.processIdentifier)
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        var client: LaloClient? = nil
        for _ in 0..<500 where client == nil {
            client = try? LaloClient(socketPath: socketPath)
            if client == nil { usleep(20_000) }
        }
        let connected = try #require(client)
        connected.setReceiveTimeout(seconds: 20)
        let status = try connected.call(SystemStatus.self)
        #expect(status.socketActivated)
        #expect(status.socket == socketPath, "status names the socket systemd passed in")
        connected.close()
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        // The socket belongs to the activator (systemd), so laloD must not remove it.
        var info = stat()
        #expect(lstat(socketPath, &info) == 0)
    }

    @Test("the hardened unit scores 3.0 or lower in systemd-analyze security")
    func hardening() throws {
        let unit = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("systemd/laloD.service").path
        let result = try run("/usr/bin/systemd-analyze", ["security", "--offline=true", "--no-pager", unit])
        let line = try #require(result.stdout.split(separator: "\n").first { $0.contains("Overall exposure level") })
        let score = try #require(line.split(separator: " ").compactMap { Double($0) }.first)
        #expect(score <= 3.0, "\(line)")
    }
}
