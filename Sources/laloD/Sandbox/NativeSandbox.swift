import Foundation
import Shared

/// The native backend: `lalo-sandbox` (Sources/SandboxLauncher) builds the namespaces, mounts,
/// cgroup and seccomp filter; this side picks a uid slot, passes the limits and reads back what
/// happened.
struct NativeSandbox: SandboxBackend {
    var launcher: String
    var slots: UidSlots
    /// Scratch workspaces for runs that bring none.
    var scratchDirectory: String

    var name: SandboxBackendName { .native }

    func run(_ job: SandboxJob) async throws -> SandboxRunResult {
        guard FileManager.default.isExecutableFile(atPath: launcher) else {
            throw SandboxError.unavailable(
                "the native sandbox launcher \(launcher) is missing; reinstall LALO or set [sandbox] launcher")
        }
        return try await slots.withSlot { slot in
            var scratch: String?
            var workspace = job.workspace
            if workspace == nil {
                let path = scratchDirectory + "/run-\(UUID().uuidString.lowercased())"
                try FileManager.default.createDirectory(
                    atPath: path, withIntermediateDirectories: true,
                    attributes: [.posixPermissions: 0o700])
                scratch = path
                workspace = path
            }
            defer { if let scratch { try? FileManager.default.removeItem(atPath: scratch) } }
            let limits = job.limits
            var arguments = [
                "--host-uid", String(slots.uid(of: slot)),
                "--wall-ms", String(limits["wallMs"]), "--cpu-seconds", String(limits["cpuSeconds"]),
                "--memory-bytes", String(limits["memoryBytes"]), "--pids", String(limits["pids"]),
                "--fsize-bytes", String(limits["fileSizeBytes"]), "--nofile", String(limits["openFiles"]),
                "--tmpfs-bytes", String(limits["tmpfsBytes"]), "--tmpfs-inodes", String(limits["tmpfsInodes"]),
                "--output-bytes", String(limits["outputBytes"]),
            ]
            if let workspace { arguments += ["--workspace", workspace] }
            if let stage = job.stage { arguments += ["--stage", stage] }
            for (name, value) in job.environment.sorted(by: { $0.key < $1.key }) {
                arguments += ["--env", "\(name)=\(value)"]
            }
            arguments += ["--"] + job.argv
            let outcome = try await LauncherProcess.run(
                launcher, arguments, stdin: job.stdin, keep: limits["outputBytes"])
            return try Self.result(outcome)
        }
    }

    /// The launcher's report (descriptor 3) and streams as a result; no report means the sandbox
    /// could not be built, and its stderr says why.
    static func result(_ outcome: LauncherProcess.Outcome) throws -> SandboxRunResult {
        guard let line = String(bytes: outcome.report, encoding: .utf8), !line.isEmpty,
            let report = try? JSONParser.parse(Array(line.utf8)), case .object(let fields) = report
        else {
            let message = String(decoding: outcome.stderr, as: UTF8.self).trimmingCharacters(
                in: .whitespacesAndNewlines)
            throw SandboxError.unavailable(
                message.isEmpty ? "the sandbox could not be built (launcher exit \(outcome.status))" : message)
        }
        func int(_ key: String) -> Int? { fields[key]?.intValue.map(Int.init) }
        return SandboxRunResult(
            backend: SandboxBackendName.native.rawValue, exitCode: int("exitCode"), signal: int("signal"),
            stdout: String(decoding: outcome.stdout, as: UTF8.self),
            stderr: String(decoding: outcome.stderr, as: UTF8.self),
            stdoutBytes: int("stdoutBytes") ?? outcome.stdoutTotal,
            stderrBytes: int("stderrBytes") ?? outcome.stderrTotal,
            stdoutTruncated: fields["stdoutTruncated"] == true, stderrTruncated: fields["stderrTruncated"] == true,
            timedOut: fields["timedOut"] == true, limit: fields["limit"]?.stringValue,
            durationMs: Double(int("durationMicros") ?? 0) / 1000, cpuMs: int("cpuMicros").map { Double($0) / 1000 },
            memoryPeakBytes: int("memoryPeakBytes"))
    }
}
