// lalo-eval: the workflow evaluation (docs/eval.md). Starts laloD (from this binary's
// directory) on a temporary socket and state directory with the embedded local model, or with a
// drop-in that maps the roles to another provider, and runs every case of the given JSONL files
// through the whole workflow as a user who approves every plan and accepts every result and
// answers no question. Per case: the state it ended in, whether the workspace holds what the case
// expects, the confidence, model calls, tokens and wall time; in total: right commits, questions
// back, wrong commits (and how many of them were at or above the auto-approval threshold), p50
// wall time. Exit status 0 when every case ran (whatever the results), 1 on a setup failure.
import Foundation
import Shared

/// One line at a time, unbuffered also into a pipe or a file: a run takes minutes.
func say(_ line: String = "") {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("lalo-eval: \(message)\n".utf8))
    exit(1)
}

struct Case: Decodable {
    struct FileExpectation: Decodable { var contains: [String] }
    struct Expectation: Decodable {
        var files: [String: FileExpectation]?
        var changes: String?
        var state: WorkflowState?
    }
    var id: String
    var kind: String
    var request: String
    var tools: [String]
    var expect: Expectation
    /// Cases of the project's own file say how many steps they need; the shared set does not
    /// (then: one step per expected file, at least one).
    var steps: Int?
    var stepCount: Int { steps ?? max(1, expect.files?.count ?? 1) }
    var expectedState: WorkflowState { expect.state ?? (kind == "vague" ? .awaitingClarification : .committed) }
}

var caseFiles: [String] = []
var localModel = "/var/lib/lalo/local-model"
var dropIn: String?
var only: Set<String> = []
var threshold: Double?
var timeoutSeconds = 300.0
var jsonOutput = false
var verbose = false
var laloDPath: String?
var arguments = CommandLine.arguments.dropFirst().makeIterator()
let usage = """
    usage: lalo-eval [--cases FILE]... [--local-model DIR] [--config DROPIN.toml] [--threshold X]
                     [--only ID[,ID...]] [--timeout SECONDS] [--json] [--verbose]

      --cases FILE       JSONL evaluation cases (docs/eval.md); repeatable. Default: eval/requests.jsonl
                         and eval/lalo-cases.jsonl
      --local-model DIR  the embedded model's installation (make local-model). Default /var/lib/lalo/local-model
      --config FILE      a laloD.toml drop-in, e.g. [providers.NAME] and [models.ROLE] to evaluate another
                         provider instead of the embedded model
      --threshold X      the confidence threshold per workflow (default: laloD's configuration)
      --only IDS         run only these case ids
      --timeout S        the longest one case may take (default 300)
      --json             one JSON object per case, then one for the totals
      --laloD PATH       the laloD to evaluate (default: the one beside this program), e.g. an older build
      --verbose          after each case, its scores and laloD's checks that failed, and its plan
    """
@MainActor func value(_ option: String, _ what: String) -> String {
    guard let value = arguments.next() else { fail("\(option) needs \(what)") }
    return value
}
while let argument = arguments.next() {
    switch argument {
    case "--cases": caseFiles.append(value(argument, "a file"))
    case "--local-model": localModel = value(argument, "a directory")
    case "--config": dropIn = value(argument, "a file")
    case "--threshold":
        guard let number = Double(value(argument, "a number")), (0...1).contains(number) else {
            fail("--threshold needs a number from 0 to 1")
        }
        threshold = number
    case "--only": only = Set(value(argument, "case ids").split(separator: ",").map(String.init))
    case "--timeout":
        guard let number = Double(value(argument, "seconds")), number > 0 else { fail("--timeout needs seconds") }
        timeoutSeconds = number
    case "--json": jsonOutput = true
    case "-v", "--verbose": verbose = true
    case "--laloD": laloDPath = value(argument, "a path")
    case "-h", "--help":
        say(usage)
        exit(0)
    default: fail("unknown argument \(argument)\n\(usage)")
    }
}
if caseFiles.isEmpty { caseFiles = ["eval/requests.jsonl", "eval/lalo-cases.jsonl"] }

