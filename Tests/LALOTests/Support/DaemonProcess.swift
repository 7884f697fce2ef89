import Foundation
import Shared
import Testing

/// Where `swift build` put the executables next to this test binary.
enum Binaries {
    static let directory: URL = {
        if let override = ProcessInfo.processInfo.environment["LALO_BIN_DIR"] {
            return URL(fileURLWithPath: override)
        }
        let exe =
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var url = URL(fileURLWithPath: exe).deletingLastPathComponent()
        // The test binary may sit inside a bundle directory (…/LALOPackageTests.xctest/…).
        while !FileManager.default.fileExists(atPath: url.appendingPathComponent("laloD").path), url.path != "/" {
            url = url.deletingLastPathComponent()
        }
        return url
    }()

    static var laloD: String { directory.appendingPathComponent("laloD").path }
    static var laloctl: String { directory.appendingPathComponent("laloctl").path }
}

/// A temporary directory that every local user can traverse (clients run as other uids).
final class TemporaryDirectory {
    let path: String

    init(_ prefix: String = "lalo-test") {
        var template = Array("/tmp/\(prefix).XXXXXX".utf8CString)
        let result = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        path = String(cString: result!)
        chmod(path, 0o755)
        ChildProcesses.register(directory: path)
    }

    func file(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }

    func write(_ name: String, _ contents: String) {
        FileManager.default.createFile(atPath: file(name), contents: Data(contents.utf8))
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// The real laloD binary on a temporary socket and state directory.
final class DaemonProcess: @unchecked Sendable {
    let directory: TemporaryDirectory
    let process = Process()
    let socketPath: String
    let configPath: String
    private let logPipe = Pipe()
    private let logLock = NSLock()
    private var logData = Data()

    /// The test configuration: a world-connectable socket so that the permission layer, not the
    /// file mode, decides (tests exercise the mode separately), and short limits where asked.
    static func config(socketMode: String = "0666", extra: String = "", localModel: Bool = false) -> String {
        """
        [server]
        socketMode = "\(socketMode)"
        shutdownTimeoutSeconds = 5
        \(extra)
        [localModel]
        \(localModel ? "python = \"\(LocalModelInstall.python)\"" : "mode = \"off\"")
        """
    }

    init(
        config: String = DaemonProcess.config(), arguments: [String] = [], environment: [String: String] = [:],
        waitForSocket: Bool = true, reuse: DaemonProcess? = nil
    ) throws {
        directory = reuse?.directory ?? TemporaryDirectory()
        socketPath = directory.file("laloD.sock")
        configPath = directory.file("laloD.toml")
        directory.write("laloD.toml", config)
        process.executableURL = URL(fileURLWithPath: Binaries.laloD)
        process.arguments =
            [
                "--config", configPath, "--socket", socketPath, "--state-dir", directory.file("state"),
                "--log-level", "debug",
            ] + arguments
        var env = ProcessInfo.processInfo.environment
        for key in ["NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID", "JOURNAL_STREAM", "INVOCATION_ID", "LALO_SOCKET"] {
            env[key] = nil
        }
        env.merge(environment) { _, new in new }
        process.environment = env
        process.standardOutput = logPipe
        process.standardError = logPipe
        try process.run()
        // A plain thread reading the pipe until EOF, not FileHandle.readabilityHandler: tearing a
        // readability handler down while other tests open sockets could close a descriptor number
        // already reused by one of them (seen as EBADF in an unrelated test's client).
        let handle = logPipe.fileHandleForReading
        let reader = Thread { [weak self] in
            let fd = handle.fileDescriptor
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let n = read(fd, &buffer, buffer.count)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                guard let self else { continue }
                let chunk = Data(buffer[0..<n])
                self.logLock.withLock { self.logData.append(chunk) }
            }
            _ = handle  // owned by this thread until EOF
        }
        reader.start()
        ChildProcesses.register(process.processIdentifier)
        if waitForSocket { try self.waitForSocket() }
    }

    var log: String { logLock.withLock { String(decoding: logData, as: UTF8.self) } }

    func waitForSocket(timeout: Double = 20) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let client = try? LaloClient(socketPath: socketPath) {
                client.close()
                return
            }
            if !process.isRunning {
                throw HarnessError("laloD exited with \(process.terminationStatus) before listening:\n\(log)")
            }
            usleep(20_000)
        }
        throw HarnessError("laloD did not listen within \(timeout)s:\n\(log)")
    }

    func client() throws -> LaloClient {
        let client = try LaloClient(socketPath: socketPath)
        client.setReceiveTimeout(seconds: 20)
        return client
    }

    func signal(_ sig: Int32) { kill(process.processIdentifier, sig) }

    /// Sends SIGTERM and waits for exit; returns the exit status.
    @discardableResult
    func stop(timeout: Double = 20) -> Int32 {
        if process.isRunning { signal(SIGTERM) }
        return waitForExit(timeout: timeout)
    }

    func waitForExit(timeout: Double = 20) -> Int32 {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning, Date() < deadline { usleep(10_000) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            return -9
        }
        return process.terminationStatus
    }

    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }
}

