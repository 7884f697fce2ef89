import ArgumentParser
import Shared

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Show daemon version, uptime, sessions, store and audit health.")

    @OptionGroup var global: GlobalOptions

    func run() throws {
        try global.show(SystemStatus.self) { r in
            Terminal.fields([
                ("version", r.version),
                ("pid", Terminal.text(r.pid)),
                ("started", r.startedAt),
                ("uptime", "\(Terminal.text(r.uptimeSeconds))s"),
                ("socket", r.socket + (r.socketActivated ? " (socket-activated)" : "")),
                ("sessions", Terminal.text(r.sessions)),
                (
                    "store",
                    "\(r.store.ok ? Terminal.good("ok") : Terminal.bad("FAILED")) \(r.store.path) (\(r.store.sizeBytes) bytes, schema \(r.store.schemaVersion), durability \(r.store.durability))"
                ),
                (
                    "audit",
                    "\(r.audit.ok ? Terminal.good("ok") : Terminal.bad("FAILED")) \(r.audit.entries) entries, last seq \(r.audit.lastSeq)\(r.audit.journal ? ", mirrored to journald" : "")"
                ),
                (
                    "libraries",
                    r.libraries.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
                ),
            ])
        }
    }
}

struct WhoamiCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "whoami", abstract: "Show who the daemon thinks you are: uid, groups, roles, permissions.")

    @OptionGroup var global: GlobalOptions

    func run() throws {
        try global.show(SessionWhoami.self) { r in
            Terminal.fields([
                ("user", "\(r.user) (uid \(r.uid), gid \(r.gid))"),
                ("groups", Terminal.text(r.groups)),
                ("roles", r.roles.isEmpty ? "none (no access)" : Terminal.text(r.roles)),
                ("permissions", Terminal.text(r.permissions)),
                ("session", Terminal.text(r.sessionId)),
            ])
        }
    }
}
