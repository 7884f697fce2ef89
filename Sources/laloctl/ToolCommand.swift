import ArgumentParser
import Foundation
import Shared

struct ToolCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tool", abstract: "List, inspect and configure tools, and see their recorded calls.",
        subcommands: [List.self, Describe.self, Configure.self, Executions.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Registered tools with risk, permission, limits and state.")
        @OptionGroup var global: GlobalOptions

        func run() throws {
            try global.show(ToolList.name) { r in
                Terminal.table(
                    ["TOOL", "RISK", "ENABLED", "TIMEOUT", "PER MIN", "PERMISSION", "DESCRIPTION"],
                    (r["tools"]?.arrayValue ?? []).map { t in
                        [
                            Terminal.text(t["name"]), Terminal.text(t["risk"]),
                            t["enabled"] == true ? "yes" : Terminal.bad("no"),
                            "\(Terminal.text(t["timeoutMs"])) ms",
                            t["rateLimitPerMinute"] == 0 ? "-" : Terminal.text(t["rateLimitPerMinute"]),
                            Terminal.text(t["permission"]), String(Terminal.text(t["description"]).prefix(60)),
                        ]
                    })
            }
        }
    }

    struct Describe: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "One tool with its input and output schemas and settings.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Tool name.") var name: String

        func run() throws {
            try global.show(ToolDescribe.name, params: ["name": .string(name)]) { t in
                print(JSONWriter.pretty(t))
            }
        }
    }

    struct Configure: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Enable or disable a tool, or change its limits and settings (needs tool.configure).",
            discussion: "Settings are KEY=JSON pairs merged over the current ones: --setting maxResponseBytes=2097152")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Tool name.") var name: String
        @Flag(help: "Enable the tool.") var enable = false
        @Flag(help: "Disable the tool: calls to it are refused.") var disable = false
        @Option(help: "Timeout per call in milliseconds.") var timeoutMs: Int?
        @Option(help: "Calls per minute (0: unlimited).") var ratePerMinute: Int?
        @Option(help: "A setting as KEY=JSON (repeatable).") var setting: [String] = []

        func validate() throws {
            if enable && disable { throw ValidationError("give --enable or --disable, not both") }
        }

        func run() throws {
            var params: [String: JSONValue] = ["name": .string(name)]
            if enable || disable { params["enabled"] = .bool(enable) }
            if let timeoutMs { params["timeoutMs"] = .int(Int64(timeoutMs)) }
            if let ratePerMinute { params["rateLimitPerMinute"] = .int(Int64(ratePerMinute)) }
            if !setting.isEmpty {
                var settings: [String: JSONValue] = [:]
                for pair in setting {
                    guard let equals = pair.firstIndex(of: "="),
                        let value = try? JSONParser.parse(String(pair[pair.index(after: equals)...]))
                    else {
                        throw ValidationError(
                            "--setting takes KEY=JSON, e.g. maxRetries=3 or allowed=[\"a\"]; got \(pair)")
                    }
                    settings[String(pair[..<equals])] = value
                }
                params["settings"] = .object(settings)
            }
            try global.show(ToolConfigure.name, params: .object(params)) { t in
                print(
                    "\(name): \(t["enabled"] == true ? "enabled" : "disabled"), timeout \(Terminal.text(t["timeoutMs"])) ms, \(Terminal.text(t["rateLimitPerMinute"])) calls/min, settings \(JSONWriter.string(t["settings"] ?? [:]))"
                )
            }
        }
    }

    struct Executions: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Recorded tool calls, newest first (your own; everyone's with audit.read).")
        @OptionGroup var global: GlobalOptions
        @Option(help: "Only this tool.") var tool: String?
        @Option(help: "Only this workflow.") var workflow: String?
        @Option(help: "At most this many.") var limit: Int = 50

        func run() throws {
            var params: [String: JSONValue] = ["limit": .int(Int64(limit))]
            if let tool { params["tool"] = .string(tool) }
            if let workflow { params["workflowId"] = .string(workflow) }
            try global.show(ToolExecutions.name, params: .object(params)) { r in
                Terminal.table(
                    ["ID", "TOOL", "STATUS", "WORKFLOW", "USER", "STARTED", "µs", "ERROR"],
                    (r["executions"]?.arrayValue ?? []).map { e in
                        [
                            Terminal.text(e["id"]), Terminal.text(e["tool"]), Terminal.text(e["status"]),
                            Terminal.text(e["workflowId"] ?? "-"),
                            Terminal.text(e["user"]), Terminal.text(e["startedAt"]),
                            Terminal.text(e["durationMicros"] ?? "-"),
                            String(Terminal.text(e["error"] ?? "").prefix(60)),
                        ]
                    })
            }
        }
    }
}
