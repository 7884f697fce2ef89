public struct RoleInfo: Codable, Sendable, Equatable {
    public var name: String
    public var builtIn: Bool
    public var description: String
    public var permissions: [String]
    public var inherits: [String]

    public init(name: String, builtIn: Bool, description: String, permissions: [String], inherits: [String]) {
        self.name = name
        self.builtIn = builtIn
        self.description = description
        self.permissions = permissions
        self.inherits = inherits
    }

    static let schema = Schema.object(
        "A role",
        [
            .required("name", .string()), .required("builtIn", .boolean()), .required("description", .string()),
            .required("permissions", .array(.string(), "Effective permissions, inherited ones included")),
            .required("inherits", .array(.string(), "Roles whose permissions this role includes")),
        ])
}

public struct GrantInfo: Codable, Sendable, Equatable {
    /// `user` or `group`.
    public var subjectKind: String
    public var subjectId: UInt32
    public var subjectName: String
    public var role: String
    public var grantedBy: String
    public var grantedAt: String

    public init(
        subjectKind: String, subjectId: UInt32, subjectName: String, role: String, grantedBy: String, grantedAt: String
    ) {
        self.subjectKind = subjectKind
        self.subjectId = subjectId
        self.subjectName = subjectName
        self.role = role
        self.grantedBy = grantedBy
        self.grantedAt = grantedAt
    }

    static let schema = Schema.object(
        "A role granted to a user or group in the database",
        [
            .required("subjectKind", .string(enum: ["user", "group"])), .required("subjectId", .integer("uid or gid")),
            .required("subjectName", .string()), .required("role", .string()),
            .required("grantedBy", .string()), .required("grantedAt", .string(format: "date-time")),
        ])
}

/// Names of roles: lowercase letters, digits, `-` and `_`, starting with a letter.
public let roleNamePattern = "^[a-z][a-z0-9_-]{0,62}$"
public let isValidRoleName: @Sendable (String) -> Bool = { name in
    guard let first = name.unicodeScalars.first, ("a"..."z").contains(first), name.unicodeScalars.count <= 63 else {
        return false
    }
    return name.unicodeScalars.allSatisfy {
        ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "-" || $0 == "_"
    }
}

public enum RoleList: RPCMethod {
    public static let name = "role.list"
    public static let summary = "Role definitions, and grants (all with role.manage, else the caller's own)"
    public static let permission = Permission.roleRead
    public typealias Params = NoParams
    public struct Result: Codable, Sendable {
        public var roles: [RoleInfo]
        public var grants: [GrantInfo]
        public init(roles: [RoleInfo], grants: [GrantInfo]) {
            self.roles = roles
            self.grants = grants
        }
    }
    public static let paramsSchema = Schema.empty
    public static let resultSchema = Schema.object(
        nil,
        [
            .required("roles", .array(RoleInfo.schema)), .required("grants", .array(GrantInfo.schema)),
        ])
}

/// Params shared by grant and revoke: a role and exactly one subject.
public struct GrantParams: Codable, Sendable {
    public var role: String
    public var user: String?
    public var group: String?
    public init(role: String, user: String? = nil, group: String? = nil) {
        self.role = role
        self.user = user
        self.group = group
    }

    static let schema = Schema.object(
        "A role and exactly one of user or group",
        [
            .required("role", .string("Role name", maxLength: 63, pattern: roleNamePattern, check: isValidRoleName)),
            .optional("user", .string("User name or numeric uid", minLength: 1, maxLength: 256)),
            .optional("group", .string("Group name or numeric gid", minLength: 1, maxLength: 256)),
        ])
}

public enum RoleGrant: RPCMethod {
    public static let name = "role.grant"
    public static let summary = "Grant a role to a user or group (database grants override the configured mapping)"
    public static let permission = Permission.roleManage
    public typealias Params = GrantParams
    public typealias Result = GrantInfo
    public static let paramsSchema = GrantParams.schema
    public static let resultSchema = GrantInfo.schema
}

public enum RoleRevoke: RPCMethod {
    public static let name = "role.revoke"
    public static let summary = "Remove a role granted to a user or group"
    public static let permission = Permission.roleManage
    public typealias Params = GrantParams
    public struct Result: Codable, Sendable {
        public var revoked: Bool
        public init(revoked: Bool) { self.revoked = revoked }
    }
    public static let paramsSchema = GrantParams.schema
    public static let resultSchema = Schema.object(
        nil, [.required("revoked", .boolean("False when there was no such grant"))])
}

public enum RoleDefine: RPCMethod {
    public static let name = "role.define"
    public static let summary = "Create or replace a custom role from permissions and inherited roles"
    public static let permission = Permission.roleManage
    public struct Params: Codable, Sendable {
        public var name: String
        public var permissions: [String]
        public var inherits: [String]?
        public var description: String?
        public init(name: String, permissions: [String], inherits: [String]? = nil, description: String? = nil) {
            self.name = name
            self.permissions = permissions
            self.inherits = inherits
            self.description = description
        }
    }
    public typealias Result = RoleInfo
    public static let paramsSchema = Schema.object(
        nil,
        [
            .required("name", .string("Role name", maxLength: 63, pattern: roleNamePattern, check: isValidRoleName)),
            .required("permissions", .array(.string("A permission from the catalogue", maxLength: 64), maxItems: 256)),
            .optional("inherits", .array(.string("A role name", maxLength: 63), maxItems: 32)),
            .optional("description", .string(maxLength: 1024)),
        ])
    public static let resultSchema = RoleInfo.schema
}
