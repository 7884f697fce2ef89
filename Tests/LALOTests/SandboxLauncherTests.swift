import Foundation
import Shared
import Testing

/// The native sandbox launcher on its own (the daemon side comes next): a table of attempts to
/// get out, each of which must fail while the host stays as it was, and the sandbox's shape.
@Suite("Native sandbox launcher", .serialized, .timeLimit(.minutes(3)))
struct SandboxLauncherTests {
    static var launcher: String { Binaries.directory.appendingPathComponent("lalo-sandbox").path }

    struct Outcome {
        var status: Int32
        var stdout: String
        var stderr: String
        var report: JSONValue
        var output: String { stdout + stderr }
        var common: SandboxOutcome {
            SandboxOutcome(
                status: status, stdout: stdout, stderr: stderr, timedOut: report["timedOut"] == true,
                limit: report["limit"]?.stringValue, durationMs: Double(report["durationMicros"]?.intValue ?? 0) / 1000,
                stdoutTruncated: report["stdoutTruncated"] == true)
        }
    }

    /// The launcher's options for a table entry's limits.
    static func options(_ limits: SandboxLimits) -> [String] {
        let flags = [
            "wallMs": "--wall-ms", "cpuSeconds": "--cpu-seconds", "memoryBytes": "--memory-bytes", "pids": "--pids",
            "fileSizeBytes": "--fsize-bytes", "openFiles": "--nofile", "tmpfsBytes": "--tmpfs-bytes",
            "tmpfsInodes": "--tmpfs-inodes", "outputBytes": "--output-bytes",
        ]
        return SandboxLimits.names.flatMap { limit in
            limits[keyPath: limit.keyPath].map { [flags[limit.name]!, String($0)] } ?? []
        }
    }

    /// Runs `command` (through /bin/sh -c) in a sandbox whose user is host uid `uid`, with a
    /// root-owned workspace (id-mapped to the sandbox user); the report comes back on descriptor 3.
    static func sandbox(_ command: String, uid: Int, options: [String] = []) throws -> (Outcome, TemporaryDirectory) {
        let workspace = TemporaryDirectory("lalo-sbx")
        let report = workspace.path + ".report"
        let shell =
            "exec 3>'\(report)'; exec '\(launcher)' --workspace '\(workspace.path)' --host-uid \(uid) \(options.joined(separator: " ")) -- /bin/sh -c \"$0\""
        let result = try run("/bin/sh", ["-c", shell, command])
        let text = (try? String(contentsOfFile: report, encoding: .utf8)) ?? ""
        try? FileManager.default.removeItem(atPath: report)
        return (
            Outcome(
                status: result.status, stdout: result.stdout, stderr: result.stderr,
                report: (try? JSONParser.parse(Array(text.utf8))) ?? .null), workspace
        )
    }

    /// Processes left on the host under the sandbox's uids.
    static func leftovers(_ uid: Int) throws -> String {
        let result = try run("/bin/ps", ["-o", "pid=,comm=", "-u", "\(uid),\(uid + 1)"])
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test("attack", arguments: SandboxAttack.all)
    func attack(_ attack: SandboxAttack) throws {
        let uid = 210_000 + (SandboxAttack.all.firstIndex { $0.name == attack.name } ?? 0) * 2
        setenv("LALO_SECRET_CANARY", "1", 1)
        let (outcome, _) = try Self.sandbox(attack.command, uid: uid, options: Self.options(attack.limits))
        #expect(
            attack.check(outcome.common),
            "\(attack.name): status \(outcome.status), report \(outcome.report), output \(outcome.output.suffix(400))")
        #expect(outcome.report != .null, "the launcher must report: \(outcome.stderr)")
        usleep(100_000)
        let left = try Self.leftovers(uid)
        #expect(left.isEmpty, "\(attack.name) left processes on the host: \(left)")
        #expect(SandboxAttack.escapes.isEmpty)
    }

