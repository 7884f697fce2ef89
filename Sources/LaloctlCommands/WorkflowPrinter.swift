import Foundation
import Shared

/// How workflow events read in a terminal: the interpretation with its confidence, each plan
/// with the critic's rounds and the effect preview, steps as they run, the result with its diff.
enum WorkflowPrinter {
    /// "5 of 6 passed" for a list of laloD's grounding checks.
    static func passedChecks(_ checks: JSONValue?) -> String {
        let all = checks?.arrayValue ?? []
        return "\(all.filter { $0["passed"] == true }.count) of \(all.count) passed"
    }

    static func failedChecks(_ checks: JSONValue?) {
        for check in checks?.arrayValue ?? [] where check["passed"] == false {
            print(
                "  " + (check["blocking"] == true ? Terminal.bad("✗") : "!")
                    + " \(Terminal.text(check["name"])): \(Terminal.text(check["detail"]))")
        }
    }

    static func percent(_ value: JSONValue?) -> String {
        guard let number = value?.numberValue else { return "?" }
        return String(format: "%.0f%%", number * 100)
    }

    static func step(_ step: JSONValue, index: Int) -> String {
        let arguments = step["arguments"]?.objectValue ?? [:]
        // Content can be long: the preview shows its size; `workflow get -o json` has it all.
        let shown = arguments.sorted { $0.key < $1.key }.map { key, value -> String in
            if key == "content", let text = value.stringValue, text.count > 60 {
                return "content=<\(text.utf8.count) bytes>"
            }
            return "\(key)=\(JSONWriter.string(value))"
        }
        return "  \(index + 1). \(Terminal.text(step["tool"])) \(shown.joined(separator: " "))"
            + (step["expectedOutcome"]?.stringValue.map { $0.isEmpty ? "" : "\n     expect: \($0)" } ?? "")
    }

    static func plan(_ payload: JSONValue) {
        let rounds = payload["rounds"]?.arrayValue ?? []
        for (index, round) in rounds.enumerated() {
            let objections = round["objections"]?.arrayValue?.compactMap(\.stringValue) ?? []
            print(
                "  critic round \(index + 1): score \(percent(round["score"]))"
                    + (objections.isEmpty ? "" : " — " + objections.joined(separator: "; ")))
        }
        if payload["source"] == "edit" { print("  edited by \(Terminal.text(payload["editor"]))") }
        for (index, item) in (payload["steps"]?.arrayValue ?? []).enumerated() { print(step(item, index: index)) }
        let effects = payload["effects"]
        var touches: [String] = []
        for key in ["paths", "hosts", "secrets"] {
            let values = effects?[key]?.arrayValue?.compactMap(\.stringValue) ?? []
            if !values.isEmpty { touches.append("\(key): \(values.joined(separator: ", "))") }
        }
        print(
            "  risk: \(Terminal.bold(Terminal.text(effects?["risk"])))"
                + (touches.isEmpty ? "" : " — touches " + touches.joined(separator: "; ")))
        print("  plan hash: \(Terminal.text(payload["hash"]))")
    }

    static func result(_ payload: JSONValue) {
        for step in payload["steps"]?.arrayValue ?? [] {
            let ok = step["status"] == "succeeded"
            var line =
                "  step \((step["index"]?.intValue ?? 0) + 1) \(Terminal.text(step["tool"])): "
                + (ok ? Terminal.good("ok") : Terminal.bad(Terminal.text(step["error"] ?? step["status"])))
            if step["replayed"] == true { line += " (recorded before a restart)" }
            print(line)
            if ok, let result = step["result"], let content = result["content"]?.stringValue {
                print(
                    content.split(separator: "\n", omittingEmptySubsequences: false).prefix(20).map { "    | \($0)" }
                        .joined(separator: "\n"))
            } else if ok, let entries = step["result"]?["entries"]?.arrayValue {
                print("    " + entries.compactMap { $0["name"]?.stringValue }.joined(separator: "  "))
            } else if ok, let result = step["result"], result["durationMs"] != nil {
                code(result)
            }
        }
        if let interrupted = payload["interrupted"]?.stringValue {
            print("  " + Terminal.bad("needs review: ") + interrupted)
        }
        if let failure = payload["failure"]?.stringValue { print("  " + Terminal.bad("failed: ") + failure) }
        let undone = payload["undone"]?.arrayValue?.compactMap(\.stringValue) ?? []
        if !undone.isEmpty { print("  rolled back: " + undone.joined(separator: ", ")) }
        for change in payload["diff"]?.arrayValue ?? [] {
            print(
                "  \(Terminal.text(change["change"])) \(Terminal.text(change["path"]))"
                    + (change["reason"].map { " (\(Terminal.text($0)))" } ?? ""))
            for line in (change["diff"]?.stringValue ?? "").split(separator: "\n", omittingEmptySubsequences: false) {
                let text = String(line)
                if text.hasPrefix("+") && !text.hasPrefix("+++") {
                    print("    " + Terminal.good(text))
                } else if text.hasPrefix("-") && !text.hasPrefix("---") {
                    print("    " + Terminal.bad(text))
                } else if !text.isEmpty {
                    print("    " + text)
                }
            }
        }
    }

