/// Limits of one sandbox run. Every field is optional on the wire: what is left out takes the
/// daemon's default, and nothing may exceed the administrator's maximum (`[sandbox]` in laloD.toml).
public struct SandboxLimits: Codable, Sendable, Equatable {
    public var wallMs: Int?
    public var cpuSeconds: Int?
    public var memoryBytes: Int?
    public var pids: Int?
    public var fileSizeBytes: Int?
    public var openFiles: Int?
    public var tmpfsBytes: Int?
    public var tmpfsInodes: Int?
    public var outputBytes: Int?

    public init(
        wallMs: Int? = nil, cpuSeconds: Int? = nil, memoryBytes: Int? = nil, pids: Int? = nil,
        fileSizeBytes: Int? = nil, openFiles: Int? = nil, tmpfsBytes: Int? = nil, tmpfsInodes: Int? = nil,
        outputBytes: Int? = nil
    ) {
        self.wallMs = wallMs
        self.cpuSeconds = cpuSeconds
        self.memoryBytes = memoryBytes
        self.pids = pids
        self.fileSizeBytes = fileSizeBytes
        self.openFiles = openFiles
        self.tmpfsBytes = tmpfsBytes
        self.tmpfsInodes = tmpfsInodes
        self.outputBytes = outputBytes
    }

    /// The limits by name, in a fixed order (configuration keys, error messages, `--limit NAME=N`).
    /// Immutable; key paths are not marked Sendable, hence nonisolated(unsafe).
    public nonisolated(unsafe) static let names:
        [(name: String, keyPath: WritableKeyPath<SandboxLimits, Int?>, summary: String)] = [
            ("wallMs", \.wallMs, "wall-clock time in milliseconds"),
            ("cpuSeconds", \.cpuSeconds, "CPU time in seconds"),
            ("memoryBytes", \.memoryBytes, "memory (cgroup) in bytes"),
            ("pids", \.pids, "processes and threads"),
            ("fileSizeBytes", \.fileSizeBytes, "largest file the code may write, in bytes"),
            ("openFiles", \.openFiles, "open file descriptors"),
            ("tmpfsBytes", \.tmpfsBytes, "size of /tmp in bytes"),
            ("tmpfsInodes", \.tmpfsInodes, "files in /tmp"),
            ("outputBytes", \.outputBytes, "stdout and stderr kept, each, in bytes"),
        ]

    /// Sets the limit called `name` (one of ``names``).
    public mutating func set(_ name: String, _ value: Int?) {
        if let limit = SandboxLimits.names.first(where: { $0.name == name }) { self[keyPath: limit.keyPath] = value }
    }

    public static let schema = Schema.object(
        "Limits; each defaults to the daemon's and may not exceed its maximum",
        names.map { .optional($0.name, .integer($0.summary, minimum: 1)) })
}

/// Which limit ended a run, or explains its outcome.
public enum SandboxLimit: String, Codable, Sendable, CaseIterable {
    case memory, time, pids, output, fileSize
}

public enum SandboxBackendName: String, Codable, Sendable, CaseIterable {
    case native, docker
}

/// What one sandbox run did.
public struct SandboxRunResult: Codable, Sendable, Equatable {
    public var backend: String
    /// The exit status, when the command exited by itself.
    public var exitCode: Int?
    /// The signal that ended it, when one did.
    public var signal: Int?
    public var stdout: String
    public var stderr: String
    /// Bytes the command wrote, including the ones dropped beyond `limits.outputBytes`.
    public var stdoutBytes: Int
    public var stderrBytes: Int
    public var stdoutTruncated: Bool
    public var stderrTruncated: Bool
    public var timedOut: Bool
    /// The limit that was hit (`memory`, `time`, `pids`, `output`, `fileSize`), or nil.
    public var limit: String?
    public var durationMs: Double
    public var cpuMs: Double?
    public var memoryPeakBytes: Int?

    public init(
        backend: String, exitCode: Int?, signal: Int?, stdout: String, stderr: String, stdoutBytes: Int,
        stderrBytes: Int, stdoutTruncated: Bool, stderrTruncated: Bool, timedOut: Bool, limit: String?,
        durationMs: Double, cpuMs: Double?, memoryPeakBytes: Int?
    ) {
        self.backend = backend
        self.exitCode = exitCode
        self.signal = signal
        self.stdout = stdout
        self.stderr = stderr
        self.stdoutBytes = stdoutBytes
        self.stderrBytes = stderrBytes
        self.stdoutTruncated = stdoutTruncated
        self.stderrTruncated = stderrTruncated
        self.timedOut = timedOut
        self.limit = limit
        self.durationMs = durationMs
        self.cpuMs = cpuMs
        self.memoryPeakBytes = memoryPeakBytes
    }

