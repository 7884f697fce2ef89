/// The caller as the daemon sees it: kernel-verified ids plus resolved roles.
public struct PrincipalInfo: Codable, Sendable, Equatable {
    public var uid: UInt32
    public var gid: UInt32
    public var pid: Int32
    public var user: String
    public var groups: [String]
    public var roles: [String]
    public var permissions: [String]
    public var sessionId: Int64

    public init(
        uid: UInt32, gid: UInt32, pid: Int32, user: String, groups: [String], roles: [String],
        permissions: [String], sessionId: Int64
    ) {
        self.uid = uid
        self.gid = gid
        self.pid = pid
        self.user = user
        self.groups = groups
        self.roles = roles
        self.permissions = permissions
        self.sessionId = sessionId
    }

    static let schema = Schema.object(
        "The calling principal",
        [
            .required("uid", .integer("User id from SO_PEERCRED")),
            .required("gid", .integer("Primary group id from SO_PEERCRED")),
            .required("pid", .integer("Client process id at connect time")),
            .required("user", .string("User name (or the uid when it has none)")),
            .required("groups", .array(.string(), "Group names used for role mapping")),
            .required("roles", .array(.string(), "Effective roles")),
            .required("permissions", .array(.string(), "Effective permissions")),
            .required("sessionId", .integer("This connection's session id")),
        ])
}

public enum SessionWhoami: RPCMethod {
    public static let name = "session.whoami"
    public static let summary = "Who the daemon thinks the caller is, with roles and permissions"
    public static let permission = Permission.systemRead
    public typealias Params = NoParams
    public typealias Result = PrincipalInfo
    public static let paramsSchema = Schema.empty
    public static let resultSchema = PrincipalInfo.schema
}

public struct SessionInfo: Codable, Sendable, Equatable {
    public var id: Int64
    public var uid: UInt32
    public var user: String
    public var pid: Int32
    public var connectedAt: String
    public var lastActivityAt: String
    public var calls: Int64
    public var inFlight: Int
    public var current: Bool

    public init(
        id: Int64, uid: UInt32, user: String, pid: Int32, connectedAt: String, lastActivityAt: String,
        calls: Int64, inFlight: Int, current: Bool
    ) {
        self.id = id
        self.uid = uid
        self.user = user
        self.pid = pid
        self.connectedAt = connectedAt
        self.lastActivityAt = lastActivityAt
        self.calls = calls
        self.inFlight = inFlight
        self.current = current
    }

    static let schema = Schema.object(
        "An open session (one connection)",
        [
            .required("id", .integer()), .required("uid", .integer()), .required("user", .string()),
            .required("pid", .integer()), .required("connectedAt", .string(format: "date-time")),
            .required("lastActivityAt", .string(format: "date-time")), .required("calls", .integer()),
            .required("inFlight", .integer()),
            .required("current", .boolean("Whether this is the caller's own session")),
        ])
}

public enum SessionList: RPCMethod {
    public static let name = "session.list"
    public static let summary = "Open sessions: the caller's own, or everyone's with session.manage"
    public static let permission = Permission.sessionRead
    public struct Params: Codable, Sendable {
        public var user: String?
        public init(user: String? = nil) { self.user = user }
    }
    public struct Result: Codable, Sendable {
        public var sessions: [SessionInfo]
        public init(sessions: [SessionInfo]) { self.sessions = sessions }
    }
    public static let paramsSchema = Schema.object(
        nil,
        [
            .optional(
                "user", .string("Only this user's sessions (others' need session.manage)", minLength: 1, maxLength: 256)
            )
        ])
    public static let resultSchema = Schema.object(nil, [.required("sessions", .array(SessionInfo.schema))])
}

public enum SessionTerminate: RPCMethod {
    public static let name = "session.terminate"
    public static let summary = "Close one session, or every session of a user (forced logout)"
    public static let permission = Permission.sessionManage
    public struct Params: Codable, Sendable {
        public var id: Int64?
        public var user: String?
        public init(id: Int64? = nil, user: String? = nil) {
            self.id = id
            self.user = user
        }
    }
    public struct Result: Codable, Sendable {
        public var terminated: [Int64]
        public init(terminated: [Int64]) { self.terminated = terminated }
    }
    public static let paramsSchema = Schema.object(
        "Exactly one of id or user",
        [
            .optional("id", .integer("Session id", minimum: 1)),
            .optional("user", .string("User name or numeric uid", minLength: 1, maxLength: 256)),
        ])
    public static let resultSchema = Schema.object(
        nil, [.required("terminated", .array(.integer(), "Closed session ids"))])
}
