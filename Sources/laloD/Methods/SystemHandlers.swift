import CCurl
import CSeccomp
import Foundation
import Shared

/// `system.status` and `rpc.discover`.
struct SystemHandlers: Sendable {
    let store: Store
    let audit: AuditLog
    let sessions: SessionRegistry
    let startedAt: Date
    let socketPath: String
    let socketActivated: Bool

    func register(_ registry: inout MethodRegistry) {
        registry.register(SystemStatus.self) { _, _ in
            let schema = try? store.schemaVersion()
            let durability = try? store.durability()
            let storeOK = schema != nil && durability != nil
            return SystemStatus.Result(
                version: LaloVersion.current, pid: getpid(), startedAt: Timestamp.format(startedAt),
                uptimeSeconds: (Date().timeIntervalSince(startedAt) * 1000).rounded() / 1000,
                socket: socketPath, socketActivated: socketActivated, sessions: sessions.count,
                store: .init(
                    path: store.path, ok: storeOK, sizeBytes: store.sizeBytes, schemaVersion: schema ?? "unknown",
                    durability: durability ?? "unknown"),
                audit: .init(
                    entries: (try? AuditLog.count(store: store)) ?? -1, lastSeq: audit.lastSeq,
                    journal: audit.mirrorsToJournal, ok: audit.isHealthy),
                libraries: libraryVersions())
        }
        registry.register(RPCDiscover.self) { _, _ in
            MethodCatalogue.openRPCDocument(version: LaloVersion.current)
        }
    }

    /// Versions of the system libraries laloD is linked against, read from the libraries themselves.
    func libraryVersions() -> [String: String] {
        var versions: [String: String] = [:]
        versions["sqlite"] = (try? store.sqliteVersion()) ?? "unknown"
        versions["curl"] = String(cString: lalo_curl_version())
        if let seccomp = seccomp_version() {
            versions["seccomp"] = "\(seccomp.pointee.major).\(seccomp.pointee.minor).\(seccomp.pointee.micro)"
        }
        return versions
    }
}
