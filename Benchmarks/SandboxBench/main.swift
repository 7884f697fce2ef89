// lalo-sandbox-bench: start-to-exit latency of the sandbox, side by side in one process: plain,
// the native launcher, bwrap and `docker run`, for /bin/true and `python3 -c pass`, with p50/p99
// and the ratios the sandbox issue names as targets.
//
//   lalo-sandbox-bench [--runs N] [--docker-runs N] [--launcher PATH] [--docker-host unix:///path] [--image NAME]
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

var runs = 300
var dockerRuns = 30
var launcher = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent(
    "lalo-sandbox"
).path
var dockerHost: String?
var image = "lalo-sandbox:latest"
var arguments = CommandLine.arguments.dropFirst().makeIterator()
while let argument = arguments.next() {
    switch argument {
    case "--runs": runs = Int(arguments.next() ?? "") ?? runs
    case "--docker-runs": dockerRuns = Int(arguments.next() ?? "") ?? dockerRuns
    case "--launcher": launcher = arguments.next() ?? launcher
    case "--docker-host": dockerHost = arguments.next()
    case "--image": image = arguments.next() ?? image
    default:
        print(
            "usage: lalo-sandbox-bench [--runs N] [--docker-runs N] [--launcher PATH] [--docker-host unix:///path] [--image NAME]"
        )
        exit(2)
    }
}

/// Every runner gets the environment the native sandbox gives its payload, whatever the caller's:
/// a variable can change what Python loads at start (this machine has a .pth hook that imports
/// certifi when one is set), and then the comparison would not be of like with like.
let variables: [String] = ["PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/tmp", "LANG=C.UTF-8"]
nonisolated(unsafe) let environment: [UnsafeMutablePointer<CChar>?] = variables.map { strdup($0) } + [nil]

/// Spawns `argv` with stdio on /dev/null and waits: milliseconds from spawn to reaped exit.
func once(_ argv: [String]) -> Double? {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    for fd: Int32 in [0, 1, 2] {
        posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", fd == 0 ? O_RDONLY : O_WRONLY, 0)
    }
    let cArgs = argv.map { strdup($0) } + [nil]
    defer { for pointer in cArgs { free(pointer) } }
    var pid: pid_t = 0
    let start = DispatchTime.now().uptimeNanoseconds
    guard posix_spawn(&pid, argv[0], &actions, nil, cArgs, environment) == 0 else { return nil }
    var status: Int32 = 0
    waitpid(pid, &status, 0)
    let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
    return status == 0 ? elapsed : nil
}

struct Figures {
    var p50: Double
    var p99: Double
    var failures: Int
}

func measure(_ argv: [String], runs: Int) -> Figures {
    for _ in 0..<min(5, runs) { _ = once(argv) }  // warm the page cache
    var samples: [Double] = []
    var failures = 0
    for _ in 0..<runs {
        if let ms = once(argv) { samples.append(ms) } else { failures += 1 }
    }
    samples.sort()
    guard !samples.isEmpty else { return Figures(p50: .nan, p99: .nan, failures: failures) }
    return Figures(
        p50: samples[samples.count / 2], p99: samples[min(samples.count - 1, Int(Double(samples.count) * 0.99))],
        failures: failures)
}

let python = "/usr/bin/python3"
let bwrap = [
    "/usr/bin/bwrap", "--unshare-all", "--die-with-parent", "--new-session", "--ro-bind", "/usr", "/usr",
    "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64", "--symlink", "usr/bin", "/bin",
    "--symlink", "usr/sbin", "/sbin", "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--chdir", "/tmp",
]
let native = [launcher, "--host-uid", "250000", "--"]
var docker: [String]?
if let dockerHost {
    docker = ["/usr/bin/docker", "-H", dockerHost, "run", "--rm", "--network", "none", "--user", "1000:1000", image]
}

// `-I -S` as well: the interpreter without site-packages, whose .pth hooks a host may load up
// (this one has a certifi import in one, ~30 ms) and which then dominate the plain figure.
let payloads: [(String, [String])] = [
    ("/bin/true", ["/bin/true"]), ("python3 -c pass", [python, "-c", "pass"]),
    ("python3 -I -S", [python, "-I", "-S", "-c", "pass"]),
]
print("lalo-sandbox-bench: \(runs) runs each (docker: \(dockerRuns)), start to exit, milliseconds")
func pad(_ text: String, _ width: Int) -> String {
    text.padding(toLength: max(width, text.count), withPad: " ", startingAt: 0)
}
print(pad("payload", 18) + pad("runner", 8) + "      p50       p99")
for (name, payload) in payloads {
    var results: [(String, Figures)] = [
        ("plain", measure(payload, runs: runs)), ("native", measure(native + payload, runs: runs)),
    ]
    if FileManager.default.isExecutableFile(atPath: bwrap[0]) {
        results.append(("bwrap", measure(bwrap + payload, runs: runs)))
    }
    if let docker { results.append(("docker", measure(docker + payload, runs: dockerRuns))) }
    for (runner, figures) in results {
        let failed = figures.failures > 0 ? "  (\(figures.failures) failed)" : ""
        print(pad(name, 18) + pad(runner, 8) + String(format: "%9.2f %9.2f", figures.p50, figures.p99) + failed)
    }
    let byName = Dictionary(uniqueKeysWithValues: results)
    let nativeP50 = byName["native"]!.p50
    var ratios = [String(format: "native/plain %.2f", nativeP50 / byName["plain"]!.p50)]
    if let b = byName["bwrap"] { ratios.append(String(format: "native/bwrap %.2f", nativeP50 / b.p50)) }
    if let d = byName["docker"] { ratios.append(String(format: "docker/native %.1f", d.p50 / nativeP50)) }
    print("  \(name): " + ratios.joined(separator: ", "))
}
