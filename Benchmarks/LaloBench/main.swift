// lalo-bench: RPC latency and throughput of laloD over its real socket, with auditing on.
//
// Starts laloD (from the same build directory) on a temporary socket and state directory unless
// --socket names a running daemon, then for each client count runs that many connections, each
// making one call at a time for the given duration, and prints latency percentiles and calls/s.

import Foundation
import Shared
import Synchronization

struct Options {
    var clientCounts = [1, 16]
    var seconds = 5.0
    var warmupSeconds = 1.0
    var method = "session.whoami"
    var socket: String?

    static func parse(_ arguments: [String]) -> Options {
        var options = Options()
        var iterator = arguments.dropFirst().makeIterator()
        while let argument = iterator.next() {
            switch argument {
            case "--clients":
                options.clientCounts = (iterator.next() ?? "").split(separator: ",").compactMap { Int($0) }
            case "--seconds": options.seconds = Double(iterator.next() ?? "") ?? options.seconds
            case "--warmup": options.warmupSeconds = Double(iterator.next() ?? "") ?? options.warmupSeconds
            case "--method": options.method = iterator.next() ?? options.method
            case "--socket": options.socket = iterator.next()
            case "-h", "--help":
                print(
                    """
                    usage: lalo-bench [--clients 1,16] [--seconds 5] [--warmup 1] [--method session.whoami] [--socket PATH]
                    Without --socket, starts laloD from this binary's directory on a temporary socket.
                    """)
                exit(0)
            default:
                FileHandle.standardError.write(Data("lalo-bench: unknown argument \(argument)\n".utf8))
                exit(2)
            }
        }
        if options.clientCounts.isEmpty || options.clientCounts.contains(where: { $0 < 1 }) {
            FileHandle.standardError.write(Data("lalo-bench: --clients takes positive numbers, e.g. 1,16\n".utf8))
            exit(2)
        }
        return options
    }
}

/// Starts a private laloD and stops it at the end.
final class PrivateDaemon {
    let process = Process()
    let directory: String
    let socket: String

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("lalo-bench-\(getpid())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        socket = directory + "/laloD.sock"
        let config = directory + "/laloD.toml"
        try "[server]\nmaxSessionsPerUser = 1024\n[log]\nlevel = \"warning\"\n".write(
            toFile: config, atomically: true, encoding: .utf8)
        let binary = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
            .deletingLastPathComponent()
            .appendingPathComponent("laloD").path
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["--config", config, "--socket", socket, "--state-dir", directory + "/state"]
        try process.run()
        for _ in 0..<500 {
            if let client = try? LaloClient(socketPath: socket) {
                client.close()
                return
            }
            usleep(20_000)
        }
        throw ClientError.daemonNotRunning(path: socket, reason: "laloD did not start")
    }

    func stop() {
        process.terminate()
        process.waitUntilExit()
        try? FileManager.default.removeItem(atPath: directory)
    }
}

struct RunResult {
    var latenciesNanos: [UInt64]
    var elapsed: Double
    var errors: Int
}

func measure(socket: String, method: String, clients: Int, seconds: Double) -> RunResult {
    let collected = Mutex<(latencies: [UInt64], errors: Int)>(([], 0))
    let start = DispatchSemaphore(value: 0)
    let done = DispatchSemaphore(value: 0)
    let request = Array(#"{"jsonrpc":"2.0","id":1,"method":"\#(method)"}"#.utf8) + [0x0A]
    for _ in 0..<clients {
        Thread {
            var latencies: [UInt64] = []
            latencies.reserveCapacity(200_000)
            var errors = 0
            if let client = try? LaloClient(socketPath: socket) {
                start.wait()
                let deadline = DispatchTime.now().uptimeNanoseconds + UInt64(seconds * 1e9)
                while true {
                    let t0 = DispatchTime.now().uptimeNanoseconds
                    if t0 >= deadline { break }
                    do {
                        try client.sendRaw(request)
                        guard let line = try client.readLine() else {
                            errors += 1
                            break
                        }
                        if line.count > 9, line.starts(with: Array(#"{"error""#.utf8)) { errors += 1 }
                    } catch {
                        errors += 1
                        break
                    }
                    latencies.append(DispatchTime.now().uptimeNanoseconds - t0)
                }
            } else {
                start.wait()
                errors += 1
            }
            collected.withLock {
                $0.latencies += latencies
                $0.errors += errors
            }
            done.signal()
        }.start()
    }
    usleep(100_000)  // let every client connect
    let t0 = DispatchTime.now().uptimeNanoseconds
    for _ in 0..<clients { start.signal() }
    for _ in 0..<clients { done.wait() }
    let elapsed = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
    let result = collected.withLock { $0 }
    return RunResult(latenciesNanos: result.latencies.sorted(), elapsed: elapsed, errors: result.errors)
}

func percentile(_ sorted: [UInt64], _ p: Double) -> Double {
    guard !sorted.isEmpty else { return .nan }
    let index = min(sorted.count - 1, Int((Double(sorted.count) * p).rounded(.up)) - 1)
    return Double(sorted[max(0, index)]) / 1000
}

func machineDescription() -> String {
    let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
    let model =
        cpuinfo.split(separator: "\n").first { $0.hasPrefix("model name") }?
        .split(separator: ":", maxSplits: 1).last.map { $0.trimmingCharacters(in: .whitespaces) } ?? "unknown CPU"
    return "\(ProcessInfo.processInfo.activeProcessorCount) cores, \(model)"
}

let options = Options.parse(CommandLine.arguments)
var daemon: PrivateDaemon? = nil
let socket: String
if let given = options.socket {
    socket = given
} else {
    do {
        daemon = try PrivateDaemon()
        socket = daemon!.socket
    } catch {
        FileHandle.standardError.write(Data("lalo-bench: \(error)\n".utf8))
        exit(1)
    }
}

print("lalo-bench: \(options.method) over \(socket), audit on (every call committed before its answer)")
print("machine: \(machineDescription())")
print("clients  calls      calls/s    p50 µs   p90 µs   p99 µs   p99.9 µs  max µs    errors")
for clients in options.clientCounts {
    _ = measure(socket: socket, method: options.method, clients: clients, seconds: options.warmupSeconds)
    let run = measure(socket: socket, method: options.method, clients: clients, seconds: options.seconds)
    let calls = run.latenciesNanos.count
    let line = String(
        format: "%-8d %-10d %-10.0f %-8.1f %-8.1f %-8.1f %-9.1f %-9.1f %d", clients, calls, Double(calls) / run.elapsed,
        percentile(run.latenciesNanos, 0.50), percentile(run.latenciesNanos, 0.90),
        percentile(run.latenciesNanos, 0.99),
        percentile(run.latenciesNanos, 0.999), percentile(run.latenciesNanos, 1.0), run.errors)
    print(line)
}
if let daemon {
    if let client = try? LaloClient(socketPath: socket), let verify = try? client.call(AuditVerify.self) {
        print("audit: \(verify.entries) entries, chain \(verify.ok ? "verifies" : "BROKEN")")
    }
    daemon.stop()
}
