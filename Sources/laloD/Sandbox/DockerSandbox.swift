import Foundation
import Shared

/// The Docker backend: the Engine API over its Unix socket (libcurl, `CURLOPT_UNIX_SOCKET_PATH`).
/// Each run is a container created with no network, a read-only root, a size-limited /tmp, every
/// capability dropped, no-new-privileges, the seccomp profile generated from the native filter's
/// policy, the limits as cgroup settings and ulimits, and an unprivileged user (the slot's host
/// uid, as in the native backend); it is attached to, started, waited for with the wall time,
/// killed when that runs out, inspected and removed.
struct DockerSandbox: SandboxBackend {
    var socket: String
    var image: String
    var runtime: String
    var slots: UidSlots
    var scratchDirectory: String
    var http: HTTPClient

    var name: SandboxBackendName { .docker }

    /// API 1.41: Docker 20.10 (Debian 12's docker.io) and everything newer.
    private static let api = "http://docker/v1.41"

    private func request(_ method: String, _ path: String, body: JSONValue? = nil, timeout: Duration = .seconds(30))
        -> HTTPRequest
    {
        HTTPRequest(
            method: method, url: Self.api + path,
            headers: body == nil ? [] : [("Content-Type", "application/json")],
            // An empty POST still says Content-Length: 0 (Docker refuses a chunked one).
            body: body.map { JSONWriter.bytes($0) } ?? (method == "POST" ? [] : nil), connectTimeout: .seconds(5),
            timeout: timeout,
            unixSocketPath: socket)
    }

    /// Calls the API and returns the JSON answer; Docker's error messages are passed on.
    @discardableResult
    private func call(
        _ method: String, _ path: String, body: JSONValue? = nil, timeout: Duration = .seconds(30),
        expect: Set<Int> = [200, 201, 204]
    ) async throws -> JSONValue {
        let head: HTTPResponseHead
        let bytes: [UInt8]
        do {
            (head, bytes) = try await http.fetch(request(method, path, body: body, timeout: timeout), maxBytes: 8 << 20)
        } catch let error as HTTPError where error.kind == .connect {
            throw SandboxError.unavailable(
                "no Docker daemon answers on \(socket): \(error.message) (start dockerd, or set [sandbox] dockerSocket)"
            )
        }
        let json = bytes.isEmpty ? JSONValue.null : ((try? JSONParser.parse(bytes)) ?? .null)
        guard expect.contains(head.status) else {
            let message = json["message"]?.stringValue ?? String(decoding: bytes.prefix(500), as: UTF8.self)
            if head.status == 404 && path.hasPrefix("/containers/create") {
                throw SandboxError.unavailable(
                    "Docker has no image \(image): \(message) (import one, see docs/sandbox.md)")
            }
            throw SandboxError.unavailable(
                "Docker answered \(head.status) to \(method) \(path.split(separator: "?")[0]): \(message)")
        }
        return json
    }

    /// The daemon's version, or why it cannot be reached.
    func version() async throws -> JSONValue { try await call("GET", "/version", timeout: .seconds(5)) }

