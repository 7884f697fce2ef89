import ArgumentParser
import Foundation
import Shared

/// `laloctl workflow …`: each step of a workflow as its own command, for scripts and for people
/// who come back to a workflow later. `laloctl run` is the interactive path through all of them.
struct WorkflowCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "workflow", abstract: "Start, inspect and drive workflows step by step.",
        discussion: """
            A workflow interprets a request (asking back when unsure), plans tool calls (criticised \
            and revised), waits for approval when policy says so, executes into a stage (the \
            workspace is untouched), and waits for review: accepting applies the staged changes, \
            rejecting discards them. See `laloctl run` for the interactive path.
            """,
        subcommands: [
            Start.self, Get.self, List.self, Watch.self, Clarify.self, Approve.self, Reject.self, Edit.self,
            Cancel.self, Pause.self, Resume.self, Feedback.self,
        ])

    struct Start: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Start a workflow and return at once (watch it with `workflow watch`).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "What to do, in plain words.") var request: String
        @Option(help: "Tools the planner may use, comma-separated (default: every tool you may use).") var tools:
            String?
        @Option(help: "Confidence below which the workflow asks questions (0 to 1).") var threshold: Double?
        @Flag(help: "Only someone other than you may approve the plan.") var differentApprover = false

        func run() throws {
            let params = WorkflowStart.Params(
                request: request, threshold: threshold, tools: tools.map { $0.split(separator: ",").map(String.init) },
                requireDifferentApprover: differentApprover ? true : nil)
            try global.show(WorkflowStart.self, params) { WorkflowPrinter.summary($0) }
        }
    }

    struct Get: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "A workflow with its whole history: interpretations, plan rounds, results.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Workflow id.") var id: String

        func run() throws {
            try global.show(WorkflowGet.self, WorkflowRef(id: id)) { result in
                WorkflowPrinter.summary(result.workflow)
                print("")
                for event in result.events {
                    print(
                        Terminal.paint(
                            "#\(event.seq) \(event.time) \(event.user) → \(event.state.rawValue)", "2"))
                    WorkflowPrinter.event(event)
                }
                for feedback in result.feedback {
                    print(
                        "feedback by \(Terminal.text(feedback["user"])): "
                            + ["thumbs", "rating", "category", "comment"]
                            .compactMap { key in feedback[key].map { "\(key) \(Terminal.text($0))" } }.joined(
                                separator: ", "))
                }
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Workflows, newest first.")
        @OptionGroup var global: GlobalOptions
        @Option(help: "Only this state (or live, waiting).") var state: String?
        @Option(help: "Only this user's (needs workflow.approve or audit.read).") var user: String?
        @Flag(help: "Everyone's (needs workflow.approve or audit.read).") var all = false
        @Option(help: "At most this many.") var limit: Int = 50

        func run() throws {
            let params = WorkflowList.Params(state: state, user: user, all: all ? true : nil, limit: limit)
            try global.show(WorkflowList.self, params) { result in
                Terminal.table(
                    ["ID", "STATE", "USER", "CONFIDENCE", "UPDATED", "REQUEST"],
                    result.workflows.map { w in
                        [
                            w.id, w.state.rawValue, w.user, WorkflowPrinter.percent(w.confidence.map(JSONValue.double)),
                            w.updatedAt, String(w.request.prefix(50)),
                        ]
                    })
            }
        }
    }

    struct Watch: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Stream a workflow's events (from the start) until it ends, or every workflow you may see.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Workflow id; leave out to watch every workflow you may see.") var id: String?
        @Flag(help: "Stop when the workflow waits for a person.") var untilWaiting = false

        func run() throws {
            let params =
                id.map { WorkflowSubscribe.Params(id: $0, since: 0, untilWaiting: untilWaiting ? true : nil) }
                ?? WorkflowSubscribe.Params()
            let json = global.output == .json
            let result = try global.withClient { client in
                try client.call(WorkflowSubscribe.self, params) { method, event in
                    guard method == WorkflowSubscribe.notification else { return }
                    if json {
                        print(JSONWriter.string(event))
                    } else {
                        WorkflowPrinter.event(event, showWorkflow: id == nil)
                    }
                    fflush(nil)
                }
            }
            if !json {
                print(Terminal.paint("(\(result.reason), state \(result.state?.rawValue ?? "-"))", "2"))
            }
        }
    }

    struct Clarify: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Answer the clarification questions, in order.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Workflow id.") var id: String
        @Argument(help: "One answer per question.") var answers: [String]

        func run() throws {
            try global.show(WorkflowClarify.self, .init(id: id, answers: answers)) { WorkflowPrinter.summary($0) }
        }
    }

    struct Approve: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Approve the plan shown (naming its hash), or accept the result under review and commit it.",
            discussion:
                "The plan hash is shown by `laloctl workflow get ID`; an approval of a plan that changed since is refused."
        )
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Workflow id.") var id: String
        @Option(help: "The plan hash you approve (required for plans).") var planHash: String?

        func run() throws {
            try global.show(WorkflowApprove.self, .init(id: id, planHash: planHash)) { WorkflowPrinter.summary($0) }
        }
    }

    struct Reject: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Reject the plan or the result; by default the planner tries again and sees your reason.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Workflow id.") var id: String
        @Option(help: "What is wrong.") var reason: String?
        @Flag(help: "End the workflow instead of planning again.") var noReplan = false

        func run() throws {
            try global.show(WorkflowReject.self, .init(id: id, reason: reason, replan: !noReplan)) {
                WorkflowPrinter.summary($0)
            }
        }
    }

    struct Edit: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Replace the plan awaiting approval with your own steps (a JSON array in a file, or - for stdin)."
        )
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Workflow id.") var id: String
        @Option(help: "The hash of the plan you are replacing.") var planHash: String
        @Option(help: "File holding the steps: [{\"tool\":…,\"arguments\":{…}}, …].") var steps: String

        func run() throws {
            let data =
                steps == "-"
                ? FileHandle.standardInput.readDataToEndOfFile() : FileManager.default.contents(atPath: steps)
            guard let data, let parsed = try? JSONParser.parse(Array(data)), let steps = parsed.arrayValue else {
                Terminal.error("\(self.steps): not a JSON array of steps")
                throw ExitCode(2)
            }
            try global.show(WorkflowEdit.self, .init(id: id, planHash: planHash, steps: steps)) {
                WorkflowPrinter.summary($0)
            }
        }
    }

    struct Cancel: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Cancel a workflow (a running execution stops and is rolled back).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Workflow id.") var id: String
        func run() throws {
            try global.show(WorkflowCancel.self, WorkflowRef(id: id)) { WorkflowPrinter.summary($0) }
        }
    }

    struct Pause: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Pause a workflow (a running execution stops after its current step).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Workflow id.") var id: String
        func run() throws {
            try global.show(WorkflowPause.self, WorkflowRef(id: id)) { WorkflowPrinter.summary($0) }
        }
    }

    struct Resume: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Resume a paused workflow where it stopped.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Workflow id.") var id: String
        func run() throws {
            try global.show(WorkflowResume.self, WorkflowRef(id: id)) { WorkflowPrinter.summary($0) }
        }
    }

    struct Feedback: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Give feedback on a workflow, at any step.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Workflow id.") var id: String
        @Flag(help: "Thumbs up.") var up = false
        @Flag(help: "Thumbs down.") var down = false
        @Option(help: "1 (bad) to 5 (good).") var rating: Int?
        @Option(help: "One of: \(WorkflowFeedback.categories.joined(separator: ", ")).") var category: String?
        @Option(help: "A comment.") var comment: String?

        func validate() throws {
            if up && down { throw ValidationError("--up and --down exclude each other") }
            if let rating, !(1...5).contains(rating) { throw ValidationError("--rating must be 1 to 5") }
        }

        func run() throws {
            let params = WorkflowFeedback.Params(
                id: id, thumbs: up || down ? (up ? "up" : "down") : nil, rating: rating, category: category,
                comment: comment)
            try global.show(WorkflowFeedback.self, params) { result in
                print("feedback \(result.id) recorded on \(result.workflowId) (\(result.state.rawValue))")
            }
        }
    }
}
