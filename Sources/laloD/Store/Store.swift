import Foundation
import GRDB
import Shared

/// The SQLite database in the state directory: one writer, many readers (WAL), foreign keys on.
///
/// Every write method is one transaction. Subsystems that need their own write pattern (the audit
/// writer's group commit) get the pool through ``writer`` rather than going around the store.
struct Store: Sendable {
    let writer: DatabasePool
    let path: String
    /// Group commit for the workflow engine's and the tool registry's small writes.
    let combined: WriteCombiner

    init(writer: DatabasePool, path: String) {
        self.writer = writer
        self.path = path
        combined = WriteCombiner(writer: writer)
    }

    /// Takes an exclusive lock on `directory/laloD.lock` for the life of the process.
    ///
    /// Two daemons on one state directory would both extend the audit chain from their own idea
    /// of its head; the second would break the first's appends. The lock makes the second refuse
    /// to start instead. The descriptor is deliberately never closed: the kernel drops the lock
    /// when the process exits, however it exits.
    static func lockStateDirectory(_ directory: String) throws {
        try FileManager.default.createDirectory(
            atPath: directory, withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o750])
        let path = (directory as NSString).appendingPathComponent("laloD.lock")
        let fd = Glibc.open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw StartupError("cannot open \(path): \(String(cString: strerror(errno)))")
        }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            close(fd)
            if code == EWOULDBLOCK {
                throw StartupError("another laloD is using the state directory \(directory)")
            }
            throw StartupError("cannot lock \(path): \(String(cString: strerror(code)))")
        }
    }

    /// Opens (creating if needed) `laloD.sqlite` in `directory` and migrates it.
    static func open(
        directory: String, busyTimeoutMilliseconds: Int,
        durability: Configuration.Durability = .full
    ) throws -> Store {
        try FileManager.default.createDirectory(
            atPath: directory, withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o750])
        let path = (directory as NSString).appendingPathComponent("laloD.sqlite")
        var configuration = GRDB.Configuration()
        configuration.foreignKeysEnabled = true
        configuration.busyMode = .timeout(Double(busyTimeoutMilliseconds) / 1000)
        configuration.label = "lalo.store"
        let synchronous = durability == .full ? "FULL" : "NORMAL"
        configuration.prepareDatabase { db in
            // FULL (default): every commit is fsynced before the call is answered. Group commit
            // shares one flush among concurrent calls. NORMAL keeps commits in the WAL without a
            // flush: safe against a crash of laloD, not against a power cut.
            try db.execute(sql: "PRAGMA synchronous = \(synchronous)")
        }
        let pool = try DatabasePool(path: path, configuration: configuration)
        // DatabasePool sets synchronous=NORMAL on its writer after prepareDatabase has run (GRDB's
        // setUpWALMode), so the writer's setting is applied again here, where it sticks.
        try pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA synchronous = \(synchronous)") }
        // The database holds the audit trail and grants: nobody but the daemon reads it.
        chmod(path, 0o600)
        let store = Store(writer: pool, path: path)
        try Migrations.migrator.migrate(pool)
        return store
    }

    var sizeBytes: Int64 {
        var total: Int64 = 0
        for suffix in ["", "-wal"] {
            if let attributes = try? FileManager.default.attributesOfItem(atPath: path + suffix),
                let size = attributes[.size] as? NSNumber
            {
                total += size.int64Value
            }
        }
        return total
    }

    /// The writer connection's actual `synchronous` setting, read back from SQLite.
    func durability() throws -> String {
        let level = try writer.writeWithoutTransaction { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") } ?? -1
        return ["off", "normal", "full", "extra"].indices.contains(level)
            ? ["off", "normal", "full", "extra"][level] : "unknown"
    }

    /// The SQLite library's own version, as `system.status` reports it.
    func sqliteVersion() throws -> String {
        try writer.read { db in try String.fetchOne(db, sql: "SELECT sqlite_version()") } ?? "unknown"
    }

    func schemaVersion() throws -> String {
        try writer.read { db in try Migrations.migrator.appliedMigrations(db).last ?? "none" }
    }
}
