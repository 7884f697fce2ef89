// lalo-model-bench: the embedded local model's speed, and what laloD adds to a streamed completion.
//
// Starts laloD (from this binary's directory) with the local model, then alternates the same
// streamed chat completion sent (a) straight to the llama.cpp server over a plain TCP socket and
// (b) through laloD's model.complete over its Unix socket. For each it measures time to first
// token (request written → first content delta read) and the generation rate. Runs alternate so
// drift in the model's speed hits both sides alike; the overhead is the median of the paired
// differences.

import BenchSupport
import Foundation
import Shared

struct Options {
    var runs = 30
    var maxTokens = 32
    var localModel = ProcessInfo.processInfo.environment["LALO_LOCAL_MODEL"] ?? "/var/lib/lalo/local-model"
    var prompt = "List three colours."
    /// Measure against an in-process stub server that answers at once, so the model's own
    /// jitter does not hide laloD's overhead.
    var stub = false

    static func parse() -> Options {
        var options = Options()
        var iterator = CommandLine.arguments.dropFirst().makeIterator()
        while let argument = iterator.next() {
            switch argument {
            case "--runs": options.runs = Int(iterator.next() ?? "") ?? options.runs
            case "--max-tokens": options.maxTokens = Int(iterator.next() ?? "") ?? options.maxTokens
            case "--local-model": options.localModel = iterator.next() ?? options.localModel
            case "--prompt": options.prompt = iterator.next() ?? options.prompt
            case "--stub": options.stub = true
            case "-h", "--help":
                print(
                    "usage: lalo-model-bench [--runs 30] [--max-tokens 32] [--local-model DIR] [--prompt TEXT] [--stub]"
                )
                exit(0)
            default:
                FileHandle.standardError.write(Data("lalo-model-bench: unknown argument \(argument)\n".utf8))
                exit(2)
            }
        }
        return options
    }
}

struct Sample {
    var ttft: Double  // seconds
    var total: Double
    var deltas: Int
    var rate: Double { deltas > 1 ? Double(deltas - 1) / (total - ttft) : 0 }
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("lalo-model-bench: \(message)\n".utf8))
    exit(1)
}

let options = Options.parse()
let directory = FileManager.default.temporaryDirectory.appendingPathComponent("lalo-model-bench-\(getpid())").path
try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
let socket = directory + "/laloD.sock"
let stubPort = options.stub ? StubServer.start(tokens: options.maxTokens) : 0
try
    ("""
[log]
level = "\(ProcessInfo.processInfo.environment["LALO_BENCH_LOG"] ?? "warning")"
[localModel]
python = "\(options.localModel)/venv/bin/python"
mode = "\(options.stub ? "off" : "auto")"
"""
    + (options.stub
        ? """

        [providers.stub]
        baseURL = "http://127.0.0.1:\(stubPort)/v1"
        [models.chat]
        provider = "stub"
        model = "stub"
        """ : ""))
    .write(toFile: directory + "/laloD.toml", atomically: true, encoding: .utf8)
let binaries = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
let daemon = Process()
daemon.executableURL = binaries.appendingPathComponent("laloD")
daemon.arguments = ["--config", directory + "/laloD.toml", "--socket", socket, "--state-dir", directory + "/state"]
try daemon.run()
defer {
    daemon.terminate()
    daemon.waitUntilExit()
    try? FileManager.default.removeItem(atPath: directory)
}

