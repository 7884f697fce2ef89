import Logging
import ServiceLifecycle
import Shared
import UnixSignals

/// Re-reads the configuration on SIGHUP and applies what can change without a restart: the role
/// mapping, the log level and the limits. A bad new configuration is refused whole and the running
/// one kept, so a typo can never take the daemon down or half-apply.
struct ReloadService: Service {
    let loader: ConfigLoader
    let initial: Configuration
    let access: AccessControl
    let sessions: SessionRegistry
    let server: RPCServer
    let audit: AuditLog
    let logger: Logger

    func run() async throws {
        var current = initial
        let signals = await UnixSignalsSequence(trapping: .sighup)
        for await _ in signals.cancelOnGracefulShutdown() {
            Systemd.notify("RELOADING=1")
            do {
                let next = try loader.load()
                apply(next, over: current)
                let pending = Self.restartRequired(next, over: current)
                current = next
                logger.info("configuration reloaded", metadata: ["lalo.config.files": "\(next.sources)"])
                _ = try? await audit.append(
                    .system(
                        "config.reload",
                        detail: [
                            "ok": true, "files": .array(next.sources.map(JSONValue.string)),
                            "restartRequired": .array(pending.map(JSONValue.string)),
                        ]))
            } catch {
                logger.error(
                    "configuration reload refused; keeping the running configuration",
                    metadata: ["lalo.config.error": "\(error)"])
                _ = try? await audit.append(
                    .system(
                        "config.reload", outcome: .error, errorKind: .validationFailed,
                        detail: ["ok": false, "error": .string("\(error)")]))
            }
            Systemd.notify("READY=1")
        }
    }

    private func apply(_ next: Configuration, over current: Configuration) {
        LogLevelBox.current = next.logLevel
        access.updateMapping(next.roles)
        sessions.setMaxPerUser(next.server.maxSessionsPerUser)
        server.updateLimits(RPCServer.Limits(next.server))
        let pending = Self.restartRequired(next, over: current)
        if !pending.isEmpty {
            logger.warning(
                "changed settings that take effect at the next restart",
                metadata: ["lalo.config.restartRequired": "\(pending.joined(separator: ", "))"])
        }
    }

    /// Changed sections a reload cannot apply: the socket, the store, the audit mirror, secrets
    /// and models (clients, keys and the local model server are built once at start).
    static func restartRequired(_ next: Configuration, over current: Configuration) -> [String] {
        var changed: [String] = []
        if next.server.socket != current.server.socket || next.server.socketMode != current.server.socketMode
            || next.server.socketGroup != current.server.socketGroup
        {
            changed.append("server.socket*")
        }
        if next.store != current.store { changed.append("store") }
        if next.audit != current.audit { changed.append("audit") }
        if next.secrets != current.secrets { changed.append("secrets") }
        if next.localModel != current.localModel { changed.append("localModel") }
        if next.providers != current.providers { changed.append("providers") }
        if next.models != current.models { changed.append("models") }
        if next.workflow != current.workflow { changed.append("workflow") }
        if next.sandbox != current.sandbox { changed.append("sandbox") }
        return changed
    }
}
