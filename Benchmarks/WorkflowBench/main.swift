// lalo-workflow-bench: what the workflow engine costs, how many workflows it carries, how many
// model calls sit on a request's critical path, and what a kill -9 with 100 workflows in flight
// does.
//
// Starts laloD (release build, from this binary's directory) with every model role bound to an
// in-process stub that speaks the OpenAI chat API and answers each role with a valid answer
// (an intent, a judge score, a one-step plan, a critique), optionally after a fixed delay.
//
// 1. Engine overhead: sequential workflows of a confident read-only request (one `file list`
//    step, approved by policy), start → awaiting_review, models answering at once. Every request
//    is worded differently so the interpretation cache never answers.
// 2. Throughput: 16 clients starting such workflows back to back.
// 3. Critical path: the same workflow with every model call taking 100 ms; the end-to-end time
//    divided by 100 ms is the number of model calls in sequence.
// 4. Crash: 100 workflows whose plan writes a file and POSTs an order (not idempotent) to the
//    stub, approved as they come; laloD is killed with SIGKILL while they run, restarted, and
//    every workflow is followed to review. Reports lost workflows and orders sent twice.

import Foundation
import Shared
import Synchronization

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("lalo-workflow-bench: \(message)\n".utf8))
    exit(1)
}

func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

func percentile(_ values: [Double], _ p: Double) -> Double {
    let sorted = values.sorted()
    guard !sorted.isEmpty else { return .nan }
    return sorted[min(sorted.count - 1, Int((Double(sorted.count - 1) * p).rounded()))]
}

var runs = 300
var seconds = 10.0
var durability = "full"
var arguments = CommandLine.arguments.dropFirst().makeIterator()
while let argument = arguments.next() {
    switch argument {
    case "--runs": runs = Int(arguments.next() ?? "") ?? runs
    case "--seconds": seconds = Double(arguments.next() ?? "") ?? seconds
    case "--durability": durability = arguments.next() ?? durability
    case "-h", "--help":
        print("usage: lalo-workflow-bench [--runs 300] [--seconds 10] [--durability full|normal]")
        exit(0)
    default: fail("unknown argument \(argument)")
    }
}

let stub = StubModels()
let directory = FileManager.default.temporaryDirectory.appendingPathComponent("lalo-workflow-bench-\(getpid())").path
try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(atPath: directory) }
let socket = directory + "/laloD.sock"
var configuration = """
    [log]
    level = "\(ProcessInfo.processInfo.environment["LALO_BENCH_LOG"] ?? "warning")"
    [localModel]
    mode = "off"
    [server]
    maxInFlightPerConnection = 64
    [store]
    durability = "\(durability)"
    [providers.stub]
    baseURL = "http://127.0.0.1:\(stub.port)/v1"
    maxRetries = 0

    """
for role in ["interpreter", "judge", "planner", "critic"] {
    configuration += "[models.\(role)]\nprovider = \"stub\"\nmodel = \"\(role)\"\n"
}
try configuration.write(toFile: directory + "/laloD.toml", atomically: true, encoding: .utf8)
let binaries = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()

