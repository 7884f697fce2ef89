import ArgumentParser
import Shared

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Show daemon version, uptime, sessions, store and audit health.")

    @OptionGroup var global: GlobalOptions

    func run() throws {
        try global.show(SystemStatus.name) { r in
            let store = r["store"]
            let audit = r["audit"]
            Terminal.fields([
                ("version", Terminal.text(r["version"])),
                ("pid", Terminal.text(r["pid"])),
                ("started", Terminal.text(r["startedAt"])),
                ("uptime", "\(Terminal.text(r["uptimeSeconds"]))s"),
                (
                    "socket",
                    Terminal.text(r["socket"]) + (r["socketActivated"] == .bool(true) ? " (socket-activated)" : "")
                ),
                ("sessions", Terminal.text(r["sessions"])),
                (
                    "store",
                    "\(store?["ok"] == .bool(true) ? Terminal.good("ok") : Terminal.bad("FAILED")) \(Terminal.text(store?["path"])) (\(Terminal.text(store?["sizeBytes"])) bytes, schema \(Terminal.text(store?["schemaVersion"])), durability \(Terminal.text(store?["durability"])))"
                ),
                (
                    "audit",
                    "\(audit?["ok"] == .bool(true) ? Terminal.good("ok") : Terminal.bad("FAILED")) \(Terminal.text(audit?["entries"])) entries, last seq \(Terminal.text(audit?["lastSeq"]))\(audit?["journal"] == .bool(true) ? ", mirrored to journald" : "")"
                ),
                (
                    "libraries",
                    (r["libraries"]?.objectValue ?? [:]).sorted { $0.key < $1.key }.map {
                        "\($0.key) \(Terminal.text($0.value))"
                    }.joined(separator: ", ")
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
        try global.show(SessionWhoami.name) { r in
            Terminal.fields([
                (
                    "user",
                    "\(Terminal.text(r["user"])) (uid \(Terminal.text(r["uid"])), gid \(Terminal.text(r["gid"])))"
                ),
                ("groups", Terminal.text(r["groups"])),
                ("roles", r["roles"]?.arrayValue?.isEmpty == false ? Terminal.text(r["roles"]) : "none (no access)"),
                ("permissions", Terminal.text(r["permissions"])),
                ("session", Terminal.text(r["sessionId"])),
            ])
        }
    }
}
