import ArgumentParser
import Foundation
import Shared

struct AuditCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit", abstract: "Query, verify and export the hash-chained audit log (needs audit.read).",
        subcommands: [Query.self, Verify.self, Export.self])

    struct Filters: ParsableArguments {
        @Option(help: "Entries at or after this RFC 3339 time.") var since: String?
        @Option(help: "Entries before this RFC 3339 time.") var until: String?
        @Option(help: "Only this user (name or uid).") var user: String?
        @Option(help: "Only this method, e.g. role.grant.") var method: String?
        @Option(help: "Only this outcome: ok, error, denied.") var outcome: String?
        @Option(help: "Only this kind: call, denial, session, role, system, secret, model, tool.") var kind: String?

        func validate() throws {
            for (flag, value) in [("--since", since), ("--until", until)] {
                if let value, Timestamp.parse(value) == nil {
                    throw ValidationError("\(flag) must be an RFC 3339 time such as 2026-11-24T12:00:00Z")
                }
            }
            if let outcome, !["ok", "error", "denied"].contains(outcome) {
                throw ValidationError("--outcome must be ok, error or denied")
            }
            if let kind, !["call", "denial", "session", "role", "system", "secret", "model", "tool"].contains(kind) {
                throw ValidationError("--kind must be call, denial, session, role, system, secret, model or tool")
            }
        }

        var filter: AuditFilter {
            AuditFilter(since: since, until: until, user: user, method: method, outcome: outcome, kind: kind)
        }
    }

    struct Query: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show audit entries, oldest first.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var filters: Filters
        @Option(help: "Entries per page (1-1000).") var limit: Int = 100
        @Option(help: "Continue after this cursor (printed at the end of a page).") var cursor: String?

        func validate() throws {
            if !(1...1000).contains(limit) { throw ValidationError("--limit must be between 1 and 1000") }
        }

        func run() throws {
            try global.show(AuditQuery.self, .init(filter: filters.filter, cursor: cursor, limit: limit)) { r in
                Terminal.table(
                    ["SEQ", "TIME", "KIND", "USER", "METHOD", "OUTCOME", "µs"],
                    r.entries.map { e in
                        [
                            "\(e.seq)", e.time, e.kind, e.user, e.method,
                            e.outcome + (e.errorKind.map { " (\($0))" } ?? ""), "\(e.durationMicros)",
                        ]
                    })
                if let next = r.nextCursor { print("more: --cursor \(next)") }
            }
        }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check the hash chain; exits 1 if an entry was changed, removed or reordered.")
        @OptionGroup var global: GlobalOptions

        func run() throws {
            var ok = false
            try global.show(AuditVerify.self) { result in
                if result.ok {
                    print(
                        "\(Terminal.good("ok")): \(result.entries) entries verified (seq \(result.firstSeq)–\(result.lastSeq))"
                    )
                } else {
                    print(
                        "\(Terminal.bad("FAILED")): entry \(Terminal.text(result.firstBadSeq)) \(Terminal.text(result.problem)) — \(Terminal.text(result.detail))"
                    )
                }
            } json: {
                ok = $0.ok
            }
            if !ok { throw ExitCode(1) }
        }
    }

    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write matching entries as JSON Lines (stdout, or --file) for archiving or offline checks.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var filters: Filters
        @Option(help: "Write to this file instead of stdout.") var file: String?

        func run() throws {
            let handle: FileHandle
            if let file {
                guard
                    FileManager.default.createFile(atPath: file, contents: nil, attributes: [.posixPermissions: 0o600]),
                    let opened = FileHandle(forWritingAtPath: file)
                else {
                    Terminal.error("cannot create \(file)")
                    throw ExitCode(1)
                }
                handle = opened
            } else {
                handle = FileHandle.standardOutput
            }
            let result = try global.withClient { client in
                try client.call(AuditExport.self, filters.filter) { method, params in
                    if method == AuditExport.notification, let lines = params["lines"]?.stringValue {
                        handle.write(Data(lines.utf8))
                    }
                }
            }
            if file != nil {
                try? handle.close()
                FileHandle.standardError.write(
                    Data("exported \(result.entries) entries to \(file!)\n".utf8))
            }
        }
    }
}
