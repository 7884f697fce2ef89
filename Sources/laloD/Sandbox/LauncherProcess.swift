import CLinux
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Runs a helper program (the sandbox launcher) with pipes on stdin, stdout, stderr and
/// descriptor 3, feeding stdin and collecting the rest, on a thread of its own: the blocking
/// poll loop must not hold one of the few threads Swift concurrency runs everything on.
enum LauncherProcess {
    struct Outcome: Sendable {
        var status: Int32
        var stdout: [UInt8]
        var stderr: [UInt8]
        var report: [UInt8]
        var stdoutTotal: Int
        var stderrTotal: Int
    }

    struct SpawnError: Error, CustomStringConvertible {
        var description: String
    }

    static func run(_ executable: String, _ arguments: [String], stdin: [UInt8], keep: Int) async throws -> Outcome {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread {
                continuation.resume(with: Result { try runBlocking(executable, arguments, stdin: stdin, keep: keep) })
            }
            thread.stackSize = 1 << 20
            thread.start()
        }
    }

    private static func pipePair() throws -> (read: Int32, write: Int32) {
        var fds: [Int32] = [0, 0]
        guard lalo_pipe2(&fds, O_CLOEXEC) == 0 else {
            throw SpawnError(description: "pipe: \(String(cString: strerror(errno)))")
        }
        return (fds[0], fds[1])
    }

    static func runBlocking(_ executable: String, _ arguments: [String], stdin: [UInt8], keep: Int) throws -> Outcome {
        let input = try pipePair()
        let output = try pipePair()
        let errors = try pipePair()
        let report = try pipePair()
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, input.read, 0)
        posix_spawn_file_actions_adddup2(&actions, output.write, 1)
        posix_spawn_file_actions_adddup2(&actions, errors.write, 2)
        posix_spawn_file_actions_adddup2(&actions, report.write, 3)
        // Nothing else of laloD's: no socket, no database, no key file.
        lalo_spawn_addclosefrom(&actions, 4)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var all = sigset_t()
        var none = sigset_t()
        sigfillset(&all)
        sigemptyset(&none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        let environment: [UnsafeMutablePointer<CChar>?] = [nil]
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, executable, &actions, &attributes, argv, environment)
        for fd in [input.read, output.write, errors.write, report.write] { close(fd) }
        guard spawned == 0 else {
            for fd in [input.write, output.read, errors.read, report.read] { close(fd) }
            throw SpawnError(description: "cannot start \(executable): \(String(cString: strerror(spawned)))")
        }
        for fd in [input.write, output.read, errors.read, report.read] {
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        }
        var outcome = Outcome(status: 0, stdout: [], stderr: [], report: [], stdoutTotal: 0, stderrTotal: 0)
        var stdinFD: Int32 = stdin.isEmpty ? -1 : input.write
        if stdin.isEmpty { close(input.write) }
        var written = 0
        var open: [Int32] = [output.read, errors.read, report.read]
        var buffer = [UInt8](repeating: 0, count: 65536)
        while !open.isEmpty || stdinFD >= 0 {
            var polls = open.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            if stdinFD >= 0 { polls.append(pollfd(fd: stdinFD, events: Int16(POLLOUT), revents: 0)) }
            let n = poll(&polls, nfds_t(polls.count), -1)
            if n < 0 {
                if errno == EINTR { continue }
                break
            }
            for p in polls where p.revents != 0 {
                if p.fd == stdinFD {
                    let count = stdin[written...].withUnsafeBytes { write(stdinFD, $0.baseAddress, $0.count) }
                    if count > 0 { written += count }
                    // Done, or the command stopped reading (EPIPE): either way, end of input.
                    if count < 0 && errno != EAGAIN || written == stdin.count {
                        close(stdinFD)
                        stdinFD = -1
                    }
                    continue
                }
                let count = read(p.fd, &buffer, buffer.count)
                if count > 0 {
                    let bytes = buffer[0..<count]
                    // The launcher already caps each stream; this is a second fence.
                    if p.fd == output.read {
                        outcome.stdoutTotal += count
                        outcome.stdout.append(contentsOf: bytes.prefix(max(0, keep - outcome.stdout.count)))
                    } else if p.fd == errors.read {
                        outcome.stderrTotal += count
                        outcome.stderr.append(contentsOf: bytes.prefix(max(0, keep + 4096 - outcome.stderr.count)))
                    } else if outcome.report.count < 65536 {
                        outcome.report.append(contentsOf: bytes)
                    }
                } else if count == 0 || (errno != EAGAIN && errno != EINTR) {
                    close(p.fd)
                    open.removeAll { $0 == p.fd }
                }
            }
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        outcome.status = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return outcome
    }
}
