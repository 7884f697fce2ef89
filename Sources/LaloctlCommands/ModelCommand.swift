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
            try global.show(ModelList.self) { r in
                Terminal.table(["ROLE", "PROVIDER", "MODEL"], r.roles.map { [$0.role, $0.provider, $0.model] })
                print("")
                Terminal.table(
                    ["PROVIDER", "KIND", "URL", "API KEY", "HEALTH", "DETAIL"],
                    r.providers.map { p in
                        [
                            p.name, p.kind, p.baseURL, p.apiKey ?? "-",
                            p.health == "ok" ? Terminal.good(p.health) : Terminal.bad(p.health), p.detail ?? "",
                        ]
                    })
                let local = r.localModel
                print(
                    "\nlocal model: \(local.state), restarts \(local.restarts), \(local.modelFile)"
                        + (local.lastError.map { ", last error: \($0)" } ?? ""))
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
            try global.show(ModelTest.self, .init(role: role)) { r in
                let latency = Double(r.latencyMicros) / 1000
                let ttft = r.timeToFirstTokenMicros.map { String(format: "%.1f ms", Double($0) / 1000) } ?? "-"
                Terminal.fields([
                    ("role", r.role), ("provider", r.provider), ("model", r.model),
                    ("latency", String(format: "%.1f ms", latency)), ("first token", ttft), ("reply", r.reply),
                    ("tokens", "\(r.usage.promptTokens) in, \(r.usage.completionTokens) out"),
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
            let params = ModelUsage.Params(user: user, all: all ? true : nil, since: since, until: until)
            try global.show(ModelUsage.self, params) { r in
                Terminal.table(
                    ["DAY", "USER", "PROVIDER", "MODEL", "CALLS", "PROMPT", "COMPLETION"],
                    r.rows.map { row in
                        [
                            row.day, row.user, row.provider, row.model, "\(row.calls)", "\(row.promptTokens)",
                            "\(row.completionTokens)",
                        ]
                    })
                print(
                    "\ntotal: \(r.total.promptTokens) prompt + \(r.total.completionTokens) completion tokens")
            }
        }
    }
}
