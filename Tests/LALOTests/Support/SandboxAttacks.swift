import Foundation
import Shared
import Testing

/// What one sandboxed command did, from either the launcher's report or `sandbox.run`.
struct SandboxOutcome {
    var status: Int32
    var stdout: String
    var stderr: String
    var timedOut: Bool
    var limit: String?
    var durationMs: Double
    var stdoutTruncated = false
    var output: String { stdout + stderr }
}

/// An attempt to get out of, or overwhelm, a sandbox: the same table runs against the launcher
/// directly and against both backends through laloD. Every check says what the outcome must
/// show for the attempt to have failed.
struct SandboxAttack: Sendable, CustomTestStringConvertible {
    var name: String
    var command: String
    var limits = SandboxLimits()
    var check: @Sendable (SandboxOutcome) -> Bool
    var testDescription: String { name }

    static let python = "python3 -c"

    /// A system call the policy denies, made through ctypes: exit 7 when it fails, as it must.
    static func deniedCall(_ name: String, _ number: Int, _ arguments: String) -> SandboxAttack {
        SandboxAttack(
            name: name,
            command:
                "\(python) 'import ctypes; l=ctypes.CDLL(None); exit(0 if l.syscall(\(number), \(arguments)) >= 0 else 7)'",
            check: { $0.status == 7 })
    }

    static let all: [SandboxAttack] = [
        SandboxAttack(
            name: "fork bomb", command: "f() { f | f & }; f; sleep 2", limits: .init(wallMs: 1500, pids: 32),
            check: { $0.timedOut || $0.status != 0 }),
        SandboxAttack(
            name: "memory bomb", command: "\(python) 'a = bytearray(1 << 31); print(len(a))'",
            limits: .init(memoryBytes: 256 << 20),
            check: { $0.status != 0 && ($0.limit == "memory" || $0.output.contains("MemoryError")) }),
        SandboxAttack(
            name: "disk fill of /tmp", command: "dd if=/dev/zero of=/tmp/fill bs=1M count=200",
            limits: .init(fileSizeBytes: 1 << 30, tmpfsBytes: 16 << 20),
            check: { $0.status != 0 && $0.output.contains("No space left") }),
        SandboxAttack(
            name: "file size limit in the workspace", command: "dd if=/dev/zero of=big bs=1M count=64",
            limits: .init(fileSizeBytes: 4 << 20), check: { $0.status != 0 && $0.limit == "fileSize" }),
        SandboxAttack(
            name: "inode exhaustion",
            command: "i=0; while [ $i -lt 20000 ]; do : > /tmp/f$i || exit 3; i=$((i+1)); done",
            limits: .init(tmpfsInodes: 512), check: { $0.status != 0 && $0.output.contains("No space left") }),
        SandboxAttack(
            name: "output flood", command: "yes lalo", limits: .init(wallMs: 1500, outputBytes: 4096),
            check: { $0.timedOut && $0.stdoutTruncated && $0.stdout.utf8.count <= 4096 }),
        SandboxAttack(
            name: "busy loop past the wall time", command: "while :; do :; done", limits: .init(wallMs: 500),
            check: { $0.timedOut && $0.limit == "time" && $0.durationMs < 5000 }),
        SandboxAttack(
            name: "double-forked setsid child ignoring SIGTERM",
            command: "(trap '' TERM; setsid sh -c \"trap '' TERM; sleep 60\" &); sleep 30", limits: .init(wallMs: 700),
            check: { $0.timedOut }),
        SandboxAttack(
            name: "descriptor exhaustion",
            command: "\(python) 'import os\nfds=[os.open(\"/dev/null\", 0) for _ in range(100000)]'",
            limits: .init(openFiles: 64), check: { $0.status != 0 && $0.output.contains("Too many open files") }),
        SandboxAttack(
            name: "TCP egress",
            command: "\(python) 'import socket; socket.create_connection((\"1.1.1.1\", 443), timeout=2)'",
            check: { $0.status != 0 && $0.output.contains("Errno 97") }),
        SandboxAttack(
            name: "UDP and DNS egress", command: "\(python) 'import socket; socket.getaddrinfo(\"example.com\", 53)'",
            check: { $0.status != 0 }),
        SandboxAttack(name: "read /etc/shadow", command: "cat /etc/shadow", check: { $0.status != 0 }),
        SandboxAttack(name: "read host home directories", command: "ls /root /home", check: { $0.status != 0 }),
        SandboxAttack(
            name: "read the daemon's environment",
            command: "cat /proc/1/environ /proc/*/environ 2>/dev/null | tr '\\0' '\\n' | grep -c LALO_SECRET_CANARY",
            check: { $0.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "0" }),
        SandboxAttack(
            name: "write outside the workspace",
            command:
                "echo x > /usr/lalo-escape || echo x > /etc/lalo-escape || echo x > /lalo-escape || exit 9; exit 0",
            check: { $0.status == 9 }),
        SandboxAttack(name: "create a user namespace", command: "unshare -U true", check: { $0.status != 0 }),
        SandboxAttack(
            name: "create a network namespace via clone", command: "unshare -n true", check: { $0.status != 0 }),
        SandboxAttack(name: "mount", command: "mount -t tmpfs none /tmp", check: { $0.status != 0 }),
        SandboxAttack(
            name: "ptrace",
            command: "\(python) 'import ctypes; l=ctypes.CDLL(None); exit(0 if l.ptrace(0,0,0,0)==0 else 7)'",
            check: { $0.status == 7 }),
        deniedCall("keyrings", 248, "b\"user\", b\"k\", b\"v\", 1, -2"),
        deniedCall("bpf", 321, "0, 0, 0"),
        deniedCall("perf events", 298, "0, 0, -1, -1, 0"),
        deniedCall("load a module", 313, "0, b\"\", 0"),
        deniedCall("io_uring", 425, "1, 0"),
        SandboxAttack(
            name: "signal host processes", command: "kill -0 \(getpid()) && exit 0; kill -9 1 2>/dev/null; exit 7",
            check: { $0.status == 7 }),
        SandboxAttack(
            name: "setuid binary gains nothing", command: "su -c id root </dev/null; id -u",
            check: { !$0.stdout.contains("uid=0") && $0.stdout.split(separator: "\n").last.map { $0 != "0" } == true }),
        SandboxAttack(
            name: "set-id bit on a file the workspace owner would own",
            command:
                "cp /bin/true t && chmod 4755 t; s=$?; \(python) 'import os; os.open(\"u\", os.O_CREAT|os.O_WRONLY, 0o6755)' || exit $((s+10))",
            check: { $0.status == 11 }),
        SandboxAttack(
            name: "set-id bit through openat2",
            command:
                "\(python) 'import ctypes, struct; l=ctypes.CDLL(None, use_errno=True); how=struct.pack(\"QQQ\", 0o101, 0o4755, 0); exit(0 if l.syscall(437, -100, b\"v\", how, 24) >= 0 else 7)'",
            check: { $0.status == 7 }),
    ]

    /// The processes left on the host under these uids (none may be).
    static func leftovers(uids: [Int]) throws -> String {
        let result = try run("/bin/ps", ["-o", "pid=,user=,comm=", "-u", uids.map(String.init).joined(separator: ",")])
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Files an attack may have tried to create outside the sandbox.
    static var escapes: [String] {
        ["/usr/lalo-escape", "/etc/lalo-escape", "/lalo-escape"].filter { FileManager.default.fileExists(atPath: $0) }
    }
}
