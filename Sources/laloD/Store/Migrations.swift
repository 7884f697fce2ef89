import GRDB

/// Named schema migrations. Never edit one that has landed: add a new one.
enum Migrations {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()

        migrator.registerMigration("v1-roles") { db in
            try db.execute(
                sql: """
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
            try db.execute(
                sql: """
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
            try db.execute(
                sql: """
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

        migrator.registerMigration("v2-secrets") { db in
            try db.execute(
                sql: """
                    -- One row per master key version. The key itself is never stored: it is derived
                    -- from the root key (systemd credential or key file) with HKDF and this row's salt.
                    -- `check` is a GCM seal of a constant under the derived key, so a wrong root key
                    -- is recognised at start-up instead of when a secret is first needed.
                    CREATE TABLE masterKeyVersion (
                        version INTEGER PRIMARY KEY NOT NULL CHECK (version >= 1),
                        salt BLOB NOT NULL,
                        checkValue BLOB NOT NULL,
                        createdAt TEXT NOT NULL
                    );
                    -- A secret: its value sealed with a random data key (AES-256-GCM), the data key
                    -- sealed with a master key version. Both seals bind the name, so rows cannot be
                    -- swapped. A row names its own key version, so a rotation can re-wrap in batches
                    -- and a crash half-way leaves every row readable.
                    CREATE TABLE secret (
                        name TEXT PRIMARY KEY NOT NULL CHECK (length(name) BETWEEN 1 AND 128),
                        description TEXT NOT NULL DEFAULT '',
                        version INTEGER NOT NULL CHECK (version >= 1),
                        keyVersion INTEGER NOT NULL REFERENCES masterKeyVersion(version),
                        wrappedKey BLOB NOT NULL,
                        sealedValue BLOB NOT NULL,
                        createdAt TEXT NOT NULL,
                        createdBy TEXT NOT NULL,
                        updatedAt TEXT NOT NULL,
                        updatedBy TEXT NOT NULL
                    );
                    CREATE INDEX secretByKeyVersion ON secret(keyVersion);
                    """)
        }

        migrator.registerMigration("v2-model-usage") { db in
            try db.execute(
                sql: """
                    -- One row per model call, for accounting by user, day and (later) workflow.
                    CREATE TABLE modelUsage (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        timeMicros INTEGER NOT NULL,
                        day TEXT NOT NULL,               -- UTC YYYY-MM-DD, for grouping
                        uid INTEGER NOT NULL,
                        user TEXT NOT NULL,
                        workflowId TEXT,
                        role TEXT NOT NULL,
                        provider TEXT NOT NULL,
                        model TEXT NOT NULL,
                        promptTokens INTEGER NOT NULL,
                        completionTokens INTEGER NOT NULL,
                        durationMicros INTEGER NOT NULL,
                        outcome TEXT NOT NULL            -- ok or an error kind
                    );
                    CREATE INDEX modelUsageByUserDay ON modelUsage(uid, day);
                    CREATE INDEX modelUsageByWorkflow ON modelUsage(workflowId) WHERE workflowId IS NOT NULL;
                    """)
        }

        migrator.registerMigration("v3-workflows") { db in
            try db.execute(
                sql: """
                    -- A workflow's current state is a cache: the event log below is the single source
                    -- of truth, and both are written in one transaction.
                    CREATE TABLE workflow (
                        id TEXT PRIMARY KEY NOT NULL,
                        uid INTEGER NOT NULL,
                        user TEXT NOT NULL,
                        request TEXT NOT NULL,
                        state TEXT NOT NULL,
                        lastSeq INTEGER NOT NULL,
                        createdAt TEXT NOT NULL,
                        updatedAt TEXT NOT NULL
                    );
                    CREATE INDEX workflowByUser ON workflow(uid, createdAt);
                    CREATE INDEX workflowLive ON workflow(state)
                        WHERE state NOT IN ('committed', 'rolled_back', 'rejected', 'failed', 'cancelled');
                    -- Append-only: every transition, recorded before its effects run.
                    CREATE TABLE workflowEvent (
                        workflowId TEXT NOT NULL REFERENCES workflow(id),
                        seq INTEGER NOT NULL CHECK (seq >= 1),
                        timeMicros INTEGER NOT NULL,
                        name TEXT NOT NULL,
                        event TEXT NOT NULL,        -- the event's fields, canonical JSON
                        payload TEXT,               -- what the step produced (intent, plan, result), JSON
                        stateAfter TEXT NOT NULL,
                        uid INTEGER NOT NULL,
                        user TEXT NOT NULL,
                        PRIMARY KEY (workflowId, seq)
                    );
                    """)
        }

        migrator.registerMigration("v3-tools") { db in
            try db.execute(
                sql: """
                    -- Admin overrides of a tool's defaults (tool.configure).
                    CREATE TABLE toolSetting (
                        name TEXT PRIMARY KEY NOT NULL,
                        enabled INTEGER NOT NULL,
                        timeoutMs INTEGER,
                        rateLimitPerMinute INTEGER,
                        settings TEXT NOT NULL DEFAULT '{}',
                        updatedBy TEXT NOT NULL,
                        updatedAt TEXT NOT NULL
                    );
                    -- Every tool call: written before it starts (with its idempotency key) and again when
                    -- it ends, so after a crash a call that started but did not finish is known and is
                    -- never blindly run a second time.
                    CREATE TABLE toolExecution (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        tool TEXT NOT NULL,
                        workflowId TEXT,
                        step INTEGER,
                        idempotencyKey TEXT NOT NULL UNIQUE,
                        status TEXT NOT NULL CHECK (status IN ('started', 'succeeded', 'failed')),
                        arguments TEXT NOT NULL,
                        result TEXT,
                        error TEXT,
                        uid INTEGER NOT NULL,
                        user TEXT NOT NULL,
                        startedAt TEXT NOT NULL,
                        finishedAt TEXT,
                        durationMicros INTEGER
                    );
                    CREATE INDEX toolExecutionByWorkflow ON toolExecution(workflowId) WHERE workflowId IS NOT NULL;
                    CREATE INDEX toolExecutionByUser ON toolExecution(uid, id);
                    """)
        }

        migrator.registerMigration("v4-workflow-engine") { db in
            try db.execute(
                sql: """
                    -- What the workflow was started with (threshold, tools, approver rule, the requester's
                    -- permissions) and a summary of its log for lists (confidence, plan hash, questions).
                    ALTER TABLE workflow ADD COLUMN options TEXT NOT NULL DEFAULT '{}';
                    ALTER TABLE workflow ADD COLUMN summary TEXT NOT NULL DEFAULT '{}';
                    -- A path's content before an execution attempt first touched it: written before the
                    -- step runs, never overwritten (a resumed attempt keeps the original), so rollback
                    -- and the review diff survive a crash.
                    CREATE TABLE workflowSnapshot (
                        workflowId TEXT NOT NULL REFERENCES workflow(id),
                        attempt INTEGER NOT NULL,
                        step INTEGER NOT NULL,
                        path TEXT NOT NULL,
                        content BLOB,               -- NULL: the path did not exist
                        PRIMARY KEY (workflowId, attempt, step, path)
                    );
                    -- Committed workflows as examples for later learning.
                    CREATE TABLE workflowExample (
                        workflowId TEXT PRIMARY KEY NOT NULL REFERENCES workflow(id),
                        uid INTEGER NOT NULL,
                        request TEXT NOT NULL,
                        intent TEXT NOT NULL,
                        plan TEXT NOT NULL,
                        outcome TEXT NOT NULL,
                        feedback TEXT NOT NULL,
                        createdAt TEXT NOT NULL
                    );
                    CREATE TABLE workflowFeedback (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        workflowId TEXT NOT NULL REFERENCES workflow(id),
                        state TEXT NOT NULL,
                        uid INTEGER NOT NULL,
                        user TEXT NOT NULL,
                        thumbs TEXT,
                        rating INTEGER,
                        category TEXT,
                        comment TEXT,
                        createdAt TEXT NOT NULL
                    );
                    CREATE INDEX workflowFeedbackByWorkflow ON workflowFeedback(workflowId);
                    -- Interpretations by request key (user scope, normalised text, answers, models).
                    CREATE TABLE interpretationCache (
                        key TEXT PRIMARY KEY NOT NULL,
                        interpretation TEXT NOT NULL,
                        createdAtMicros INTEGER NOT NULL
                    );
                    """)
        }

        migrator.registerMigration("v5-staged-workspaces") { db in
            // Executions write to a stage (an overlay upper layer on disk, see Stage) instead of
            // the workspace, so rollback discards the stage and no longer needs content snapshots.
            try db.execute(sql: "DROP TABLE workflowSnapshot")
        }

        return migrator
    }
}
