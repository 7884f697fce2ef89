import NIOCore
import NIOPosix
import ServiceLifecycle
import Shared

/// Keeps systemd's `STATUS=` line current and pings the watchdog while the daemon is healthy.
///
/// The ping is withheld when the audit writer has failed or an event loop does not run a task:
/// a daemon that cannot audit or serve must not look alive to systemd, which then restarts it.
struct StatusService: Service {
    let sessions: SessionRegistry
    let audit: AuditLog

    func run() async throws {
        let watchdog = Systemd.watchdogInterval()
        let period: Duration = watchdog.map { min($0 / 2, .seconds(10)) } ?? .seconds(10)
        while !Task.isCancelled {
            Systemd.notify("STATUS=\(sessions.count) sessions, audit at \(audit.lastSeq)")
            if watchdog != nil, audit.isHealthy {
                // Every event loop must get to a task; a stuck loop hangs here and stops the pings.
                for loop in MultiThreadedEventLoopGroup.singleton.makeIterator() {
                    try? await loop.submit {}.get()
                }
                Systemd.notify("WATCHDOG=1")
            }
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: period) }
            } catch {
                return
            }
        }
    }
}