var cases: [Case] = []
for file in caseFiles {
    guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { fail("cannot read \(file)") }
    for (number, line) in text.split(separator: "\n").enumerated()
    where !line.trimmingCharacters(in: .whitespaces).isEmpty {
        do {
            cases.append(try JSONDecoder().decode(Case.self, from: Data(line.utf8)))
        } catch {
            fail("\(file):\(number + 1): not a case: \(error)")
        }
    }
}
if !only.isEmpty { cases = cases.filter { only.contains($0.id) } }
guard !cases.isEmpty else { fail("no cases to run") }

// MARK: laloD

let directory = FileManager.default.temporaryDirectory.appendingPathComponent("lalo-eval-\(getpid())").path
try FileManager.default.createDirectory(atPath: directory + "/laloD.toml.d", withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(atPath: directory) }
let socket = directory + "/laloD.sock"
try """
[log]
level = "warning"
[localModel]
python = "\(localModel)/venv/bin/python"

""".write(toFile: directory + "/laloD.toml", atomically: true, encoding: .utf8)
if let dropIn {
    guard let text = try? String(contentsOfFile: dropIn, encoding: .utf8) else { fail("cannot read \(dropIn)") }
    try text.write(toFile: directory + "/laloD.toml.d/eval.toml", atomically: true, encoding: .utf8)
}
let binaries = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
let daemon = Process()
daemon.executableURL = laloDPath.map { URL(fileURLWithPath: $0) } ?? binaries.appendingPathComponent("laloD")
daemon.arguments = ["--config", directory + "/laloD.toml", "--socket", socket, "--state-dir", directory + "/state"]
try daemon.run()
defer {
    daemon.terminate()
    daemon.waitUntilExit()
}
var connected: LaloClient?
for _ in 0..<400 {
    if let client = try? LaloClient(socketPath: socket) {
        connected = client
        break
    }
    usleep(25_000)
}
guard let client = connected else { fail("laloD did not start") }
// laloD's default: read-only plans run without asking at this confidence (docs/workflows.md).
let autoApproveAbove = 0.8
let modelLine =
    "roles: "
    + (try client.call(ModelList.self).roles).map { "\($0.role)=\($0.provider)/\($0.model)" }.joined(separator: " ")

@MainActor func usageTotal() throws -> Int64 {
    let total = try client.call(ModelUsage.self, .init()).total
    return total.promptTokens + total.completionTokens
}

// MARK: One case

struct Outcome {
    var id: String
    var kind: String
    var steps: Int
    /// nil: the case could not run (the note says why).
    var state: WorkflowState?
    var correct: Bool
    var wrong: Bool
    var confidence: Double?
    var calls: Int
    var tokens: Int64
    var seconds: Double
    var note: String
}

@MainActor func workspaceFiles(_ id: String) -> [String: String] {
    let root = directory + "/state/workspaces/" + id
    var files: [String: String] = [:]
    guard let walker = FileManager.default.enumerator(atPath: root) else { return files }
    while let path = walker.nextObject() as? String {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: root + "/" + path, isDirectory: &isDirectory), !isDirectory.boolValue
        {
            files[path] = (try? String(contentsOfFile: root + "/" + path, encoding: .utf8)) ?? ""
        }
    }
    return files
}

