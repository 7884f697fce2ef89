import ArgumentParser
import Shared

struct SessionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "session", abstract: "List and terminate sessions (connections to laloD).",
        subcommands: [List.self, Terminate.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List open sessions: your own, or everyone's with session.manage.")
        @OptionGroup var global: GlobalOptions
        @Option(help: "Only this user's sessions (name or uid).") var user: String?

        func run() throws {
            try global.show(SessionList.self, .init(user: user)) { r in
                let rows = r.sessions.map { s in
                    [
                        "\(s.id)" + (s.current ? "*" : ""), s.user, "\(s.uid)", "\(s.pid)", s.connectedAt,
                        s.lastActivityAt, "\(s.calls)", "\(s.inFlight)",
                    ]
                }
                Terminal.table(["ID", "USER", "UID", "PID", "CONNECTED", "LAST ACTIVITY", "CALLS", "IN FLIGHT"], rows)
            }
        }
    }

    struct Terminate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Close a session, or all sessions of a user (needs session.manage).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Session id.") var id: Int64?
        @Option(help: "Terminate every session of this user (name or uid).") var user: String?

        func validate() throws {
            if (id == nil) == (user == nil) { throw ValidationError("give a session id or --user, not both") }
            if let id, id < 1 { throw ValidationError("session ids start at 1") }
        }

        func run() throws {
            try global.show(SessionTerminate.self, .init(id: id, user: user)) { r in
                print(
                    r.terminated.isEmpty
                        ? "no sessions terminated"
                        : "terminated \(r.terminated.count) session(s): \(Terminal.text(r.terminated))")
            }
        }
    }
}
