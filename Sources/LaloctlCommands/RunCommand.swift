import ArgumentParser
import Foundation
import Shared

/// `laloctl run "REQUEST"`: one workflow from request to commit in the terminal. It shows the
/// interpretation and its confidence, asks the clarification questions, shows the plan with the
/// critic's rounds and what it would touch, asks to approve, reject or edit, streams the
/// execution, shows the result and the diff, asks to accept, and asks for feedback.
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run", abstract: "Run a request through the whole workflow interactively.",
        discussion: """
            Without a terminal (or with -o json) nothing is asked: --answer gives clarification \
            answers, --yes approves plans and accepts results (policy still decides which plans \
            need approval), and a workflow that needs a decision the flags cannot give is left \
            waiting: laloctl prints the command that continues it and exits with 5. With -o json \
            every event is printed as one JSON line. Exit codes: 0 committed, 1 ended otherwise \
            (rejected, rolled back, failed, cancelled), 5 waiting for a person.
            """)
    @OptionGroup var global: GlobalOptions
    @Argument(help: "What to do, in plain words.") var request: String
    @Option(help: "Tools the planner may use, comma-separated (default: every tool you may use).") var tools: String?
    @Option(help: "Confidence below which the workflow asks questions (0 to 1).") var threshold: Double?
    @Flag(name: .shortAndLong, help: "Approve plans and accept results without asking.") var yes = false
    @Option(name: .long, help: "An answer to a clarification question (repeat, in order).") var answer: [String] = []
    @Option(help: "Rate the result 1-5 after it is committed (asked interactively otherwise).") var rating: Int?
    @Flag(help: "Only someone other than you may approve the plan.") var differentApprover = false

    func validate() throws {
        if let rating, !(1...5).contains(rating) { throw ValidationError("--rating must be 1 to 5") }
        if let threshold, !(0...1).contains(threshold) { throw ValidationError("--threshold must be between 0 and 1") }
    }

    private var interactive: Bool { isatty(STDIN_FILENO) == 1 && global.output == .table }

    func run() throws {
        let code = try global.withClient { client in try drive(client) }
        if code != 0 { throw ExitCode(code) }
    }

    private func drive(_ client: LaloClient) throws -> Int32 {
        let started = try client.call(
            WorkflowStart.self,
            .init(
                request: request, threshold: threshold, tools: tools.map { $0.split(separator: ",").map(String.init) },
                requireDifferentApprover: differentApprover ? true : nil))
        let id = started.id
        say(Terminal.paint("workflow \(id)", "2"))
        var since: Int64 = 0
        var answers = answer[...]
        while true {
            let end = try client.call(WorkflowSubscribe.self, .init(id: id, since: since, untilWaiting: true)) {
                method, event in
                guard method == WorkflowSubscribe.notification else { return }
                if global.output == .json { print(JSONWriter.string(event)) } else { WorkflowPrinter.event(event) }
                fflush(nil)
            }
            since = end.lastSeq ?? since
            let workflow = try client.call(WorkflowGet.self, WorkflowRef(id: id)).workflow
            switch workflow.state {
            case .committed:
                say(Terminal.good("Committed."))
                try feedback(client, id)
                return 0
            case .awaitingClarification:
                let questions = workflow.questions ?? []
                var given: [String] = []
                for question in questions {
                    if let next = answers.popFirst() {
                        given.append(next)
                        continue
                    }
                    guard interactive else { return waiting(id, "answer: laloctl workflow clarify \(id) ANSWER...") }
                    given.append(ask(question))
                }
                _ = try client.call(WorkflowClarify.self, .init(id: id, answers: given))
            case .awaitingApproval:
                let hash = workflow.planHash ?? ""
                if yes {
                    say("approving (--yes)")
                    _ = try client.call(WorkflowApprove.self, .init(id: id, planHash: hash))
                    continue
                }
                guard interactive else {
                    return waiting(id, "approve: laloctl workflow approve \(id) --plan-hash \(hash)")
                }
                switch choose("Approve this plan? [a]pprove, [r]eject, [e]dit, [q]uit", ["a", "r", "e", "q"]) {
                case "a":
                    _ = try client.call(WorkflowApprove.self, .init(id: id, planHash: hash))
                case "r": try reject(client, id)
                case "e": try edit(client, id, hash: hash)
                default: return waiting(id, "approve later: laloctl workflow approve \(id) --plan-hash \(hash)")
                }
            case .awaitingReview:
                if yes {
                    say("accepting (--yes)")
                    _ = try client.call(WorkflowApprove.self, .init(id: id, planHash: nil))
                    continue
                }
                guard interactive else { return waiting(id, "accept: laloctl workflow approve \(id)") }
                switch choose("Accept the result? [a]ccept, [r]eject (roll back), [q]uit", ["a", "r", "q"]) {
                case "a": _ = try client.call(WorkflowApprove.self, .init(id: id, planHash: nil))
                case "r": try reject(client, id)
                default: return waiting(id, "accept later: laloctl workflow approve \(id)")
                }
            case .paused:
                return waiting(id, "resume: laloctl workflow resume \(id)")
            case .rolledBack, .rejected, .failed, .cancelled, .interpreting, .planning, .executing:
                // Ended, or still moving when the subscription stopped (the daemon shut down).
                say(Terminal.bad("Workflow \(workflow.state.rawValue)") + (workflow.failure.map { ": \($0)" } ?? ""))
                return 1
            }
        }
    }

    /// Progress for people goes to stderr when stdout carries JSON lines.
    private func say(_ text: String) {
        if global.output == .json {
            FileHandle.standardError.write(Data((text + "\n").utf8))
        } else {
            print(text)
        }
    }

    private func waiting(_ id: String, _ next: String) -> Int32 {
        say("Workflow \(id) is waiting; to continue, \(next)")
        return 5
    }

    private func ask(_ question: String) -> String {
        while true {
            print(Terminal.bold("? ") + question + " ", terminator: "")
            fflush(nil)
            guard let line = readLine(strippingNewline: true) else { return "" }
            if !line.trimmingCharacters(in: .whitespaces).isEmpty { return line }
        }
    }

    private func choose(_ prompt: String, _ options: [String]) -> String {
        while true {
            let reply = ask(prompt).lowercased()
            if let first = reply.first.map(String.init), options.contains(first) { return first }
        }
    }

    private func reject(_ client: LaloClient, _ id: String) throws {
        let reason = ask("Why? (the planner sees this)")
        let replan = choose("Plan again? [y]es, [n]o", ["y", "n"]) == "y"
        _ = try client.call(WorkflowReject.self, .init(id: id, reason: reason, replan: replan))
    }

    /// Opens the plan's steps in $EDITOR and submits the result as an edit.
    private func edit(_ client: LaloClient, _ id: String, hash: String) throws {
        let events = try client.call(WorkflowGet.self, WorkflowRef(id: id)).events
        let steps = events.last { $0.name == "planned" || $0.name == "edited" }?.payload?["steps"] ?? []
        let path = NSTemporaryDirectory() + "lalo-plan-\(id).json"
        FileManager.default.createFile(
            atPath: path, contents: Data(JSONWriter.pretty(steps).utf8),
            attributes: [.posixPermissions: 0o600])
        defer { try? FileManager.default.removeItem(atPath: path) }
        let editor =
            ProcessInfo.processInfo.environment["VISUAL"] ?? ProcessInfo.processInfo.environment["EDITOR"] ?? "vi"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", "\(editor) \"$1\"", "editor", path]
        try process.run()
        process.waitUntilExit()
        guard let data = FileManager.default.contents(atPath: path), let edited = try? JSONParser.parse(Array(data))
        else {
            Terminal.error("the edited plan is not valid JSON; nothing was changed")
            return
        }
        do {
            guard let edited = edited.arrayValue else {
                Terminal.error("the edited plan must be a JSON array of steps; nothing was changed")
                return
            }
            _ = try client.call(WorkflowEdit.self, .init(id: id, planHash: hash, steps: edited))
        } catch {
            // A refused edit (stale hash, bad step) leaves the plan as it was; the user is told why.
            guard let failure = CallFailure(error), failure.reason != .unreachable else { throw error }
            Terminal.error(failure.description)
        }
    }

    private func feedback(_ client: LaloClient, _ id: String) throws {
        var rating = self.rating
        if rating == nil, interactive {
            let reply = ask("Rate the result 1-5 (or - to skip)")
            rating = Int(reply).flatMap { (1...5).contains($0) ? $0 : nil }
        }
        guard let rating else { return }
        _ = try client.call(WorkflowFeedback.self, .init(id: id, rating: rating))
        say("thanks — rating \(rating) recorded")
    }
}