    func run(_ job: SandboxJob) async throws -> SandboxRunResult {
        guard job.stage == nil, job.workspace == nil else {
            throw SandboxError.invalidParams(
                "the docker backend runs in a scratch workspace only; use the native backend for workspaces",
                field: "params.backend")
        }
        return try await slots.withSlot { slot in
            let uid = slots.uid(of: slot)
            // The workspace (and stdin, which the container reads from a file) in a scratch
            // directory owned by the sandbox user.
            let scratch = scratchDirectory + "/docker-\(UUID().uuidString.lowercased())"
            let workspace = scratch + "/workspace"
            try FileManager.default.createDirectory(atPath: workspace, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: scratch) }
            let stdinFile = scratch + "/stdin"
            try Data(job.stdin).write(to: URL(fileURLWithPath: stdinFile))
            chmod(scratch, 0o711)
            chown(workspace, uid_t(uid), gid_t(uid))
            chmod(stdinFile, 0o444)

            let limits = job.limits
            let pidsParent = PidsParent(
                name: "lalo-docker-\(slot)-\(UUID().uuidString.prefix(8).lowercased())", limit: limits["pids"])
            let created = try await call(
                "POST", "/containers/create?name=lalo-sbx-\(slot)-\(UUID().uuidString.prefix(8).lowercased())",
                body: containerSpec(
                    job, uid: uid, workspace: workspace, stdinFile: stdinFile,
                    cgroupParent: pidsParent?.name))
            guard let id = created["Id"]?.stringValue else {
                throw SandboxError.unavailable("Docker created no container")
            }
            let outcome: Result<SandboxRunResult, any Error>
            do {
                outcome = .success(try await supervise(id, job: job, pidsParent: pidsParent))
            } catch {
                outcome = .failure(error)
            }
            // Removed whatever happened (force: killed first if still running), then its cgroup.
            _ = try? await call("DELETE", "/containers/\(id)?force=1&v=1", expect: [204, 404])
            pidsParent?.remove()
            return try outcome.get()
        }
    }

    /// Attaches to, starts and waits for a created container, and says what it did.
    private func supervise(_ id: String, job: SandboxJob, pidsParent: PidsParent?) async throws -> SandboxRunResult {
        let limits = job.limits
        let started = ContinuousClock.now
        // Attached before the start (the response head arrives once Docker has the stream),
        // so no output is missed; the stream ends when the container does.
        let attach = try await http.stream(
            request(
                "POST", "/containers/\(id)/attach?stream=1&stdout=1&stderr=1",
                timeout: .milliseconds(limits["wallMs"] + 30_000)))
        let keep = limits["outputBytes"]
        let collector = Task { try await Self.collect(attach.body, keep: keep) }
        try await call("POST", "/containers/\(id)/start")
        // Whichever comes first: the exit, or the wall time (then the whole container is killed).
        let wallMs = limits["wallMs"]
        let exitedInTime = await withTaskGroup(of: Bool?.self) { group in
            group.addTask {
                (try? await self.call("POST", "/containers/\(id)/wait", timeout: .milliseconds(wallMs + 60_000))) != nil
            }
            group.addTask {
                try? await Task.sleep(for: .milliseconds(wallMs))
                return Task.isCancelled ? nil : false
            }
            var first: Bool?
            while first == nil, let next = await group.next() { first = next }
            group.cancelAll()
            return first ?? false
        }
        let timedOut = !exitedInTime
        if timedOut {
            _ = try? await call("POST", "/containers/\(id)/kill?signal=KILL", expect: [204, 409])
            _ = try? await call("POST", "/containers/\(id)/wait", timeout: .seconds(30))
        }
        let duration = ContinuousClock.now - started
        // The stream ends with the container; give it a moment, then stop waiting.
        let stopper = Task {
            try await Task.sleep(for: .seconds(3))
            collector.cancel()
        }
        let output = (try? await collector.value) ?? Collected()
        stopper.cancel()
        let inspected = try await call("GET", "/containers/\(id)/json")
        let state = inspected["State"] ?? .null
        let code = state["ExitCode"]?.intValue.map(Int.init) ?? -1
        let oomKilled = state["OOMKilled"] == true
        // Docker reports a signal death as 128+N, like a shell.
        var exitCode: Int? = code
        var signal: Int?
        if code > 128 && code <= 128 + 64 {
            signal = code - 128
            exitCode = nil
        }
        if timedOut {
            signal = Int(SIGKILL)
            exitCode = nil
        }
        var limit: SandboxLimit?
        if timedOut || signal == Int(SIGXCPU) {
            limit = .time
        } else if oomKilled {
            limit = .memory
        } else if signal == Int(SIGXFSZ) {
            limit = .fileSize
        } else if let pidsParent, pidsParent.limitReached {
            limit = .pids
        } else if output.stdoutTotal > output.stdout.count || output.stderrTotal > output.stderr.count {
            limit = .output
        }
        let seconds = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
        return SandboxRunResult(
            backend: SandboxBackendName.docker.rawValue, exitCode: exitCode, signal: signal,
            stdout: String(decoding: output.stdout, as: UTF8.self),
            stderr: String(decoding: output.stderr, as: UTF8.self),
            stdoutBytes: output.stdoutTotal, stderrBytes: output.stderrTotal,
            stdoutTruncated: output.stdoutTotal > output.stdout.count,
            stderrTruncated: output.stderrTotal > output.stderr.count,
            timedOut: timedOut, limit: limit?.rawValue, durationMs: seconds * 1000, cpuMs: nil, memoryPeakBytes: nil)
    }

    func containerSpec(_ job: SandboxJob, uid: Int, workspace: String, stdinFile: String, cgroupParent: String? = nil)
        -> JSONValue
    {
        let limits = job.limits
        var environment = ["PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/workspace", "LANG=C.UTF-8"]
        environment += job.environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        // stdin from a read-only file: the attach stream is one-way here.
        let command: [String] = ["/bin/sh", "-c", "exec \"$@\" < /run/lalo-stdin", "sh"] + job.argv
        func ulimit(_ name: String, _ value: Int, hard: Int? = nil) -> JSONValue {
            ["Name": .string(name), "Soft": .int(Int64(value)), "Hard": .int(Int64(hard ?? value))]
        }
        var host: [String: JSONValue] = [
            "NetworkMode": "none",
            "ReadonlyRootfs": true,
            "CapDrop": ["ALL"],
            "SecurityOpt": .array([
                .string("no-new-privileges"), .string("seccomp=" + JSONWriter.string(DockerSeccompProfile.json)),
            ]),
            "Memory": .int(Int64(limits["memoryBytes"])),
            "MemorySwap": .int(Int64(limits["memoryBytes"])),
            "PidsLimit": .int(Int64(limits["pids"])),
            "Ulimits": .array([
                ulimit("cpu", limits["cpuSeconds"], hard: limits["cpuSeconds"] + 1),
                ulimit("fsize", limits["fileSizeBytes"]),
                ulimit("nofile", limits["openFiles"]), ulimit("core", 0),
            ]),
            "Tmpfs": [
                "/tmp": .string(
                    "rw,nosuid,nodev,size=\(limits["tmpfsBytes"]),nr_inodes=\(limits["tmpfsInodes"]),mode=1777")
            ],
            "Binds": .array([.string("\(workspace):/workspace:rw"), .string("\(stdinFile):/run/lalo-stdin:ro")]),
            "IpcMode": "private",
            // The output is read through attach; nothing goes to Docker's logs, so a flood cannot
            // fill the host's disk.
            "LogConfig": ["Type": "none", "Config": .object([:])],
        ]
        if !runtime.isEmpty { host["Runtime"] = .string(runtime) }
        if let cgroupParent {
            // The pids limit sits on the parent, which outlives the container, so its refusals
            // can be counted afterwards (see PidsParent).
            host["CgroupParent"] = .string("/" + cgroupParent)
            host["PidsLimit"] = nil
        }
        return [
            "Image": .string(image),
            "Cmd": .array(command.map(JSONValue.string)),
            "Entrypoint": .array([]),
            "Env": .array(environment.map(JSONValue.string)),
            "User": .string("\(uid):\(uid)"),
            "WorkingDir": "/workspace",
            "Hostname": "sandbox",
            "NetworkDisabled": true,
            "AttachStdout": true,
            "AttachStderr": true,
            "Tty": false,
            "HostConfig": .object(host),
        ]
    }

    struct Collected: Sendable {
        var stdout: [UInt8] = []
        var stderr: [UInt8] = []
        var stdoutTotal = 0
        var stderrTotal = 0
    }

    /// Docker's multiplexed stream: 8-byte frames [stream, 0, 0, 0, size (big endian)] + data.
    static func collect(_ body: AsyncThrowingStream<[UInt8], any Error>, keep: Int) async throws -> Collected {
        var collected = Collected()
        var pending: [UInt8] = []
        for try await chunk in body {
            pending += chunk
            var offset = 0
            while pending.count - offset >= 8 {
                let size =
                    Int(pending[offset + 4]) << 24 | Int(pending[offset + 5]) << 16 | Int(pending[offset + 6]) << 8
                    | Int(pending[offset + 7])
                guard pending.count - offset - 8 >= size else { break }
                let data = pending[(offset + 8)..<(offset + 8 + size)]
                if pending[offset] == 2 {
                    collected.stderrTotal += size
                    collected.stderr += data.prefix(max(0, keep - collected.stderr.count))
                } else {
                    collected.stdoutTotal += size
                    collected.stdout += data.prefix(max(0, keep - collected.stdout.count))
                }
                offset += 8 + size
            }
            pending.removeFirst(offset)
        }
        return collected
    }

    /// The cgroup a container is created under (cgroupfs driver), holding its pids limit: Docker
    /// removes the container's own cgroup when it stops, and with it the count of refused forks;
    /// the parent keeps it. Nil where the cgroup file system is not writable (the container's
    /// own PidsLimit still holds then, but a pids hit is not reported).
    struct PidsParent {
        var name: String
        var directory: String

        init?(name: String, limit: Int) {
            let v2 = FileManager.default.fileExists(atPath: "/sys/fs/cgroup/cgroup.controllers")
            let directory = v2 ? "/sys/fs/cgroup/\(name)" : "/sys/fs/cgroup/pids/\(name)"
            try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
            if v2 {
                try? "+pids +memory".write(
                    toFile: "/sys/fs/cgroup/cgroup.subtree_control", atomically: false, encoding: .utf8)
            }
            // runc's own start-up (its init process forks twice) runs in the container's cgroup
            // too; it is gone by the time the command runs.
            guard
                (try? String(limit + 3).write(toFile: directory + "/pids.max", atomically: false, encoding: .utf8))
                    != nil
            else { return nil }
            self.name = name
            self.directory = directory
        }

        /// Whether the processes ever reached the limit: Linux counts a refused fork in the
        /// cgroup that forked (the container's, gone by now), but the parent's peak stays.
        var limitReached: Bool {
            guard
                let peak = (try? String(contentsOfFile: directory + "/pids.peak", encoding: .utf8)).flatMap({
                    Int($0.trimmingCharacters(in: .whitespacesAndNewlines))
                }),
                let max = (try? String(contentsOfFile: directory + "/pids.max", encoding: .utf8)).flatMap({
                    Int($0.trimmingCharacters(in: .whitespacesAndNewlines))
                })
            else { return false }
            return peak >= max
        }

        func remove() { rmdir(directory) }
    }
}

extension DockerSandbox {
    func imageExists() async throws -> Bool {
        let escaped =
            image.addingPercentEncoding(
                withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/"))) ?? image
        do {
            try await call("GET", "/images/\(escaped)/json", timeout: .seconds(5))
            return true
        } catch {
            return false
        }
    }

    func runtimes() async throws -> [String] {
        let info = try await call("GET", "/info", timeout: .seconds(5))
        return info["Runtimes"]?.objectValue.map { Array($0.keys) } ?? []
    }
}
