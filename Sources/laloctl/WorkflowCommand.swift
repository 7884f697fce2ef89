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

    static func printWorkflow(_ result: JSONValue, global: GlobalOptions) {
        if global.output == .json { Terminal.printJSON(result) } else { WorkflowPrinter.summary(result) }
    }

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
            var params: [String: JSONValue] = ["request": .string(request)]
            if let tools { params["tools"] = .array(tools.split(separator: ",").map { .string(String($0)) }) }
            if let threshold { params["threshold"] = .double(threshold) }
            if differentApprover { params["requireDifferentApprover"] = true }
            try global.show(WorkflowStart.name, params: .object(params)) { WorkflowPrinter.summary($0) }
        }
    }

    struct Get: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "A workflow with its whole history: interpretations, plan rounds, results.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Workflow id.") var id: String

        func run() throws {
            try global.show(WorkflowGet.name, params: ["id": .string(id)]) { result in
                WorkflowPrinter.summary(result["workflow"] ?? .null)
                print("")
                for event in result["events"]?.arrayValue ?? [] {
                    print(
                        Terminal.paint(
                            "#\(Terminal.text(event["seq"])) \(Terminal.text(event["time"])) \(Terminal.text(event["user"])) → \(Terminal.text(event["state"]))",
                            "2"))
                    WorkflowPrinter.event(event)
                }
                for feedback in result["feedback"]?.arrayValue ?? [] {
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
            var params: [String: JSONValue] = ["limit": .int(Int64(limit))]
            if let state { params["state"] = .string(state) }
            if let user { params["user"] = .string(user) }
            if all { params["all"] = true }
            try global.show(WorkflowList.name, params: .object(params)) { result in
                Terminal.table(
                    ["ID", "STATE", "USER", "CONFIDENCE", "UPDATED", "REQUEST"],
                    (result["workflows"]?.arrayValue ?? []).map { w in
                        [
                            Terminal.text(w["id"]), Terminal.text(w["state"]), Terminal.text(w["user"]),
                            WorkflowPrinter.percent(w["confidence"]),
                            Terminal.text(w["updatedAt"]), String(Terminal.text(w["request"]).prefix(50)),
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
            var params: [String: JSONValue] = [:]
            if let id {
                params["id"] = .string(id)
                params["since"] = 0
                if untilWaiting { params["untilWaiting"] = true }
            }
            let json = global.output == .json
            let result = try global.withClient { client in
                try client.call(WorkflowSubscribe.name, params: .object(params)) { method, event in
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
                print(
                    Terminal.paint("(\(Terminal.text(result["reason"])), state \(Terminal.text(result["state"])))", "2")
                )
            }
        }
    }

    struct Clarify: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Answer the clarification questions, in order.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Workflow id.") var id: String
        @Argument(help: "One answer per question.") var answers: [String]

        func run() throws {
            try global.show(
                WorkflowClarify.name, params: ["id": .string(id), "answers": .array(answers.map { .string($0) })]
            ) {
                WorkflowPrinter.summary($0)
            }
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
            var params: [String: JSONValue] = ["id": .string(id)]
            if let planHash { params["planHash"] = .string(planHash) }
            try global.show(WorkflowApprove.name, params: .object(params)) { WorkflowPrinter.summary($0) }
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
            var params: [String: JSONValue] = ["id": .string(id), "replan": .bool(!noReplan)]
            if let reason { params["reason"] = .string(reason) }
            try global.show(WorkflowReject.name, params: .object(params)) { WorkflowPrinter.summary($0) }
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
            guard let data, let parsed = try? JSONParser.parse(Array(data)), parsed.arrayValue != nil else {
                Terminal.error("\(steps): not a JSON array of steps")
                throw ExitCode(2)
            }
            try global.show(
                WorkflowEdit.name, params: ["id": .string(id), "planHash": .string(planHash), "steps": parsed]
            ) {
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
            try global.show(WorkflowCancel.name, params: ["id": .string(id)]) { WorkflowPrinter.summary($0) }
        }
    }

    struct Pause: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Pause a workflow (a running execution stops after its current step).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Workflow id.") var id: String
        func run() throws {
            try global.show(WorkflowPause.name, params: ["id": .string(id)]) { WorkflowPrinter.summary($0) }
        }
    }

    struct Resume: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Resume a paused workflow where it stopped.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Workflow id.") var id: String
        func run() throws {
            try global.show(WorkflowResume.name, params: ["id": .string(id)]) { WorkflowPrinter.summary($0) }
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
            var params: [String: JSONValue] = ["id": .string(id)]
            if up || down { params["thumbs"] = .string(up ? "up" : "down") }
            if let rating { params["rating"] = .int(Int64(rating)) }
            if let category { params["category"] = .string(category) }
            if let comment { params["comment"] = .string(comment) }
            try global.show(WorkflowFeedback.name, params: .object(params)) { result in
                print(
                    "feedback \(Terminal.text(result["id"])) recorded on \(Terminal.text(result["workflowId"])) (\(Terminal.text(result["state"])))"
                )
            }
        }
    }
}