@MainActor func run(_ test: Case) throws -> Outcome {
    let tokensBefore = try usageTotal()
    let start = Date()
    let started = try client.call(
        WorkflowStart.self, .init(request: test.request, threshold: threshold, tools: test.tools))
    var state = started.state
    var decisions = 0
    while Date().timeIntervalSince(start) < timeoutSeconds {
        let info = try client.call(WorkflowSubscribe.self, .init(id: started.id, untilWaiting: true))
        state = info.state ?? state
        let current = try client.call(WorkflowGet.self, WorkflowRef(id: started.id)).workflow
        state = current.state
        if state == .awaitingApproval || state == .awaitingReview {
            decisions += 1
            if decisions > 10 { break }
            _ = try client.call(
                WorkflowApprove.self,
                .init(id: started.id, planHash: state == .awaitingApproval ? current.planHash : nil))
            continue
        }
        if !state.isWaiting && !state.isTerminal { continue }  // interpreting, planning, executing
        break
    }
    let seconds = Date().timeIntervalSince(start)
    let detail = try client.call(WorkflowGet.self, WorkflowRef(id: started.id))
    let calls = detail.events.reduce(0) { $0 + Int($1.payload?["modelCalls"]?.intValue ?? 0) }
    let tokens = try usageTotal() - tokensBefore
    let files = workspaceFiles(started.id)
    var correct = state == test.expectedState
    var notes: [String] = []
    if state == .committed {
        if let expected = test.expect.files {
            for (path, expectation) in expected.sorted(by: { $0.key < $1.key }) {
                guard let content = files[path] else {
                    correct = false
                    notes.append("no \(path)")
                    continue
                }
                for text in expectation.contains where !content.contains(text) {
                    correct = false
                    notes.append("\(path) lacks “\(text)” (has “\(content.prefix(40))”)")
                }
            }
            let extra = Set(files.keys).subtracting(expected.keys)
            if !extra.isEmpty { notes.append("also wrote \(extra.sorted().joined(separator: ", "))") }
        }
        if test.expect.changes == "none", !files.isEmpty {
            correct = false
            notes.append("changed \(files.keys.sorted().joined(separator: ", "))")
        }
    } else if state == .failed {
        notes.append(detail.workflow.failure.map { String($0.prefix(120)) } ?? "failed")
    } else if state == .awaitingClarification {
        notes.append("asked: " + String((detail.workflow.questions?.first ?? "").prefix(90)))
    }
    // Wrong: committed what the case does not expect (a vague case that committed anything, a
    // clear one whose workspace does not match).
    let wrong = state == .committed && !correct
    if verbose {
        for event in detail.events where ["interpreted", "planned", "clarificationNeeded"].contains(event.name) {
            let p = event.payload ?? .null
            let failed = (p["checks"]?.arrayValue ?? []).filter { $0["passed"] == false }.map {
                "\($0["name"]?.stringValue ?? "?"): \($0["detail"]?.stringValue ?? "")"
            }
            let scores = ["confidence", "judgeScore", "judgeConsistency", "agreement", "modelScore", "planConfidence"]
                .compactMap { key in p[key]?.numberValue.map { "\(key) \(String(format: "%.2f", $0))" } }
            say(
                "    \(event.name): \(scores.joined(separator: ", "))"
                    + (failed.isEmpty ? "" : "\n      failed: " + failed.joined(separator: "\n      failed: ")))
            let plan = event.name == "clarificationNeeded" ? p["plan"] : p
            for round in plan?["rounds"]?.arrayValue ?? [] {
                say(
                    "      round: critic \(round["score"]?.numberValue ?? 0) steps \(JSONWriter.string(.array((round["steps"]?.arrayValue ?? []).map { $0["arguments"] ?? .null })))"
                )
            }
            if let intent = p["intent"] { say("      intent: \(JSONWriter.string(intent))") }
        }
    }
    if state != .awaitingClarification { _ = try? client.call(WorkflowCancel.self, WorkflowRef(id: started.id)) }
    return Outcome(
        id: test.id, kind: test.kind, steps: test.stepCount, state: state, correct: correct, wrong: wrong,
        confidence: detail.workflow.confidence, calls: calls, tokens: tokens, seconds: seconds,
        note: notes.joined(separator: "; "))
}

// MARK: The run

