@preconcurrency import Crypto
import Foundation
import GRDB
import Shared
import Synchronization

/// Secrets encrypted at rest (docs/secrets.md): each value sealed with AES-256-GCM under its own random
/// data key, each data key sealed under a versioned master key derived from the ``RootKey``.
///
/// Values never leave this type except through ``reveal(_:purpose:by:)``, which audits every read,
/// and the ``Redactor``, which needs them to hide them everywhere else.
final class SecretStore: Sendable {
    let store: Store
    let root: RootKey
    private let audit: AuditLog
    private let redactor: Redactor
    /// Derived master keys by version (derivation is cheap, but this also pins the verified set).
    private let masterKeys: Mutex<[Int64: SymmetricKey]>
    private let rotating = Mutex(false)
    private let refreshing = Mutex(())

    /// How many secrets one rotation transaction re-wraps.
    let rotationBatchSize: Int

    struct Row: Codable, FetchableRecord, PersistableRecord, Sendable {
        static let databaseTableName = "secret"
        var name: String
        var description: String
        var version: Int64
        var keyVersion: Int64
        var wrappedKey: Data
        var sealedValue: Data
        var createdAt: String
        var createdBy: String
        var updatedAt: String
        var updatedBy: String

        var info: SecretInfo {
            SecretInfo(
                name: name, description: description, version: version, keyVersion: keyVersion,
                createdAt: createdAt, createdBy: createdBy, updatedAt: updatedAt, updatedBy: updatedBy)
        }
    }

    struct KeyVersionRow: Codable, FetchableRecord, PersistableRecord, Sendable {
        static let databaseTableName = "masterKeyVersion"
        var version: Int64
        var salt: Data
        var checkValue: Data
        var createdAt: String
    }

    private static let checkPlaintext = Array("lalo master key check".utf8)

    /// Opens the secret store: checks the root key against every master key version in use (a
    /// wrong key stops start-up with a message saying so), creates version 1 on first start,
    /// finishes a rotation a crash interrupted, and loads the redactor.
    init(store: Store, root: RootKey, audit: AuditLog, redactor: Redactor, rotationBatchSize: Int = 100) throws {
        self.store = store
        self.root = root
        self.audit = audit
        self.redactor = redactor
        self.rotationBatchSize = rotationBatchSize
        let keys = try Self.openKeys(store: store, root: root)
        let values = try Self.decryptAll(store: store, keys: keys)
        masterKeys = Mutex(keys)
        redactor.update(values.map { (name: $0.name, value: $0.value) })
    }

    /// Verifies every key version against the root key; creates version 1 if there is none.
    static func openKeys(store: Store, root: RootKey) throws -> [Int64: SymmetricKey] {
        try store.writer.write { db -> [Int64: SymmetricKey] in
            var rows = try KeyVersionRow.order(Column("version")).fetchAll(db)
            // A different root key with no secrets stored (say, a credential configured after the
            // first start) loses nothing: start the key versions afresh instead of refusing.
            if try Row.fetchCount(db) == 0, let first = rows.first,
                (try? AES.GCM.open(
                    AES.GCM.SealedBox(combined: first.checkValue),
                    using: root.masterKey(version: first.version, salt: Array(first.salt)),
                    authenticating: Array("v\(first.version)".utf8))) == nil
            {
                try KeyVersionRow.deleteAll(db)
                rows = []
            }
            if rows.isEmpty {
                rows = [try newKeyVersion(1, root: root)]
                try rows[0].insert(db)
            }
            var keys: [Int64: SymmetricKey] = [:]
            for row in rows {
                let key = root.masterKey(version: row.version, salt: Array(row.salt))
                guard
                    (try? AES.GCM.open(
                        AES.GCM.SealedBox(combined: row.checkValue), using: key,
                        authenticating: Array("v\(row.version)".utf8))) != nil
                else {
                    throw StartupError(
                        "the master key from \(root.source == .credential ? "credential" : "key file") \(root.location) "
                            + "is not the key these secrets were sealed with (check of key version \(row.version) failed); "
                            + "restore the original key, or move the state directory aside to start without secrets")
                }
                keys[row.version] = key
            }
            return keys
        }
    }

    private static func newKeyVersion(_ version: Int64, root: RootKey) throws -> KeyVersionRow {
        let salt = secureRandomBytes(32)
        let key = root.masterKey(version: version, salt: salt)
        let check = try AES.GCM.seal(checkPlaintext, using: key, authenticating: Array("v\(version)".utf8))
        return KeyVersionRow(
            version: version, salt: Data(salt), checkValue: check.combined!,
            createdAt: Timestamp.now())
    }

    /// Decrypts every secret without changing anything (start-up, and tests reading a store a
    /// killed daemon left behind).
    static func decryptAll(store: Store, keys: [Int64: SymmetricKey]) throws -> [(name: String, value: String)] {
        try store.writer.read { db in
            try Row.fetchAll(db).map { row in (name: row.name, value: try open(row, keys: keys)) }
        }
    }

