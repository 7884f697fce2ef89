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
    }

    /// Runs `command` (through /bin/sh -c) in a sandbox whose user is host uid `uid`, with a
    /// workspace the sandbox user owns; the report comes back on descriptor 3.
    static func sandbox(_ command: String, uid: Int, options: [String] = []) throws -> (Outcome, TemporaryDirectory) {
        let workspace = TemporaryDirectory("lalo-sbx")
        #expect(chown(workspace.path, uid_t(uid), gid_t(uid)) == 0)
        let report = workspace.path + ".report"
        let shell = "exec 3>'\(report)'; exec '\(launcher)' --workspace '\(workspace.path)' --host-uid \(uid) \(options.joined(separator: " ")) -- /bin/sh -c \"$0\""
        let result = try run("/bin/sh", ["-c", shell, command])
        let text = (try? String(contentsOfFile: report, encoding: .utf8)) ?? ""
        try? FileManager.default.removeItem(atPath: report)
        return (Outcome(status: result.status, stdout: result.stdout, stderr: result.stderr,
                        report: (try? JSONParser.parse(Array(text.utf8))) ?? .null), workspace)
    }

    /// Processes left on the host under the sandbox's uids.
    static func leftovers(_ uid: Int) throws -> String {
        let result = try run("/bin/ps", ["-o", "pid=,comm=", "-u", "\(uid),\(uid + 1)"])
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    struct Attack: Sendable, CustomTestStringConvertible {
        var name: String
        var command: String
        var options: [String] = []
        /// What the outcome must show for the attempt to have failed.
        var check: @Sendable (Outcome) -> Bool
        var testDescription: String { name }
    }

    static let python = "python3 -c"
    static let attacks: [Attack] = [
        Attack(name: "fork bomb", command: "f() { f | f & }; f; sleep 2", options: ["--wall-ms", "1500", "--pids", "32"],
               check: { $0.report["timedOut"] == true || $0.status != 0 }),
        Attack(name: "memory bomb", command: "\(python) 'a = bytearray(1 << 31)'", options: ["--memory-bytes", "\(256 << 20)"],
               check: { $0.status != 0 && $0.output.contains("MemoryError") }),
        Attack(name: "disk fill of /tmp", command: "dd if=/dev/zero of=/tmp/fill bs=1M count=200",
               options: ["--tmpfs-bytes", "\(16 << 20)", "--fsize-bytes", "\(1 << 30)"],
               check: { $0.status != 0 && $0.output.contains("No space left") }),
        Attack(name: "file size limit in the workspace", command: "dd if=/dev/zero of=big bs=1M count=64",
               options: ["--fsize-bytes", "\(4 << 20)"], check: { $0.status != 0 }),
        Attack(name: "inode exhaustion", command: "i=0; while [ $i -lt 20000 ]; do : > /tmp/f$i || exit 3; i=$((i+1)); done",
               options: ["--tmpfs-inodes", "512"], check: { $0.status != 0 && $0.output.contains("No space left") }),
        Attack(name: "busy loop past the wall time", command: "while :; do :; done", options: ["--wall-ms", "500"],
               check: { $0.report["timedOut"] == true && ($0.report["durationMicros"]?.intValue ?? .max) < 3_000_000 }),
        Attack(name: "double-forked setsid child ignoring SIGTERM",
               command: "(trap '' TERM; setsid sh -c \"trap '' TERM; sleep 60\" &); sleep 30", options: ["--wall-ms", "700"],
               check: { $0.report["timedOut"] == true }),
        Attack(name: "descriptor exhaustion", command: "\(python) 'import os\nfds=[os.open(\"/dev/null\", 0) for _ in range(100000)]'",
               options: ["--nofile", "64"], check: { $0.status != 0 && $0.output.contains("Too many open files") }),
        Attack(name: "TCP egress", command: "\(python) 'import socket; socket.create_connection((\"1.1.1.1\", 443), timeout=2)'",
               check: { $0.status != 0 && $0.output.contains("Errno 97") }),
        Attack(name: "UDP and DNS egress", command: "\(python) 'import socket; socket.getaddrinfo(\"example.com\", 53)'",
               check: { $0.status != 0 }),
        Attack(name: "read /etc/shadow", command: "cat /etc/shadow", check: { $0.status != 0 }),
        Attack(name: "read host home directories", command: "ls /root /home", check: { $0.status != 0 }),
        Attack(name: "read the daemon's environment", command: "cat /proc/1/environ | tr '\\0' '\\n' | grep -c LALO_SECRET_CANARY",
               check: { $0.stdout.trimmingCharacters(in: .whitespacesAndNewlines) != "1" }),
        Attack(name: "write outside the workspace", command: "echo x > /usr/lalo-escape || echo x > /etc/lalo-escape || exit 9; exit 0",
               check: { $0.status == 9 }),
        Attack(name: "create a user namespace", command: "unshare -U true", check: { $0.status != 0 }),
        Attack(name: "create a network namespace via clone", command: "unshare -n true", check: { $0.status != 0 }),
        Attack(name: "mount", command: "mount -t tmpfs none /tmp", check: { $0.status != 0 }),
        Attack(name: "ptrace", command: "\(python) 'import ctypes; l=ctypes.CDLL(None); exit(0 if l.ptrace(0,0,0,0)==0 else 7)'",
               check: { $0.status == 7 }),
        Attack(name: "keyrings", command: "\(python) 'import ctypes; l=ctypes.CDLL(None); exit(0 if l.syscall(248, b\"user\", b\"k\", b\"v\", 1, -2) >= 0 else 7)'",
               check: { $0.status == 7 }),
        Attack(name: "bpf", command: "\(python) 'import ctypes; l=ctypes.CDLL(None); exit(0 if l.syscall(321, 0, 0, 0) >= 0 else 7)'",
               check: { $0.status == 7 }),
        Attack(name: "perf events", command: "\(python) 'import ctypes; l=ctypes.CDLL(None); exit(0 if l.syscall(298, 0, 0, -1, -1, 0) >= 0 else 7)'",
               check: { $0.status == 7 }),
        Attack(name: "load a module", command: "\(python) 'import ctypes; l=ctypes.CDLL(None); exit(0 if l.syscall(313, 0, b\"\", 0) >= 0 else 7)'",
               check: { $0.status == 7 }),
        Attack(name: "io_uring", command: "\(python) 'import ctypes; l=ctypes.CDLL(None); exit(0 if l.syscall(425, 1, 0) >= 0 else 7)'",
               check: { $0.status == 7 }),
        Attack(name: "signal host processes", command: "kill -0 \(getpid()) && exit 0; exit 7", check: { $0.status == 7 }),
        Attack(name: "setuid binary gains nothing", command: "su -c id root </dev/null; id -u", check: { !$0.stdout.contains("uid=0") && $0.stdout.contains("1000") }),
    ]

    @Test("attack", arguments: attacks)
    func attack(_ attack: Attack) throws {
        let uid = 210_000 + (Self.attacks.firstIndex { $0.name == attack.name } ?? 0) * 2
        setenv("LALO_SECRET_CANARY", "1", 1)
        let (outcome, _) = try Self.sandbox(attack.command, uid: uid, options: attack.options)
        #expect(attack.check(outcome), "\(attack.name): status \(outcome.status), report \(outcome.report), output \(outcome.output.suffix(400))")
        #expect(outcome.report != .null, "the launcher must report: \(outcome.stderr)")
        usleep(100_000)
        let left = try Self.leftovers(uid)
        #expect(left.isEmpty, "\(attack.name) left processes on the host: \(left)")
        #expect(!FileManager.default.fileExists(atPath: "/usr/lalo-escape") && !FileManager.default.fileExists(atPath: "/etc/lalo-escape"))
    }

    @Test func theSandboxHasTheDocumentedShape() throws {
        let (outcome, workspace) = try Self.sandbox("""
            id -u; id -g; pwd; hostname; ls /; ls /dev | tr '\\n' ' '; echo; grep -E '^(Cap(Prm|Eff|Bnd)|NoNewPrivs|Seccomp):' /proc/self/status; \
            ls /proc | grep -cE '^[0-9]+$'; echo written > out.txt; env | sort | tr '\\n' ' '
            """, uid: 209_000, options: ["--env", "GREETING=hi"])
        #expect(outcome.status == 0, "\(outcome.stderr)")
        let lines = outcome.stdout.split(separator: "\n").map(String.init)
        #expect(lines.prefix(4) == ["1000", "1000", "/workspace", "sandbox"])
        #expect(outcome.stdout.contains("CapPrm:\t0000000000000000") && outcome.stdout.contains("CapBnd:\t0000000000000000"))
        #expect(outcome.stdout.contains("NoNewPrivs:\t1") && outcome.stdout.contains("Seccomp:\t2"))
        #expect(outcome.stdout.contains("null full random stderr stdin stdout urandom zero") || outcome.stdout.contains("fd full null"))
        #expect(outcome.stdout.contains("GREETING=hi") && !outcome.stdout.contains("LALO_"))
        // The file the sandbox wrote is the sandbox user's, on the host too.
        var info = stat()
        #expect(stat(workspace.file("out.txt"), &info) == 0 && info.st_uid == 209_000)
        #expect(outcome.report["exitCode"] == 0 && outcome.report["timedOut"] == false)
        // Host root is refused as the sandbox's uid.
        let refused = try run(Self.launcher, ["--host-uid", "0", "--", "/bin/true"])
        #expect(refused.status == 125 && refused.stderr.contains("never host root"))
    }
}
