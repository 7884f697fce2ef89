import GRDB

/// Named schema migrations. Never edit one that has landed: add a new one.
enum Migrations {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()

        migrator.registerMigration("v1-roles") { db in
            try db.execute(sql: """
                CREATE TABLE roleDefinition (
                    name TEXT PRIMARY KEY NOT NULL CHECK (length(name) BETWEEN 1 AND 63),
                    description TEXT NOT NULL DEFAULT '',
                    permissions TEXT NOT NULL,          -- JSON array of permission names
                    inherits TEXT NOT NULL DEFAULT '[]', -- JSON array of role names
                    createdBy TEXT NOT NULL,
                    updatedAt TEXT NOT NULL
                );
                CREATE TABLE roleGrant (
                    subjectKind TEXT NOT NULL CHECK (subjectKind IN ('user', 'group')),
                    subjectId INTEGER NOT NULL CHECK (subjectId >= 0),
                    subjectName TEXT NOT NULL,
                    role TEXT NOT NULL,
                    grantedBy TEXT NOT NULL,
                    grantedAt TEXT NOT NULL,
                    PRIMARY KEY (subjectKind, subjectId, role)
                );
                """)
        }

        migrator.registerMigration("v1-sessions") { db in
            try db.execute(sql: """
                CREATE TABLE session (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    uid INTEGER NOT NULL,
                    gid INTEGER NOT NULL,
                    pid INTEGER NOT NULL,
                    user TEXT NOT NULL,
                    connectedAt TEXT NOT NULL,
                    endedAt TEXT,
                    endReason TEXT
                );
                CREATE INDEX session_open ON session(endedAt) WHERE endedAt IS NULL;
                """)
        }

        migrator.registerMigration("v1-audit") { db in
            try db.execute(sql: """
                CREATE TABLE auditEntry (
                    seq INTEGER PRIMARY KEY NOT NULL,
                    time TEXT NOT NULL,
                    timeMicros INTEGER NOT NULL,
                    kind TEXT NOT NULL,
                    uid INTEGER NOT NULL,
                    user TEXT NOT NULL,
                    pid INTEGER NOT NULL,
                    sessionId INTEGER NOT NULL,
                    method TEXT NOT NULL,
                    outcome TEXT NOT NULL,
                    errorKind TEXT,
                    durationMicros INTEGER NOT NULL,
                    paramsDigest TEXT NOT NULL,
                    detail TEXT,
                    prevHash TEXT NOT NULL,
                    hash TEXT NOT NULL
                );
                -- Every index is written on every call (appends are the hot path), so only the
                -- two the common queries need: time ranges and one method. Filters by user or
                -- outcome scan in sequence order, and verify looks hashes up only on failure.
                CREATE INDEX auditEntry_time ON auditEntry(timeMicros);
                CREATE INDEX auditEntry_method ON auditEntry(method);
                -- The head of the chain, updated in the same transaction as each append, so that
                -- truncating the tail of the log is detected too.
                CREATE TABLE auditHead (
                    id INTEGER PRIMARY KEY CHECK (id = 1),
                    seq INTEGER NOT NULL,
                    hash TEXT NOT NULL
                );
                """)
        }

        return migrator
    }
}