let cpu =
    (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?.split(separator: "\n")
    .first { $0.hasPrefix("model name") }.map {
        $0.split(separator: ":", maxSplits: 1).last.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
    } ?? "?"
if !jsonOutput {
    say(
        "machine: \(ProcessInfo.processInfo.activeProcessorCount) CPUs (\(cpu ?? "?")), \(ProcessInfo.processInfo.physicalMemory >> 30) GiB"
    )
    say(modelLine)
    say("cases: \(cases.count) from \(caseFiles.joined(separator: ", "))\(threshold.map { "; threshold \($0)" } ?? "")")
    say("")
    say("id                    kind   steps state                   ok   conf  calls tokens   secs  note")
}
var outcomes: [Outcome] = []
for test in cases {
    let outcome: Outcome
    do {
        outcome = try run(test)
    } catch {
        outcome = Outcome(
            id: test.id, kind: test.kind, steps: test.stepCount, state: nil, correct: false, wrong: false,
            confidence: nil, calls: 0, tokens: 0, seconds: 0, note: "\(error)")
    }
    outcomes.append(outcome)
    if jsonOutput {
        var object: [String: JSONValue] = [
            "id": .string(outcome.id), "kind": .string(outcome.kind), "steps": .int(Int64(outcome.steps)),
            "state": .string(outcome.state?.rawValue ?? "error"),
            "correct": .bool(outcome.correct), "wrong": .bool(outcome.wrong), "modelCalls": .int(Int64(outcome.calls)),
            "tokens": .int(outcome.tokens), "seconds": .double(outcome.seconds), "note": .string(outcome.note),
        ]
        if let confidence = outcome.confidence { object["confidence"] = .double(confidence) }
        say(JSONWriter.string(.object(object)))
    } else {
        let pad = { (text: String, width: Int) in
            text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count)
        }
        say(
            pad(outcome.id, 22) + pad(outcome.kind, 7) + pad("\(outcome.steps)", 6)
                + pad(outcome.state?.rawValue ?? "error", 24)
                + pad(outcome.correct ? "yes" : "NO", 5)
                + pad(outcome.confidence.map { String(format: "%.2f", $0) } ?? "-", 6)
                + pad("\(outcome.calls)", 6) + pad("\(outcome.tokens)", 7)
                + pad(String(format: "%.1f", outcome.seconds), 6) + outcome.note)
    }
}

func percentile(_ values: [Double], _ p: Double) -> Double {
    guard !values.isEmpty else { return .nan }
    let sorted = values.sorted()
    return sorted[min(sorted.count - 1, Int((Double(sorted.count - 1) * p).rounded()))]
}
let single = outcomes.filter { $0.kind == "clear" && $0.steps == 1 }
let clear = outcomes.filter { $0.kind == "clear" }
let vague = outcomes.filter { $0.kind == "vague" }
let wrong = outcomes.filter(\.wrong)
let wrongAbove = wrong.filter { ($0.confidence ?? 0) >= autoApproveAbove }
let totals: [(String, String)] = [
    ("clear single-step committed right", "\(single.filter(\.correct).count) of \(single.count)"),
    ("clear (all) committed right", "\(clear.filter(\.correct).count) of \(clear.count)"),
    ("vague asked back", "\(vague.filter { $0.state == .awaitingClarification }.count) of \(vague.count)"),
    ("wrong commits", "\(wrong.count)"),
    ("wrong commits at or above the auto-approval threshold (\(autoApproveAbove))", "\(wrongAbove.count)"),
    ("wall time p50, clear single-step", String(format: "%.1f s", percentile(single.map(\.seconds), 0.5))),
    (
        "wall time p50 / max, all",
        String(format: "%.1f s / %.1f s", percentile(outcomes.map(\.seconds), 0.5), outcomes.map(\.seconds).max() ?? 0)
    ),
    ("model calls p50, all", String(format: "%.0f", percentile(outcomes.map { Double($0.calls) }, 0.5))),
    ("tokens, all", "\(outcomes.reduce(0) { $0 + $1.tokens })"),
]
if jsonOutput {
    say(JSONWriter.string(.object(Dictionary(uniqueKeysWithValues: totals.map { ($0.0, JSONValue.string($0.1)) }))))
} else {
    say("")
    for (name, value) in totals { say("\(name): \(value)") }
}
