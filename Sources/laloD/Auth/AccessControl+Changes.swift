import GRDB
import Shared

/// Changes to grants and custom roles: written to the store, then the resolved state reloaded,
/// so a session's next call sees them.
extension AccessControl {
    /// False when the subject already has the role.
    func grant(_ grant: Grant) async throws -> Bool {
        let inserted = try await store.writer.write { db -> Bool in
            try db.execute(
                sql: """
                    INSERT INTO roleGrant (subjectKind, subjectId, subjectName, role, grantedBy, grantedAt)
                    VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING
                    """,
                arguments: [
                    grant.subjectKind, grant.subjectId, grant.subjectName, grant.role, grant.grantedBy,
                    grant.grantedAt,
                ])
            return db.changesCount > 0
        }
        if inserted { try reloadFromStore() }
        return inserted
    }

    /// False when there was no such grant.
    func revoke(subjectKind: String, subjectId: UInt32, role: String) async throws -> Bool {
        let removed = try await store.writer.write { db -> Bool in
            try db.execute(
                sql: "DELETE FROM roleGrant WHERE subjectKind = ? AND subjectId = ? AND role = ?",
                arguments: [subjectKind, subjectId, role])
            return db.changesCount > 0
        }
        if removed { try reloadFromStore() }
        return removed
    }

    /// Creates or replaces a custom role (the caller has checked its name, permissions and parents).
    func define(name: String, description: String, permissions: [String], inherits: [String], by user: String)
        async throws
    {
        let permissionsJSON = JSONWriter.string(.array(Array(Set(permissions)).sorted().map(JSONValue.string)))
        let inheritsJSON = JSONWriter.string(.array(inherits.map(JSONValue.string)))
        try await store.writer.write { db in
            try db.execute(
                sql: """
                    INSERT INTO roleDefinition (name, description, permissions, inherits, createdBy, updatedAt)
                    VALUES (?, ?, ?, ?, ?, ?)
                    ON CONFLICT(name) DO UPDATE SET description = excluded.description,
                        permissions = excluded.permissions, inherits = excluded.inherits, updatedAt = excluded.updatedAt
                    """,
                arguments: [name, description, permissionsJSON, inheritsJSON, user, Timestamp.now()])
        }
        try reloadFromStore()
    }
}