var client: LaloClient?
for _ in 0..<200 where client == nil {
    client = try? LaloClient(socketPath: socket)
    if client == nil { usleep(50_000) }
}
guard let client else { fail("laloD did not start") }
var port: Int64? = options.stub ? Int64(stubPort) : nil
var serverKey = ""
for _ in 0..<1200 where port == nil {
    let list = try client.call("model.list")
    if list["localModel"]?["state"] == "running" {
        port = list["localModel"]?["port"]?.intValue
        // laloD gives its server a random API key in the environment; the direct path needs it
        // too (this benchmark runs as root or as laloD's user, so it may read the environment).
        let pid = list["localModel"]?["pid"]?.intValue ?? 0
        let environ = (try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/environ"))) ?? Data()
        for entry in environ.split(separator: 0) where entry.starts(with: Array("API_KEY=".utf8)) {
            serverKey = String(decoding: entry.dropFirst(8), as: UTF8.self)
        }
        break
    }
    usleep(100_000)
}
guard let port else { fail("the local model did not start") }
let localKey = serverKey

func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// Straight to llama.cpp: one HTTP/1.1 request on a fresh TCP connection, SSE read by hand.
func direct() -> Sample {
    let body = JSONWriter.string([
        "model": "smollm2-135m-instruct", "stream": true, "max_tokens": .int(Int64(options.maxTokens)),
        "temperature": 0,
        "messages": [["role": "user", "content": .string(options.prompt)]],
    ])
    let request =
        "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nAccept: text/event-stream\r\nAuthorization: Bearer \(localKey)\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)"
    let fd = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = UInt16(port).bigEndian
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var one: Int32 = 1
    setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    let start = now()
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
        }
    }
    guard connected == 0 else { fail("cannot connect to the local model on port \(port)") }
    _ = request.withCString { write(fd, $0, strlen($0)) }
    var buffer = [UInt8](repeating: 0, count: 65536)
    var pending: [UInt8] = []
    var ttft: Double?
    var deltas = 0
    var done = false
    while !done {
        let n = read(fd, &buffer, buffer.count)
        if n <= 0 { break }
        pending += buffer[0..<n]
        while let newline = pending.firstIndex(of: 0x0A) {
            let line = String(decoding: pending[..<newline], as: UTF8.self)
            pending.removeSubrange(...newline)
            guard line.hasPrefix("data: ") else { continue }
            let data = line.dropFirst(6).trimmingCharacters(in: .whitespacesAndNewlines)
            if data == "[DONE]" {
                done = true
                break
            }
            if let json = try? JSONParser.parse(data),
                let content = json["choices"]?.arrayValue?.first?["delta"]?["content"]?.stringValue, !content.isEmpty
            {
                if ttft == nil { ttft = now() - start }
                deltas += 1
            }
        }
    }
    close(fd)
    return Sample(ttft: ttft ?? .nan, total: now() - start, deltas: deltas)
}

/// Through laloD: model.complete on its Unix socket, first model.delta notification.
func viaDaemon() throws -> Sample {
    let start = now()
    var ttft: Double?
    var deltas = 0
    _ = try client.call(
        "model.complete",
        params: [
            "messages": [["role": "user", "content": .string(options.prompt)]],
            "maxTokens": .int(Int64(options.maxTokens)),
            "temperature": 0,
        ]
    ) { method, _ in
        guard method == "model.delta" else { return }
        if ttft == nil { ttft = now() - start }
        deltas += 1
    }
    return Sample(ttft: ttft ?? .nan, total: now() - start, deltas: deltas)
}

func percentile(_ values: [Double], _ p: Double) -> Double {
    let sorted = values.sorted()
    return sorted[min(sorted.count - 1, Int((Double(sorted.count - 1) * p).rounded()))]
}

for _ in 0..<3 {
    _ = direct()
    _ = try viaDaemon()
}  // warm the server's prompt cache and both paths
var directSamples: [Sample] = []
var daemonSamples: [Sample] = []
for run in 0..<options.runs {
    // Alternate which goes first, so neither side always follows the other.
    if run % 2 == 0 {
        directSamples.append(direct())
        daemonSamples.append(try viaDaemon())
    } else {
        daemonSamples.append(try viaDaemon())
        directSamples.append(direct())
    }
}
let differences = zip(daemonSamples, directSamples).map { ($0.ttft - $1.ttft) * 1000 }
func row(_ name: String, _ samples: [Sample]) {
    let ttft = samples.map { $0.ttft * 1000 }
    let rates = samples.map(\.rate)
    print(
        String(
            format: "%@ TTFT p50 %7.2f ms  p90 %7.2f ms  p99 %7.2f ms   %6.1f tokens/s (p50)   %4.1f deltas/run",
            name.padding(toLength: 24, withPad: " ", startingAt: 0) as NSString, percentile(ttft, 0.5),
            percentile(ttft, 0.9), percentile(ttft, 0.99),
            percentile(rates, 0.5), Double(samples.map(\.deltas).reduce(0, +)) / Double(samples.count)))
}
print(
    (options.stub
        ? "stub server (answers at once, no model); "
        : "local model: SmolLM2-135M-Instruct Q4_1 via llama-cpp-python server; ")
        + "\(options.runs) paired runs, max_tokens \(options.maxTokens), \(ProcessInfo.processInfo.activeProcessorCount) CPUs"
)
row("direct (TCP, raw SSE)", directSamples)
row("through laloD", daemonSamples)
print(
    String(
        format: "laloD overhead on TTFT: median of paired differences %.2f ms (p10 %.2f, p90 %.2f)",
        percentile(differences, 0.5), percentile(differences, 0.1), percentile(differences, 0.9)))

/// A loopback server that answers every request with an OpenAI-style SSE stream of `tokens`
/// chunks, written at once: the model taken out of the measurement.
enum StubServer {
    static func start(tokens: Int) -> Int {
        var events = ""
        for i in 0..<tokens {
            events +=
                "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"tok\(i) \"},\"finish_reason\":null}]}\n\n"
        }
        events += "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n"
        let response = Array(
            "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: \(events.utf8.count)\r\n\r\n\(events)"
                .utf8)
        return LoopbackHTTPServer.start { _, _ in response }
    }
}