    @Test func theSandboxHasTheDocumentedShape() throws {
        let (outcome, workspace) = try Self.sandbox(
            """
            id -u; id -g; pwd; hostname; ls /; ls /dev | tr '\\n' ' '; echo; grep -E '^(Cap(Prm|Eff|Bnd)|NoNewPrivs|Seccomp):' /proc/self/status; \
            ls /proc | grep -cE '^[0-9]+$'; echo written > out.txt; env | sort | tr '\\n' ' '
            """, uid: 209_000, options: ["--env", "GREETING=hi"])
        #expect(outcome.status == 0, "\(outcome.stderr)")
        let lines = outcome.stdout.split(separator: "\n").map(String.init)
        #expect(lines.prefix(4) == ["1000", "1000", "/workspace", "sandbox"])
        #expect(
            outcome.stdout.contains("CapPrm:\t0000000000000000") && outcome.stdout.contains("CapBnd:\t0000000000000000")
        )
        #expect(outcome.stdout.contains("NoNewPrivs:\t1") && outcome.stdout.contains("Seccomp:\t2"))
        #expect(
            outcome.stdout.contains("null full random stderr stdin stdout urandom zero")
                || outcome.stdout.contains("fd full null"))
        #expect(outcome.stdout.contains("GREETING=hi") && !outcome.stdout.contains("LALO_"))
        // The workspace is id-mapped: the file the sandbox user wrote belongs to the workspace's
        // owner (root here) on the host.
        var info = stat()
        #expect(stat(workspace.file("out.txt"), &info) == 0 && info.st_uid == 0)
        #expect(outcome.report["exitCode"] == 0 && outcome.report["timedOut"] == false)
        // Host root is refused as the sandbox's uid.
        let refused = try run(Self.launcher, ["--host-uid", "0", "--", "/bin/true"])
        #expect(refused.status == 125 && refused.stderr.contains("never host root"))
    }

    /// A slot (a host uid) keeps its network namespace and cgroup from run to run, and nothing of
    /// one run reaches the next: a socket one run left listening is gone, and each run reports
    /// only the limits it hit itself.
    @Test func aSlotKeepsItsNamespaceAndCgroupButNothingOfARun() throws {
        let uid = 208_000
        let listen = """
            python3 -c "import os, socket, time
            s = socket.socket(socket.AF_UNIX); s.bind('\\0lalo-slot-test'); s.listen()
            if os.fork() == 0:
                os.setsid(); time.sleep(30)
            print('listening')"
            """
        let connect = """
            python3 -c "import socket
            try:
                socket.socket(socket.AF_UNIX).connect('\\0lalo-slot-test'); print('connected')
            except OSError as error:
                print('refused', error.errno)"; grep -c lalo-slot-test /proc/net/unix
            """
        let steps: [(name: String, command: String, options: [String], limit: String?, output: String?)] = [
            ("listen", listen, [], nil, "listening"),
            ("connect", connect, [], nil, "refused 111\n0"),
            (
                "fork bomb", "for i in 1 2 3 4 5 6 7 8 9 10 11 12; do sleep 2 & done; wait", ["--pids", "8"], "pids",
                nil
            ),
            ("after the fork bomb", "true", [], nil, nil),
            ("memory bomb", "python3 -c 'x = bytearray(256 << 20)'", ["--memory-bytes", "\(64 << 20)"], "memory", nil),
            ("after the memory bomb", "true", [], nil, nil),
        ]
        for step in steps {
            let (outcome, _) = try Self.sandbox(step.command, uid: uid, options: step.options)
            #expect(outcome.report["keptSlot"] == true, "\(step.name): \(outcome.report) \(outcome.stderr)")
            #expect(
                outcome.report["limit"]?.stringValue == step.limit, "\(step.name): \(outcome.report) \(outcome.output)")
            if let output = step.output {
                #expect(
                    outcome.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == output,
                    "\(step.name): \(outcome.output)")
            }
        }
        // The same namespace run after run: the one kept in the run directory.
        let namespaces = try (0..<2).map { _ in try Self.sandbox("readlink /proc/self/ns/net", uid: uid).0.stdout }
        var info = stat()
        #expect(stat("/run/lalo-sandbox/net-\(uid)", &info) == 0)
        #expect(namespaces == Array(repeating: "net:[\(info.st_ino)]\n", count: 2), "\(namespaces) \(info.st_ino)")
        let mount = try run("/usr/bin/findmnt", ["-n", "-o", "FSTYPE", "/run/lalo-sandbox/net-\(uid)"])
        #expect(mount.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "nsfs", "an nsfs bind mount: \(mount)")
        #expect(
            FileManager.default.fileExists(atPath: "/sys/fs/cgroup/memory/lalo/slot-\(uid)")
                || FileManager.default.fileExists(atPath: "/sys/fs/cgroup/lalo/slot-\(uid)"))

        // Two runs in one slot at once: the second gets a namespace and cgroup of its own, both
        // work, and the second's cgroup is removed afterwards.
        let holder = Thread { _ = try? Self.sandbox("sleep 2", uid: uid) }
        holder.start()
        usleep(700_000)
        let (second, _) = try Self.sandbox(
            "grep -c lalo-slot-test /proc/net/unix; cat /proc/net/dev | grep -c :", uid: uid)
        #expect(second.status == 0 && second.report["keptSlot"] == false, "\(second.report) \(second.output)")
        #expect(second.stdout == "0\n1\n", "only lo: \(second.output)")
        let parents = ["/sys/fs/cgroup/memory/lalo", "/sys/fs/cgroup/pids/lalo", "/sys/fs/cgroup/lalo"]
        let cgroups: [String] = parents.flatMap { (try? FileManager.default.contentsOfDirectory(atPath: $0)) ?? [] }
        #expect(!cgroups.contains { $0.hasPrefix("sbx-") }, "\(cgroups)")
        // No more sandboxes without the kept state than asked for: an empty --run-dir keeps nothing.
        let (own, _) = try Self.sandbox("true", uid: uid + 2, options: ["--run-dir", "''"])
        #expect(own.status == 0 && own.report["keptSlot"] == false)
        #expect(!FileManager.default.fileExists(atPath: "/run/lalo-sandbox/net-\(uid + 2)"))
        usleep(1_500_000)
        // Without a descriptor 3 from the caller there is no report, and it lands nowhere else
        // (not in the slot's lock, which the launcher opens first).
        let quiet = try run(Self.launcher, ["--host-uid", "\(uid)", "--", "/bin/true"])
        #expect(quiet.status == 0 && quiet.stdout.isEmpty, "\(quiet)")
        let lock = try FileManager.default.attributesOfItem(atPath: "/run/lalo-sandbox/slot-\(uid).lock")
        #expect((lock[.size] as? Int) == 0)
    }

    /// Whatever kills the launcher kills the sandbox: its pid 1 has SIGKILL as its parent-death
    /// signal (set again after each change of credentials, which clears it), so nothing of the
    /// run goes on without the wall time, nor is left to share the slot's network namespace; the
    /// next run in the slot finds the slot's cgroup empty and uses it.
    @Test func theSandboxDiesWithItsLauncher() throws {
        let uid = 206_000
        let workspace = TemporaryDirectory("lalo-sbx")
        let launcher = Process()
        launcher.executableURL = URL(fileURLWithPath: Self.launcher)
        launcher.arguments = [
            "--workspace", workspace.path, "--host-uid", "\(uid)", "--", "/bin/sh", "-c", "echo > started; sleep 30",
        ]
        launcher.standardOutput = FileHandle.nullDevice
        launcher.standardError = FileHandle.nullDevice
        try launcher.run()
        for _ in 0..<200 where !FileManager.default.fileExists(atPath: workspace.file("started")) { usleep(25_000) }
        try #require(FileManager.default.fileExists(atPath: workspace.file("started")), "the payload never ran")
        kill(launcher.processIdentifier, SIGKILL)
        launcher.waitUntilExit()
        // Processes of the sandbox's uids that are still alive (a dead pid 1 may stay a zombie
        // until the host's init reaps it).
        var alive = ""
        for _ in 0..<40 {
            let listing = try run("/bin/ps", ["-o", "stat=,pid=,comm=", "-u", "\(uid),\(uid + 1)"]).stdout
            alive = listing.split(separator: "\n").filter { !$0.trimmingCharacters(in: .whitespaces).hasPrefix("Z") }
                .joined(separator: "; ")
            if alive.isEmpty { break }
            usleep(50_000)
        }
        #expect(alive.isEmpty, "the sandbox outlived its launcher: \(alive)")
        let (next, _) = try Self.sandbox("true", uid: uid)
        #expect(next.status == 0 && next.report["keptSlot"] == true, "\(next.report) \(next.stderr)")
    }

    /// The compiled seccomp program is kept in the run directory; a cache file that is not
    /// exactly what the launcher writes is never loaded but compiled again, and the payload is
    /// filtered either way.
    @Test(arguments: ["missing", "truncated", "empty", "oversized", "writable by others", "symbolic link", "directory"])
    func aMalformedFilterCacheIsReplaced(_ damage: String) throws {
        let uid = 207_000
        _ = try Self.sandbox("true", uid: uid)
        let directory = "/run/lalo-sandbox"
        let names = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasPrefix("filter-") }
        try #require(names.count == 1, "one cache file for the launcher: \(names)")
        let cache = directory + "/" + names[0]
        let good = try Data(contentsOf: URL(fileURLWithPath: cache))
        #expect(good.count > 0 && good.count % 8 == 0)
        try FileManager.default.removeItem(atPath: cache)
        switch damage {
        case "missing": break
        case "truncated": try good.prefix(good.count - 3).write(to: URL(fileURLWithPath: cache))
        case "empty": try Data().write(to: URL(fileURLWithPath: cache))
        case "oversized": try Data(count: 4097 * 8).write(to: URL(fileURLWithPath: cache))
        case "writable by others":
            // A well-formed program that allows everything, in a file others could have written.
            try Data([6, 0, 0, 0, 0, 0, 0xFF, 0x7F]).write(to: URL(fileURLWithPath: cache))
            chmod(cache, 0o666)
        case "symbolic link":
            try FileManager.default.createSymbolicLink(atPath: cache, withDestinationPath: "/dev/zero")
        default: try FileManager.default.createDirectory(atPath: cache, withIntermediateDirectories: false)
        }
        let (outcome, _) = try Self.sandbox(
            "grep Seccomp: /proc/self/status; unshare -U true 2>/dev/null || echo refused", uid: uid)
        #expect(outcome.stdout == "Seccomp:\t2\nrefused\n", "\(damage): \(outcome.output)")
        if damage == "directory" {
            // Not replaced (a directory is not renamed over), compiled for the run instead.
            try FileManager.default.removeItem(atPath: cache)
            return
        }
        var info = stat()
        #expect(
            lstat(cache, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG && info.st_mode & 0o777 == 0o600, "\(damage)"
        )
        #expect(try Data(contentsOf: URL(fileURLWithPath: cache)) == good, "\(damage): the program is compiled again")
    }
}