final class Daemon {
    let process = Process()
    init() throws {
        process.executableURL = binaries.appendingPathComponent("laloD")
        process.arguments = [
            "--config", directory + "/laloD.toml", "--socket", socket, "--state-dir", directory + "/state",
        ]
        try process.run()
        for _ in 0..<400 {
            if let client = try? LaloClient(socketPath: socket) {
                client.close()
                return
            }
            usleep(25_000)
        }
        fail("laloD did not start")
    }
    func stop() {
        process.terminate()
        process.waitUntilExit()
    }
    func kill9() {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}

/// Starts a workflow and waits for it to need a person; returns its state.
func runOne(_ client: LaloClient, _ request: String) throws -> String {
    let started = try client.call(WorkflowStart.self, .init(request: request, tools: ["file"]))
    return try client.call(WorkflowSubscribe.self, .init(id: started.id, untilWaiting: true)).state?.rawValue ?? "?"
}

var daemon = try Daemon()
let client = try LaloClient(socketPath: socket)
// The file tool's default limit (600 calls a minute) would measure the limiter, not the engine.
_ = try client.call(ToolConfigure.self, .init(name: "file", rateLimitPerMinute: 0))
_ = try client.call(
    ToolConfigure.self, .init(name: "http.request", rateLimitPerMinute: 0, settings: ["rateLimitPerHostPerMinute": 0]))

// Warm-up: code paths, the SQLite page cache, HTTP keep-alive connections.
for i in 0..<20 { _ = try runOne(client, "warm-up \(i): list the workspace") }

// 1. Engine overhead.
var latencies: [Double] = []
var states: [String: Int] = [:]
for i in 0..<runs {
    let start = now()
    let state = try runOne(client, "overhead \(i): list the workspace")
    latencies.append((now() - start) * 1000)
    states[state, default: 0] += 1
}
if ProcessInfo.processInfo.environment["LALO_BENCH_PHASES"] != nil {
    // Where the time goes, from the stored event times of the last few workflows.
    let recent = try client.call(WorkflowList.self, .init(limit: 5)).workflows
    for workflow in recent {
        let events = try client.call(WorkflowGet.self, WorkflowRef(id: workflow.id)).events
        let created = ISO8601DateFormatter.withFractions.date(from: workflow.createdAt)!.timeIntervalSince1970
        print(
            "  phases: "
                + events.map { e in
                    String(
                        format: "%@ +%.2f ms", e.name,
                        (ISO8601DateFormatter.withFractions.date(from: e.time)!.timeIntervalSince1970 - created) * 1000)
                }.joined(separator: ", "))
    }
}
let callsPerWorkflow = Double(stub.calls.load(ordering: .relaxed)) / Double(runs + 20)
print(
    "machine: \(ProcessInfo.processInfo.activeProcessorCount) CPUs, \(ProcessInfo.processInfo.physicalMemory >> 30) GiB; laloD release build; store durability \(durability); models: in-process stub answering at once"
)
print(
    String(
        format:
            "1. one-step read-only workflow, start → awaiting_review, %d runs: p50 %.2f ms, p90 %.2f ms, p99 %.2f ms (%.1f model calls each; end states %@)",
        runs, percentile(latencies, 0.5), percentile(latencies, 0.9), percentile(latencies, 0.99), callsPerWorkflow,
        states.description))

// 2. Throughput with 16 concurrent clients.
let completed = Atomic<Int>(0)
let failures = Atomic<Int>(0)
let deadline = now() + seconds
let throughputStart = now()
let group = DispatchGroup()
for worker in 0..<16 {
    group.enter()
    Thread.detachNewThread {
        defer { group.leave() }
        guard let own = try? LaloClient(socketPath: socket) else {
            failures.add(1, ordering: .relaxed)
            return
        }
        var n = 0
        while now() < deadline {
            n += 1
            if (try? runOne(own, "throughput \(worker)-\(n): list the workspace")) == "awaiting_review" {
                completed.add(1, ordering: .relaxed)
            } else {
                failures.add(1, ordering: .relaxed)
            }
        }
        own.close()
    }
}
group.wait()
let elapsed = now() - throughputStart
print(
    String(
        format: "2. 16 concurrent clients for %.0f s: %d workflows to review, %.0f workflows/s, %d failed",
        elapsed, completed.load(ordering: .relaxed), Double(completed.load(ordering: .relaxed)) / elapsed,
        failures.load(ordering: .relaxed)))

// 3. Model calls on the critical path.
stub.delayMs.store(100, ordering: .relaxed)
var slow: [Double] = []
for i in 0..<5 {
    let start = now()
    _ = try runOne(client, "critical \(i): list the workspace")
    slow.append((now() - start) * 1000)
}
let depth = percentile(slow, 0.5) / 100
print(
    String(
        format:
            "3. with every model call taking 100 ms: %.0f ms per workflow (median of 5) = %.1f model calls in sequence (5 calls in all: 2 interpretation samples in parallel, the judge beside the speculative plan, the critic)",
        percentile(slow, 0.5), depth))
stub.delayMs.store(0, ordering: .relaxed)
daemon.stop()

// 4. kill -9 with 100 workflows in flight.
stub.delayMs.store(20, ordering: .relaxed)
stub.orderDelayMs.store(200, ordering: .relaxed)
daemon = try Daemon()
let crash = try LaloClient(socketPath: socket)
var ids: [String] = []
for i in 0..<100 {
    ids.append(
        try crash.call(
            WorkflowStart.self,
            .init(
                request: "crash-\(i): write the file and place order \(i)",
                tools: ["file", "http.request"])
        ).id)
}
/// Approves every plan that waits, until all workflows are in review or have ended.
func approveAll(_ ids: [String], until stop: Double) throws -> [String: WorkflowState] {
    let own = try LaloClient(socketPath: socket)
    defer { own.close() }
    while now() < stop {
        var states: [String: WorkflowState] = [:]
        var cursor: String?
        repeat {
            var params = WorkflowList.Params(limit: 1000)
            params.cursor = cursor
            let page = try own.call(WorkflowList.self, params)
            for workflow in page.workflows where ids.contains(workflow.id) {
                states[workflow.id] = workflow.state
                if workflow.state == .awaitingApproval, let hash = workflow.planHash {
                    _ = try? own.call(WorkflowApprove.self, .init(id: workflow.id, planHash: hash))
                }
            }
            cursor = page.nextCursor
        } while cursor != nil
        if states.count == ids.count,
            states.values.allSatisfy({ $0 == .awaitingReview || $0.isTerminal })
        {
            return states
        }
        usleep(20_000)
    }
    return [:]
}
// Approve as plans arrive, and kill laloD once several executions are running.
let killBy = now() + 30
var before: [WorkflowInfo] = []
while now() < killBy {
    _ = try? approveAll(ids, until: now() + 0.01)
    before = try crash.call(WorkflowList.self, .init(state: "live", limit: 1000)).workflows.filter {
        ids.contains($0.id)
    }
    if before.filter({ $0.state == .executing }).count >= 10 { break }
}
var inFlight: [String: Int] = [:]
for workflow in before { inFlight[workflow.state.rawValue, default: 0] += 1 }
let ordersBefore = stub.orders.withLock { $0.values.reduce(0, +) }
daemon.kill9()
daemon = try Daemon()
let after = try approveAll(ids, until: now() + 120)
var ended: [String: Int] = [:]
for state in after.values { ended[state.rawValue, default: 0] += 1 }
let orders = stub.orders.withLock { $0 }
let twice = orders.filter { $0.value > 1 }.count
let check = try LaloClient(socketPath: socket)
var interrupted = 0
for id in ids {
    let events = try check.call(WorkflowGet.self, WorkflowRef(id: id)).events
    if events.contains(where: { $0.payload?["interrupted"] != nil }) { interrupted += 1 }
}
print(
    "4. kill -9 with 100 workflows started: live at the kill \(inFlight.sorted { $0.key < $1.key }) (\(ordersBefore) orders sent); after restart: \(after.count)/100 followed to \(ended.sorted { $0.key < $1.key }); orders: \(orders.count) workflows ordered, \(twice) ordered twice; \(interrupted) interrupted orders went to review unrepeated"
)
daemon.stop()

extension ISO8601DateFormatter {
    nonisolated(unsafe) static let withFractions: ISO8601DateFormatter = {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter
    }()
}
