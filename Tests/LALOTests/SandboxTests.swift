import Foundation
import Shared
import Testing

/// The sandbox through laloD: `sandbox.run` on both backends (the attack table, the limits each
/// run reports, input and output), boundary validation and `sandbox.status`. The Docker backend
/// runs against a real dockerd this suite starts on a private socket.
@Suite("Sandbox through laloD", .serialized, .timeLimit(.minutes(10)))
struct SandboxTests {
    static let uidBase = 240_000
    static let slots = 4
    static var uids: [Int] { Array(uidBase..<(uidBase + 2 * slots)) }

    static func daemon(dockerSocket: String = "/nonexistent/docker.sock") throws -> DaemonProcess {
        try DaemonProcess(
            config: DaemonProcess.config(
                extra: """
                    [sandbox]
                    hostUidBase = \(uidBase)
                    slots = \(slots)
                    dockerSocket = "\(dockerSocket)"
                    dockerImage = "\(DockerDaemon.image)"
                    """), environment: ["LALO_SECRET_CANARY": "1"])
    }

    static func outcome(_ r: SandboxRunResult) -> SandboxOutcome {
        SandboxOutcome(
            status: Int32(r.exitCode ?? (128 + (r.signal ?? 0))), stdout: r.stdout, stderr: r.stderr,
            timedOut: r.timedOut, limit: r.limit, durationMs: r.durationMs, stdoutTruncated: r.stdoutTruncated)
    }

    static func shell(
        _ command: String, backend: SandboxBackendName, limits: SandboxLimits = SandboxLimits(),
        stdin: String? = nil
    ) -> SandboxRun.Params {
        SandboxRun.Params(backend: backend.rawValue, command: ["/bin/sh", "-c", command], stdin: stdin, limits: limits)
    }

    /// Runs `body` with a daemon whose `backend` works (for Docker: a dockerd of the suite's own).
    static func withBackend(_ backend: SandboxBackendName, _ body: (DaemonProcess) throws -> Void) throws {
        var docker: DockerDaemon?
        if backend == .docker { docker = try DockerDaemon() }
        defer { docker?.stop() }
        let daemon = try Self.daemon(dockerSocket: docker?.socket ?? "/nonexistent/docker.sock")
        try body(daemon)
    }