    // MARK: Crypto

    private static func keyAAD(_ name: String) -> [UInt8] { Array("lalo secret key:\(name)".utf8) }
    private static func valueAAD(_ name: String) -> [UInt8] { Array("lalo secret value:\(name)".utf8) }

    static func open(_ row: Row, keys: [Int64: SymmetricKey]) throws -> String {
        guard let master = keys[row.keyVersion] else {
            throw SecretError.corrupt("secret \(row.name) uses unknown master key version \(row.keyVersion)")
        }
        do {
            let dataKey = try AES.GCM.open(
                AES.GCM.SealedBox(combined: row.wrappedKey), using: master,
                authenticating: keyAAD(row.name))
            let value = try AES.GCM.open(
                AES.GCM.SealedBox(combined: row.sealedValue),
                using: SymmetricKey(data: dataKey), authenticating: valueAAD(row.name))
            guard let text = String(bytes: value, encoding: .utf8) else { throw SecretError.corrupt("not UTF-8") }
            return text
        } catch {
            throw SecretError.corrupt(
                "secret \(row.name) does not decrypt (the row was changed or belongs to another name)")
        }
    }

    private static func wrap(dataKey: [UInt8], name: String, master: SymmetricKey) throws -> Data {
        try AES.GCM.seal(dataKey, using: master, authenticating: keyAAD(name)).combined!
    }

    private static func rewrap(_ row: Row, from old: SymmetricKey, to new: SymmetricKey) throws -> Data {
        let dataKey = try AES.GCM.open(
            AES.GCM.SealedBox(combined: row.wrappedKey), using: old,
            authenticating: keyAAD(row.name))
        return try wrap(dataKey: Array(dataKey), name: row.name, master: new)
    }

    enum SecretError: Error, CustomStringConvertible {
        case corrupt(String)
        var description: String {
            if case .corrupt(let text) = self { return text }
            return ""
        }
    }

    // MARK: Operations

    /// Creates or replaces a secret. Returns its metadata and whether it was new.
    func set(name: String, value: String, description: String?, by actor: AuditActor) async throws -> (SecretInfo, Bool)
    {
        let now = Timestamp.now()
        let (row, created) = try await store.writer.write { db -> (Row, Bool) in
            let active = try Int64.fetchOne(db, sql: "SELECT max(version) FROM masterKeyVersion")!
            guard let master = self.masterKeys.withLock({ $0[active] }) else {
                throw SecretError.corrupt("master key version \(active) is not loaded")
            }
            let existing = try Row.fetchOne(db, key: name)
            let dataKey = secureRandomBytes(32)
            let sealed = try AES.GCM.seal(
                Array(value.utf8), using: SymmetricKey(data: dataKey),
                authenticating: Self.valueAAD(name)
            ).combined!
            let row = Row(
                name: name, description: description ?? existing?.description ?? "",
                version: (existing?.version ?? 0) + 1, keyVersion: active,
                wrappedKey: try Self.wrap(dataKey: dataKey, name: name, master: master), sealedValue: sealed,
                createdAt: existing?.createdAt ?? now, createdBy: existing?.createdBy ?? actor.user,
                updatedAt: now, updatedBy: actor.user)
            try row.save(db)
            return (row, existing == nil)
        }
        try refreshRedactor()
        try await audit.append(
            AuditEvent(
                .secret, "secret.set", by: actor,
                detail: [
                    "name": .string(name), "version": .int(row.version), "keyVersion": .int(row.keyVersion),
                    "created": .bool(created),
                ]))
        return (row.info, created)
    }

    func list() throws -> [SecretInfo] {
        try store.writer.read { db in try Row.order(Column("name")).fetchAll(db).map(\.info) }
    }

    func masterKeyInfo() throws -> MasterKeyInfo {
        try store.writer.read { db in
            let active = try Int64.fetchOne(db, sql: "SELECT max(version) FROM masterKeyVersion") ?? 0
            let inUse = try Int64.fetchAll(db, sql: "SELECT DISTINCT keyVersion FROM secret ORDER BY keyVersion")
            return MasterKeyInfo(
                source: root.source.rawValue, location: root.location, activeVersion: active,
                versionsInUse: inUse)
        }
    }

    func delete(name: String, by actor: AuditActor) async throws {
        let deleted = try await store.writer.write { db in try Row.deleteOne(db, key: name) }
        guard deleted else { throw SecretAccessError.notFound("no secret named \(name)", field: "params.name") }
        try refreshRedactor()
        try await audit.append(AuditEvent(.secret, "secret.delete", by: actor, detail: ["name": .string(name)]))
    }

