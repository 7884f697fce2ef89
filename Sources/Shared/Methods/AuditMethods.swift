/// One entry of the hash-chained audit log as it is exported and verified.
public struct AuditEntry: Codable, Sendable, Equatable {
    public var seq: Int64
    public var time: String
    /// The same instant in microseconds since the epoch (hashed as such).
    public var timeMicros: Int64
    /// `call`, `denial`, `session`, `role`, `system`, `secret`, `model` or `tool`.
    public var kind: String
    public var uid: Int64
    public var user: String
    public var pid: Int32
    public var sessionId: Int64
    public var method: String
    /// `ok`, `error` or `denied`.
    public var outcome: String
    public var errorKind: String?
    public var durationMicros: Int64
    /// SHA-256 of the canonical params (never their values).
    public var paramsDigest: String
    public var detail: JSONValue?
    public var prevHash: String
    public var hash: String

    public init(
        seq: Int64, time: String, timeMicros: Int64, kind: String, uid: Int64, user: String, pid: Int32,
        sessionId: Int64,
        method: String, outcome: String, errorKind: String?, durationMicros: Int64, paramsDigest: String,
        detail: JSONValue?, prevHash: String, hash: String
    ) {
        self.seq = seq
        self.time = time
        self.timeMicros = timeMicros
        self.kind = kind
        self.uid = uid
        self.user = user
        self.pid = pid
        self.sessionId = sessionId
        self.method = method
        self.outcome = outcome
        self.errorKind = errorKind
        self.durationMicros = durationMicros
        self.paramsDigest = paramsDigest
        self.detail = detail
        self.prevHash = prevHash
        self.hash = hash
    }

    static let schema = Schema.object(
        "An audit entry",
        [
            .required("seq", .integer("Sequence number, gapless from 1")),
            .required("time", .string(format: "date-time")),
            .required("timeMicros", .integer("The same instant, microseconds since the epoch")),
            .required(
                "kind", .string(enum: ["call", "denial", "session", "role", "system", "secret", "model", "tool"])),
            .required("uid", .integer()), .required("user", .string()), .required("pid", .integer()),
            .required("sessionId", .integer()), .required("method", .string()),
            .required("outcome", .string(enum: ["ok", "error", "denied"])),
            .optional("errorKind", .string()), .required("durationMicros", .integer()),
            .required("paramsDigest", .string("sha256 hex of the canonical params")),
            .optional("detail", .any(description: "Structured detail of role and session changes")),
            .required("prevHash", .string()), .required("hash", .string()),
        ])
}

/// Filters shared by query and export.
public struct AuditFilter: Codable, Sendable {
    public var since: String?
    public var until: String?
    public var user: String?
    public var method: String?
    public var outcome: String?
    public var kind: String?
    public init(
        since: String? = nil, until: String? = nil, user: String? = nil, method: String? = nil,
        outcome: String? = nil, kind: String? = nil
    ) {
        self.since = since
        self.until = until
        self.user = user
        self.method = method
        self.outcome = outcome
        self.kind = kind
    }

    static let properties: [Schema.Property] = [
        .optional("since", .string("Entries at or after this time", format: "date-time", check: Timestamp.isValid)),
        .optional("until", .string("Entries before this time", format: "date-time", check: Timestamp.isValid)),
        .optional("user", .string("User name or numeric uid", minLength: 1, maxLength: 256)),
        .optional("method", .string("Exact method name", minLength: 1, maxLength: 128)),
        .optional("outcome", .string(enum: ["ok", "error", "denied"])),
        .optional("kind", .string(enum: ["call", "denial", "session", "role", "system", "secret", "model", "tool"])),
    ]
}

public enum AuditQuery: RPCMethod {
    public static let name = "audit.query"
    public static let summary = "Audit entries matching filters, oldest first, with cursor pagination"
    public static let permission = Permission.auditRead
    public struct Params: Codable, Sendable {
        public var since: String?
        public var until: String?
        public var user: String?
        public var method: String?
        public var outcome: String?
        public var kind: String?
        public var cursor: String?
        public var limit: Int?
        public init(filter: AuditFilter = AuditFilter(), cursor: String? = nil, limit: Int? = nil) {
            since = filter.since
            until = filter.until
            user = filter.user
            method = filter.method
            outcome = filter.outcome
            kind = filter.kind
            self.cursor = cursor
            self.limit = limit
        }
        public var filter: AuditFilter {
            AuditFilter(since: since, until: until, user: user, method: method, outcome: outcome, kind: kind)
        }
    }
    public struct Result: Codable, Sendable {
        public var entries: [AuditEntry]
        public var nextCursor: String?
        public init(entries: [AuditEntry], nextCursor: String?) {
            self.entries = entries
            self.nextCursor = nextCursor
        }
    }
    public static let paramsSchema = Schema.object(
        nil,
        AuditFilter.properties + [
            .optional("cursor", .string("nextCursor of the previous page", maxLength: 32)),
            .optional("limit", .integer("Page size", minimum: 1, maximum: 1000)),
        ])
    public static let resultSchema = Schema.object(
        nil,
        [
            .required("entries", .array(AuditEntry.schema)),
            .optional("nextCursor", .string("Absent on the last page")),
        ])
}

public enum AuditVerify: RPCMethod {
    public static let name = "audit.verify"
    public static let summary = "Recompute the hash chain; report the first changed, missing or reordered entry"
    public static let permission = Permission.auditRead
    public typealias Params = NoParams
    public struct Result: Codable, Sendable {
        public var ok: Bool
        public var entries: Int64
        public var firstSeq: Int64
        public var lastSeq: Int64
        public var firstBadSeq: Int64?
        /// `changed`, `missing` or `reordered`.
        public var problem: String?
        public var detail: String?
        public init(
            ok: Bool, entries: Int64, firstSeq: Int64, lastSeq: Int64, firstBadSeq: Int64? = nil,
            problem: String? = nil, detail: String? = nil
        ) {
            self.ok = ok
            self.entries = entries
            self.firstSeq = firstSeq
            self.lastSeq = lastSeq
            self.firstBadSeq = firstBadSeq
            self.problem = problem
            self.detail = detail
        }
    }
    public static let paramsSchema = Schema.empty
    public static let resultSchema = Schema.object(
        nil,
        [
            .required("ok", .boolean()), .required("entries", .integer("Entries checked")),
            .required("firstSeq", .integer()), .required("lastSeq", .integer()),
            .optional("firstBadSeq", .integer("First sequence number that does not verify")),
            .optional("problem", .string(enum: ["changed", "missing", "reordered"])),
            .optional("detail", .string()),
        ])
}

public enum AuditExport: RPCMethod {
    public static let name = "audit.export"
    public static let summary = "Stream matching entries as JSON Lines in audit.exportChunk notifications"
    public static let permission = Permission.auditRead
    public static let notification: String? = "audit.exportChunk"
    public typealias Params = AuditFilter
    public struct Result: Codable, Sendable {
        public var entries: Int64
        public var lastSeq: Int64
        public init(entries: Int64, lastSeq: Int64) {
            self.entries = entries
            self.lastSeq = lastSeq
        }
    }
    /// Params of each `audit.exportChunk` notification.
    public struct Chunk: Codable, Sendable {
        public var requestId: JSONValue
        /// Complete JSON Lines, each ending in a newline.
        public var lines: String
    }
    public static let paramsSchema = Schema.object(nil, AuditFilter.properties)
    public static let resultSchema = Schema.object(
        nil,
        [
            .required("entries", .integer("Entries sent")), .required("lastSeq", .integer()),
        ])
}