    @Test("attack table", arguments: SandboxBackendName.allCases)
    func attacks(_ backend: SandboxBackendName) throws {
        try Self.withBackend(backend) { daemon in
            let client = try daemon.client()
            client.setReceiveTimeout(seconds: 60)
            for attack in SandboxAttack.all {
                let result = try client.call(
                    SandboxRun.self, Self.shell(attack.command, backend: backend, limits: attack.limits))
                let outcome = Self.outcome(result)
                #expect(
                    attack.check(outcome),
                    "\(backend) \(attack.name): \(result.exitCode.map { "exit \($0)" } ?? "signal \(result.signal ?? 0)"), limit \(result.limit ?? "none"), output \(outcome.output.suffix(300))"
                )
                #expect(result.backend == backend.rawValue)
                let left = try SandboxAttack.leftovers(uids: Self.uids)
                #expect(left.isEmpty, "\(backend) \(attack.name) left processes on the host: \(left)")
                #expect(SandboxAttack.escapes.isEmpty, "\(backend) \(attack.name) wrote outside")
            }
            // Scratch workspaces are gone, and so are the sandboxes' cgroups.
            let scratch =
                (try? FileManager.default.contentsOfDirectory(atPath: daemon.directory.file("state/sandbox"))) ?? []
            #expect(scratch.isEmpty, "scratch workspaces left: \(scratch)")
        }
    }

    struct LimitCase: Sendable, CustomTestStringConvertible {
        var command: String
        var limits: SandboxLimits
        var expected: SandboxLimit?
        var testDescription: String { expected?.rawValue ?? "none" }
    }

    static let limitCases: [LimitCase] = [
        LimitCase(
            command: "\(SandboxAttack.python) 'a = bytearray(400 << 20); print(len(a))'",
            limits: .init(memoryBytes: 64 << 20), expected: .memory),
        LimitCase(command: "sleep 5", limits: .init(wallMs: 300), expected: .time),
        LimitCase(command: "\(SandboxAttack.python) 'while True: pass'", limits: .init(cpuSeconds: 1), expected: .time),
        LimitCase(
            command: "for i in 1 2 3 4 5 6 7 8 9 10 11 12; do sleep 1 & done; wait", limits: .init(pids: 6),
            expected: .pids),
        LimitCase(
            command: "head -c 100000 /dev/zero | tr '\\0' x", limits: .init(outputBytes: 1000), expected: .output),
        LimitCase(command: "head -c 100000 /dev/zero > big", limits: .init(fileSizeBytes: 10_000), expected: .fileSize),
        LimitCase(command: "echo fine", limits: .init(), expected: nil),
    ]

    @Test("the limit hit is reported", arguments: SandboxBackendName.allCases)
    func limits(_ backend: SandboxBackendName) throws {
        try Self.withBackend(backend) { daemon in
            let client = try daemon.client()
            for limitCase in Self.limitCases {
                let result = try client.call(
                    SandboxRun.self, Self.shell(limitCase.command, backend: backend, limits: limitCase.limits))
                #expect(
                    result.limit == limitCase.expected?.rawValue,
                    "\(backend) \(limitCase.command): limit \(result.limit ?? "none"), exit \(String(describing: result.exitCode)), signal \(String(describing: result.signal)), stderr \(result.stderr.suffix(200))"
                )
                if limitCase.expected == .output {
                    #expect(result.stdout.utf8.count == 1000 && result.stdoutBytes == 100_000 && result.stdoutTruncated)
                }
                if limitCase.expected == nil {
                    #expect(
                        result.exitCode == 0 && result.stdout == "fine\n" && !result.timedOut, "\(backend): \(result)")
                }
            }
            // Input, environment, arguments and the user the command runs as.
            var params = SandboxRun.Params(
                backend: backend.rawValue,
                command: [
                    "/bin/sh", "-c", "tr a-z A-Z; echo \"$GREETING\" \"$1\"; id -u; pwd; echo err >&2; exit 4", "sh",
                    "arg one",
                ],
                stdin: "hello\n", env: ["GREETING": "hi"])
            var result = try client.call(SandboxRun.self, params)
            let lines = result.stdout.split(separator: "\n").map(String.init)
            #expect(lines.prefix(2) == ["HELLO", "hi arg one"], "\(result.stdout)")
            #expect(lines.count == 4 && lines[2] != "0" && lines[3] == "/workspace", "\(result.stdout)")
            #expect(result.exitCode == 4 && result.stderr == "err\n" && result.signal == nil && result.limit == nil)
            // Code in a language.
            params = SandboxRun.Params(
                backend: backend.rawValue, language: "python", code: "import sys\nprint(sum(range(10)), sys.argv[0])")
            result = try client.call(SandboxRun.self, params)
            #expect(result.exitCode == 0 && result.stdout == "45 -c\n", "\(result.stdout) \(result.stderr)")
        }
    }

    struct BadParams: Sendable, CustomTestStringConvertible {
        var params: String
        var field: String
        var testDescription: String { field }
    }

    static let badParams: [BadParams] = [
        BadParams(params: #"{}"#, field: "params.command"),
        BadParams(params: #"{"command":[]}"#, field: "params.command"),
        BadParams(params: #"{"command":["true"],"language":"python","code":"1"}"#, field: "params.command"),
        BadParams(params: #"{"language":"python"}"#, field: "params.code"),
        BadParams(params: #"{"code":"print(1)"}"#, field: "params.language"),
        BadParams(params: #"{"language":"ruby","code":"1"}"#, field: "params.language"),
        BadParams(params: #"{"command":["true"],"backend":"vm"}"#, field: "params.backend"),
        BadParams(
            params: #"{"command":["true"],"limits":{"memoryBytes":99999999999999}}"#, field: "params.limits.memoryBytes"
        ),
        BadParams(params: #"{"command":["true"],"limits":{"pids":0}}"#, field: "params.limits.pids"),
        BadParams(params: #"{"command":["true"],"limits":{"bogus":1}}"#, field: "params.limits.bogus"),
        BadParams(
            params: #"{"command":["true"],"timeoutMs":1000,"limits":{"wallMs":2000}}"#, field: "params.timeoutMs"),
        BadParams(params: #"{"command":["true"],"env":{"A=B":"x"}}"#, field: "params.env.A=B"),
        BadParams(params: #"{"command":["true"],"stdin":5}"#, field: "params.stdin"),
    ]

    @Test("params are checked at the boundary, naming the field")
    func validation() throws {
        let daemon = try Self.daemon()
        let client = try daemon.client()
        for bad in Self.badParams {
            do {
                _ = try client.call(SandboxRun.name, params: try JSONParser.parse(bad.params))
                Issue.record("\(bad.params) was accepted")
            } catch let error as RPCError {
                #expect(error.kind == .invalidParams, "\(bad.params): \(error)")
                #expect(error.field == bad.field, "\(bad.params): \(error)")
            }
        }
        // No Docker daemon: a clear unavailable error, not a hang.
        do {
            _ = try client.call(SandboxRun.self, Self.shell("true", backend: .docker))
            Issue.record("docker without a daemon succeeded")
        } catch let error as RPCError {
            #expect(error.kind == .unavailable && error.message.contains("no Docker daemon answers"), "\(error)")
        }
    }

    @Test("sandbox.status reports what the host supports, with fixes")
    func status() throws {
        let daemon = try Self.daemon()
        let status = try daemon.client().call(SandboxStatus.self)
        #expect(status.native && !status.docker && status.defaultBackend == "native")
        let names = Set(status.checks.map(\.name))
        #expect(names.isSuperset(of: ["launcher", "user namespaces", "seccomp", "cgroups", "overlayfs", "docker"]))
        #expect(status.checks.first { $0.name == "cgroups" }?.detail.contains("cgroup v") == true)
        let docker = status.checks.first { $0.name == "docker" }
        #expect(docker?.ok == false && docker?.fix?.isEmpty == false)
        let doctor = try run(Binaries.laloctl, ["sandbox", "doctor", "--socket", daemon.socketPath])
        #expect(
            doctor.status == 0 && doctor.stdout.contains("native backend: ready") && doctor.stdout.contains("fix:"),
            "\(doctor.stdout)\(doctor.stderr)")
        let ran = try run(
            Binaries.laloctl, ["sandbox", "run", "--socket", daemon.socketPath, "--", "sh", "-c", "cat; exit 3"],
            stdin: "piped\n")
        #expect(ran.status == 3 && ran.stdout == "piped\n", "\(ran.stdout) \(ran.stderr)")
    }
}
