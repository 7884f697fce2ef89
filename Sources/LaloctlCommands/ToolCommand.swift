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
            try global.show(ToolList.self) { r in
                Terminal.table(
                    ["TOOL", "RISK", "ENABLED", "TIMEOUT", "PER MIN", "PERMISSION", "DESCRIPTION"],
                    r.tools.map { t in
                        [
                            t.name, t.risk, t.enabled ? "yes" : Terminal.bad("no"), "\(t.timeoutMs) ms",
                            t.rateLimitPerMinute == 0 ? "-" : "\(t.rateLimitPerMinute)", t.permission,
                            String(t.description.prefix(60)),
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
            try global.show(ToolDescribe.self, .init(name: name)) { t in
                print(JSONWriter.pretty((try? JSONValueEncoder().encode(t)) ?? .null))
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
            var settings: JSONValue?
            if !setting.isEmpty {
                var pairs: [String: JSONValue] = [:]
                for pair in setting {
                    guard let equals = pair.firstIndex(of: "="),
                        let value = try? JSONParser.parse(String(pair[pair.index(after: equals)...]))
                    else {
                        throw ValidationError(
                            "--setting takes KEY=JSON, e.g. maxRetries=3 or allowed=[\"a\"]; got \(pair)")
                    }
                    pairs[String(pair[..<equals])] = value
                }
                settings = .object(pairs)
            }
            let params = ToolConfigure.Params(
                name: name, enabled: enable || disable ? enable : nil, timeoutMs: timeoutMs,
                rateLimitPerMinute: ratePerMinute, settings: settings)
            try global.show(ToolConfigure.self, params) { t in
                print(
                    "\(name): \(t.enabled ? "enabled" : "disabled"), timeout \(t.timeoutMs) ms, \(t.rateLimitPerMinute) calls/min, settings \(JSONWriter.string(t.settings))"
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
            try global.show(ToolExecutions.self, .init(tool: tool, workflowId: workflow, limit: limit)) { r in
                Terminal.table(
                    ["ID", "TOOL", "STATUS", "WORKFLOW", "USER", "STARTED", "µs", "ERROR"],
                    r.executions.map { e in
                        [
                            "\(e.id)", e.tool, e.status, e.workflowId ?? "-", e.user, e.startedAt,
                            e.durationMicros.map { "\($0)" } ?? "-", String((e.error ?? "").prefix(60)),
                        ]
                    })
            }
        }
    }
}
