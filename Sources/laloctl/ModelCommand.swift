import ArgumentParser
import Foundation
import Shared

struct ModelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model", abstract: "Model roles, provider health, test calls and token usage.",
        subcommands: [List.self, Test.self, Usage.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show each role's provider and model, and provider health.")
        @OptionGroup var global: GlobalOptions

        func run() throws {
            try global.show(ModelList.name) { r in
                Terminal.table(
                    ["ROLE", "PROVIDER", "MODEL"],
                    (r["roles"]?.arrayValue ?? []).map { role in
                        [Terminal.text(role["role"]), Terminal.text(role["provider"]), Terminal.text(role["model"])]
                    })
                print("")
                Terminal.table(
                    ["PROVIDER", "KIND", "URL", "API KEY", "HEALTH", "DETAIL"],
                    (r["providers"]?.arrayValue ?? []).map { p in
                        let health = Terminal.text(p["health"])
                        return [
                            Terminal.text(p["name"]), Terminal.text(p["kind"]), Terminal.text(p["baseURL"]),
                            p["apiKey"].map { Terminal.text($0) } ?? "-",
                            health == "ok" ? Terminal.good(health) : Terminal.bad(health),
                            Terminal.text(p["detail"] ?? ""),
                        ]
                    })
                let local = r["localModel"]
                print(
                    "\nlocal model: \(Terminal.text(local?["state"])), restarts \(Terminal.text(local?["restarts"])), \(Terminal.text(local?["modelFile"]))"
                        + (local?["lastError"].map { ", last error: \(Terminal.text($0))" } ?? ""))
            }
        }
    }

    struct Test: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "A short round trip to one role's model, with its latency.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Role: \(ModelRole.allCases.map(\.rawValue).joined(separator: ", ")).")
        var role: String = "chat"

        func validate() throws {
            guard ModelRole(rawValue: role) != nil else {
                throw ValidationError(
                    "unknown role \(role) (roles: \(ModelRole.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
        }

        func run() throws {
            try global.show(ModelTest.name, params: ["role": .string(role)]) { r in
                let latency = Double(r["latencyMicros"]?.intValue ?? 0) / 1000
                let ttft =
                    r["timeToFirstTokenMicros"]?.intValue.map { String(format: "%.1f ms", Double($0) / 1000) } ?? "-"
                Terminal.fields([
                    ("role", Terminal.text(r["role"])), ("provider", Terminal.text(r["provider"])),
                    ("model", Terminal.text(r["model"])), ("latency", String(format: "%.1f ms", latency)),
                    ("first token", ttft), ("reply", Terminal.text(r["reply"])),
                    (
                        "tokens",
                        "\(Terminal.text(r["usage"]?["promptTokens"])) in, \(Terminal.text(r["usage"]?["completionTokens"])) out"
                    ),
                ])
            }
        }
    }

    struct Usage: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Token usage by day, provider and model (your own; --user or --all need model.manage).")
        @OptionGroup var global: GlobalOptions
        @Option(help: "Another user's usage.") var user: String?
        @Flag(help: "Every user's usage.") var all = false
        @Option(help: "First day (YYYY-MM-DD, UTC).") var since: String?
        @Option(help: "Last day (YYYY-MM-DD, UTC), inclusive.") var until: String?

        func run() throws {
            var params: [String: JSONValue] = [:]
            if let user { params["user"] = .string(user) }
            if all { params["all"] = true }
            if let since { params["since"] = .string(since) }
            if let until { params["until"] = .string(until) }
            try global.show(ModelUsage.name, params: .object(params)) { r in
                Terminal.table(
                    ["DAY", "USER", "PROVIDER", "MODEL", "CALLS", "PROMPT", "COMPLETION"],
                    (r["rows"]?.arrayValue ?? []).map { row in
                        ["day", "user", "provider", "model", "calls", "promptTokens", "completionTokens"].map {
                            Terminal.text(row[$0])
                        }
                    })
                print(
                    "\ntotal: \(Terminal.text(r["total"]?["promptTokens"])) prompt + \(Terminal.text(r["total"]?["completionTokens"])) completion tokens"
                )
            }
        }
    }
}