    public static let schema = Schema.object(
        "What the sandboxed command did",
        [
            .required("backend", .string(enum: SandboxBackendName.allCases.map(\.rawValue))),
            .optional("exitCode", .integer("Exit status, when it exited by itself")),
            .optional("signal", .integer("Signal that ended it")),
            .required("stdout", .string("Standard output, up to limits.outputBytes (UTF-8, invalid bytes replaced)")),
            .required("stderr", .string("Standard error, up to limits.outputBytes")),
            .required("stdoutBytes", .integer("Bytes written to stdout, kept or not")),
            .required("stderrBytes", .integer("Bytes written to stderr, kept or not")),
            .required("stdoutTruncated", .boolean()), .required("stderrTruncated", .boolean()),
            .required("timedOut", .boolean("The wall time ran out and every process was killed")),
            .optional("limit", .string("The limit hit", enum: SandboxLimit.allCases.map(\.rawValue))),
            .required("durationMs", .number(description: "Start to exit, sandbox set-up included")),
            .optional("cpuMs", .number(description: "CPU time of every process")),
            .optional("memoryPeakBytes", .integer("Highest memory use (native backend)")),
        ])
}

public let sandboxLanguages = ["python", "shell"]

public enum SandboxRun: RPCMethod {
    public static let name = "sandbox.run"
    public static let summary = "Run a command, or Python or shell code, in a sandbox and return what it did"
    public static let permission = Permission.sandboxRun
    public struct Params: Codable, Sendable {
        public var backend: String?
        public var command: [String]?
        public var language: String?
        public var code: String?
        public var stdin: String?
        public var env: [String: String]?
        public var limits: SandboxLimits?
        public var timeoutMs: Int?
        public init(
            backend: String? = nil, command: [String]? = nil, language: String? = nil, code: String? = nil,
            stdin: String? = nil, env: [String: String]? = nil, limits: SandboxLimits? = nil, timeoutMs: Int? = nil
        ) {
            self.backend = backend
            self.command = command
            self.language = language
            self.code = code
            self.stdin = stdin
            self.env = env
            self.limits = limits
            self.timeoutMs = timeoutMs
        }
    }
    public typealias Result = SandboxRunResult
    public static let paramsSchema = Schema.object(
        "Either command, or language and code",
        [
            .optional(
                "backend",
                .string("Default: the daemon's ([sandbox] backend)", enum: SandboxBackendName.allCases.map(\.rawValue))),
            .optional(
                "command",
                .array(
                    .string(minLength: 1, maxLength: 65536), "argv; the first element is looked up in PATH",
                    maxItems: 4096)),
            .optional("language", .string(enum: sandboxLanguages)),
            .optional("code", .string("Source code for language", maxLength: 4 << 20)),
            .optional("stdin", .string("Standard input", maxLength: 16 << 20)),
            .optional(
                "env",
                .map(
                    "Environment variables (the rest of the environment is empty)",
                    values: .string(maxLength: 65536))),
            .optional("limits", SandboxLimits.schema),
            .optional("timeoutMs", .integer("Wall-clock limit; same as limits.wallMs", minimum: 1)),
        ])
    public static let resultSchema = SandboxRunResult.schema
}

/// One thing the sandbox needs from the host, and whether it has it.
public struct SandboxCheck: Codable, Sendable, Equatable {
    public var name: String
    public var ok: Bool
    public var detail: String
    /// What to do about it, when it is missing.
    public var fix: String?
    public init(name: String, ok: Bool, detail: String, fix: String? = nil) {
        self.name = name
        self.ok = ok
        self.detail = detail
        self.fix = fix
    }
    static let schema = Schema.object(
        nil,
        [
            .required("name", .string()), .required("ok", .boolean()), .required("detail", .string()),
            .optional("fix", .string("How to fix it")),
        ])
}

public enum SandboxStatus: RPCMethod {
    public static let name = "sandbox.status"
    public static let summary = "What the host supports for each sandbox backend and, for anything missing, the fix"
    public static let permission = Permission.sandboxRun
    public typealias Params = NoParams
    public struct Result: Codable, Sendable, Equatable {
        public var native: Bool
        public var docker: Bool
        public var defaultBackend: String
        public var checks: [SandboxCheck]
        public init(native: Bool, docker: Bool, defaultBackend: String, checks: [SandboxCheck]) {
            self.native = native
            self.docker = docker
            self.defaultBackend = defaultBackend
            self.checks = checks
        }
    }
    public static let paramsSchema = Schema.empty
    public static let resultSchema = Schema.object(
        nil,
        [
            .required("native", .boolean("The native backend can run")),
            .required("docker", .boolean("The Docker backend can run")),
            .required("defaultBackend", .string(enum: SandboxBackendName.allCases.map(\.rawValue))),
            .required("checks", .array(SandboxCheck.schema)),
        ])
}