/// Daemons shared by a suite live in statics, which are never deinitialised: kill whatever is
/// still running and remove the temporary directories when the test process exits, so no laloD
/// or state outlives `swift test`.
enum ChildProcesses {
    nonisolated(unsafe) private static var pids: [Int32] = []
    nonisolated(unsafe) private static var directories: [String] = []
    private static let lock = NSLock()
    private static let installed: Void = {
        atexit {
            ChildProcesses.lock.lock()
            for pid in ChildProcesses.pids { kill(pid, SIGKILL) }
            for directory in ChildProcesses.directories { try? FileManager.default.removeItem(atPath: directory) }
            ChildProcesses.lock.unlock()
        }
    }()

    static func register(_ pid: Int32) {
        _ = installed
        lock.withLock { pids.append(pid) }
    }

    static func register(directory: String) {
        _ = installed
        lock.withLock { directories.append(directory) }
    }
}

struct HarnessError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Runs a program to completion and returns its exit status and output.
///
/// Output is read with non-blocking reads until the child has exited and its pipes are drained:
/// waiting for end-of-file would hang whenever another child started concurrently (tests run in
/// parallel) inherited the pipe's write end.
@discardableResult
func run(
    _ executable: String, _ arguments: [String], environment: [String: String]? = nil,
    stdin: String? = nil
) throws -> (status: Int32, stdout: String, stderr: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    if let environment { process.environment = environment }
    let out = Pipe()
    let err = Pipe()
    let input = Pipe()
    for pipe in [out, err, input] {
        for fd in [pipe.fileHandleForReading.fileDescriptor, pipe.fileHandleForWriting.fileDescriptor] {
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        }
    }
    for fd in [out.fileHandleForReading.fileDescriptor, err.fileHandleForReading.fileDescriptor] {
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
    }
    process.standardOutput = out
    process.standardError = err
    process.standardInput = input
    try process.run()
    if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
    try? input.fileHandleForWriting.close()
    var outData = Data()
    var errData = Data()
    var buffer = [UInt8](repeating: 0, count: 65536)
    func drain(_ fd: Int32, into data: inout Data) {
        while true {
            let n = read(fd, &buffer, buffer.count)
            if n <= 0 { return }
            data.append(contentsOf: buffer[0..<n])
        }
    }
    while process.isRunning {
        drain(out.fileHandleForReading.fileDescriptor, into: &outData)
        drain(err.fileHandleForReading.fileDescriptor, into: &errData)
        usleep(2_000)
    }
    process.waitUntilExit()
    drain(out.fileHandleForReading.fileDescriptor, into: &outData)
    drain(err.fileHandleForReading.fileDescriptor, into: &errData)
    return (
        process.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errData, as: UTF8.self)
    )
}

/// `count` session.whoami requests with ids 0..<count, one per line, to send in one write.
func pipelinedWhoami(count: Int) -> [UInt8] {
    var payload: [UInt8] = []
    for i in 0..<count {
        payload += Array(#"{"jsonrpc":"2.0","id":\#(i),"method":"session.whoami"}"#.utf8) + [0x0A]
    }
    return payload
}

/// Parses one JSON response line for assertions.
func json(_ text: String) throws -> JSONValue {
    try JSONParser.parse(text)
}

/// The embedded model installed by `make local-model` (scripts/setup-local-model.sh).
enum LocalModelInstall {
    static var directory: String {
        ProcessInfo.processInfo.environment["LALO_LOCAL_MODEL"] ?? "/var/lib/lalo/local-model"
    }
    static var python: String { directory + "/venv/bin/python" }
}