    /// Reads a secret's value for a purpose inside the daemon (a provider's API key, a tool's
    /// credential). Every read, found or not, is an audit entry naming the secret and the purpose.
    func reveal(_ name: String, purpose: String, by actor: AuditActor) async throws -> String {
        let row = try await store.writer.read { db in try Row.fetchOne(db, key: name) }
        guard let row else {
            try await audit.append(
                AuditEvent(
                    .secret, "secret.read", by: actor, outcome: .error, errorKind: .notFound,
                    detail: ["name": .string(name), "purpose": .string(purpose)]))
            throw SecretAccessError.notFound(
                "secret \(name) (needed for \(purpose)) does not exist; set it with `laloctl secret set \(name)`")
        }
        let value = try Self.open(row, keys: masterKeys.withLock { $0 })
        try await audit.append(
            AuditEvent(
                .secret, "secret.read", by: actor,
                detail: [
                    "name": .string(name), "purpose": .string(purpose),
                    "version": .int(row.version),
                ]))
        return value
    }

    struct RotationResult: Sendable {
        var keyVersion: Int64
        var rewrapped: Int64
        var retired: [Int64]
    }

    /// Re-wraps every secret's data key under a new master key version, in batches of
    /// ``rotationBatchSize`` (one transaction each). Rows carry their key version and old versions
    /// are deleted only once no row uses them, so a kill at any point leaves every secret readable;
    /// the next start (or rotation) finishes the job.
    func rotate(by actor: AuditActor?, newVersion: Bool = true) async throws -> RotationResult {
        let acquired = rotating.withLock { busy -> Bool in
            if busy { return false }
            busy = true
            return true
        }
        guard acquired else { throw SecretAccessError(.conflict, "a key rotation is already running") }
        defer { rotating.withLock { $0 = false } }

        let target: Int64
        if newVersion {
            target = try await store.writer.write { [root] db -> Int64 in
                let next = (try Int64.fetchOne(db, sql: "SELECT max(version) FROM masterKeyVersion") ?? 0) + 1
                try Self.newKeyVersion(next, root: root).insert(db)
                return next
            }
            let row = try await store.writer.read { db in try KeyVersionRow.fetchOne(db, key: target)! }
            masterKeys.withLock { $0[target] = root.masterKey(version: target, salt: Array(row.salt)) }
        } else {
            target = try await store.writer.read { db in
                try Int64.fetchOne(db, sql: "SELECT max(version) FROM masterKeyVersion") ?? 1
            }
        }
        let keys = masterKeys.withLock { $0 }
        guard let newKey = keys[target] else { throw SecretError.corrupt("master key version \(target) not loaded") }
        var rewrapped: Int64 = 0
        while true {
            let count = try await store.writer.write { [rotationBatchSize] db -> Int in
                let batch = try Row.filter(Column("keyVersion") < target).limit(rotationBatchSize).fetchAll(db)
                for var row in batch {
                    guard let old = keys[row.keyVersion] else {
                        throw SecretError.corrupt(
                            "secret \(row.name) uses unknown master key version \(row.keyVersion)")
                    }
                    row.wrappedKey = try Self.rewrap(row, from: old, to: newKey)
                    row.keyVersion = target
                    try row.update(db, columns: ["wrappedKey", "keyVersion"])
                }
                return batch.count
            }
            if count == 0 { break }
            rewrapped += Int64(count)
        }
        let retired = try await store.writer.write { db -> [Int64] in
            let unused = try Int64.fetchAll(
                db,
                sql: """
                    SELECT version FROM masterKeyVersion
                    WHERE version < ? AND version NOT IN (SELECT DISTINCT keyVersion FROM secret) ORDER BY version
                    """, arguments: [target])
            try db.execute(
                sql: "DELETE FROM masterKeyVersion WHERE version IN (\(unused.map(String.init).joined(separator: ",")))"
            )
            return unused
        }
        masterKeys.withLock { keys in for version in retired { keys[version] = nil } }
        try await audit.append(
            AuditEvent(
                .secret, newVersion ? "secret.rotate" : "secret.rotateResumed",
                by: actor ?? .daemon,
                detail: [
                    "keyVersion": .int(target), "rewrapped": .int(rewrapped),
                    "retired": .array(retired.map { .int($0) }),
                ]))
        return RotationResult(keyVersion: target, rewrapped: rewrapped, retired: retired)
    }

    /// True when some secret is still wrapped under an older version than the active one.
    func rotationUnfinished() throws -> Bool {
        let info = try masterKeyInfo()
        return info.versionsInUse.contains { $0 < info.activeVersion }
    }

    private func refreshRedactor() throws {
        // Read and apply under one lock: two changes refreshing at once must not let the older
        // read be applied last, which would leave the newer value unredacted.
        try refreshing.withLock { _ in
            redactor.update(try Self.decryptAll(store: store, keys: masterKeys.withLock { $0 }))
        }
    }
}