    /// What sandboxed code did (`code.run`): how it ended, its output, the files it handed back.
    static func code(_ result: JSONValue) {
        let ending =
            result["exitCode"].map { "exit \(Terminal.text($0))" }
            ?? "killed by signal \(Terminal.text(result["signal"]))"
        let limit = result["limit"].map { ", " + Terminal.bad("\(Terminal.text($0)) limit hit") } ?? ""
        print(
            "    \(ending) after \(Int(result["durationMs"]?.numberValue ?? 0)) ms in the \(Terminal.text(result["backend"])) sandbox\(limit)"
        )
        for (stream, mark) in [("stdout", "|"), ("stderr", "!")] {
            let text = result[stream]?.stringValue ?? ""
            for line in text.split(separator: "\n").prefix(20) { print("    \(mark) \(line)") }
        }
        for file in result["files"]?.arrayValue ?? [] {
            if let error = file["error"] {
                print("    " + Terminal.bad("not collected: ") + Terminal.text(error))
            } else {
                print("    → \(Terminal.text(file["path"])) (\(Terminal.text(file["bytes"])) bytes)")
            }
        }
    }

    /// One streamed event (a `workflow.event` notification's params).
    static func event(_ notification: JSONValue, showWorkflow: Bool = false) {
        guard let event = try? JSONDecoder().decode(WorkflowEventInfo.self, from: Data(JSONWriter.bytes(notification)))
        else {
            print("? \(JSONWriter.string(notification))")
            return
        }
        self.event(event, showWorkflow: showWorkflow)
    }

    /// One event, as `laloctl run` and `laloctl workflow watch` show it.
    static func event(_ info: WorkflowEventInfo, showWorkflow: Bool = false) {
        let event = (try? JSONValueEncoder().encode(info)) ?? .null
        let name = event["name"]?.stringValue ?? "?"
        let payload = event["payload"] ?? .null
        let prefix = showWorkflow ? "[\(Terminal.text(event["workflowId"]))] " : ""
        switch name {
        case "interpreted":
            if let intent = payload["intent"] {
                print(
                    prefix + Terminal.bold("Interpretation")
                        + " (confidence \(percent(payload["confidence"])): judge \(percent(payload["judgeScore"])), agreement \(percent(payload["agreement"]))"
                        + (payload["checks"] != nil ? ", checks \(passedChecks(payload["checks"]))" : "")
                        + (payload["fromCache"] == true ? ", cached" : "") + ")")
                print("  goal: \(Terminal.text(intent["goal"]))")
                print("  expected: \(Terminal.text(intent["expectedOutput"]))")
                failedChecks(payload["checks"])
            } else {
                print(prefix + Terminal.bold("Interpretation failed") + ": \(Terminal.text(payload["problem"]))")
            }
            let questions = payload["questions"]?.arrayValue?.compactMap(\.stringValue) ?? []
            if !questions.isEmpty {
                print("  needs clarification:")
                for (index, question) in questions.enumerated() { print("   \(index + 1). \(question)") }
            }
        case "clarificationNeeded":
            print(
                prefix + Terminal.bad("No plan grounded in the request")
                    + " (confidence \(percent(payload["confidence"])))")
            if let steps = payload["plan"]?["steps"]?.arrayValue, !steps.isEmpty { plan(payload["plan"] ?? .null) }
            failedChecks(payload["checks"])
            let questions = payload["questions"]?.arrayValue?.compactMap(\.stringValue) ?? []
            if !questions.isEmpty {
                print("  needs clarification:")
                for (index, question) in questions.enumerated() { print("   \(index + 1). \(question)") }
            }
        case "clarified":
            print(
                prefix + "Answered: "
                    + (payload["answers"]?.arrayValue?.compactMap(\.stringValue).joined(separator: " | ") ?? ""))
        case "planned", "edited":
            print(
                prefix + Terminal.bold(name == "edited" ? "Edited plan" : "Plan")
                    + (payload["passed"] == false ? Terminal.bad(" (the critic never passed it)") : ""))
            if let feedback = payload["feedback"]?.stringValue { print("  revised because: \(feedback)") }
            if payload["confidence"] != nil {
                print("  confidence \(percent(payload["confidence"])), checks \(passedChecks(payload["checks"]))")
                failedChecks(payload["checks"])
            }
            plan(payload)
            if info.state == .executing { print("  approved by policy (read-only, confident)") }
        case "approved":
            print(
                prefix + Terminal.good(payload["stage"] == "review" ? "Accepted" : "Approved")
                    + " by \(Terminal.text(event["user"]))")
        case "rejected":
            print(
                prefix + Terminal.bad("Rejected") + " by \(Terminal.text(event["user"]))"
                    + (payload["reason"]?.stringValue.map { ": \($0)" } ?? ""))
        case "progress":
            if payload["status"] == "started" {
                print(
                    prefix
                        + "  running step \((payload["step"]?.intValue ?? 0) + 1) (\(Terminal.text(payload["tool"])))…")
            }
        case "executed":
            print(prefix + Terminal.bold("Result") + " — review it:")
            result(payload)
        case "executionRolledBack":
            print(prefix + Terminal.bad("Execution failed and was rolled back"))
            result(payload)
        case "rolledBack":
            print(
                prefix + "Rolled back: "
                    + (payload["undone"]?.arrayValue?.compactMap(\.stringValue).joined(separator: ", ")
                        ?? "nothing to undo"))
        case "failed":
            print(prefix + Terminal.bad("Failed") + ": \(Terminal.text(payload["reason"] ?? event["payload"]))")
        default:
            print(prefix + "\(name) → \(info.state.rawValue)")
        }
    }

    static func summary(_ workflow: WorkflowInfo) {
        Terminal.fields(
            [
                ("id", workflow.id), ("state", Terminal.bold(workflow.state.rawValue)), ("request", workflow.request),
                ("user", workflow.user), ("confidence", percent(workflow.confidence.map(JSONValue.double))),
                ("plan hash", workflow.planHash ?? "-"), ("created", workflow.createdAt),
                ("updated", workflow.updatedAt),
            ] + (workflow.failure.map { [("failure", $0)] } ?? []))
    }
}
