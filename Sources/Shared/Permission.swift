/// A capability a role grants. Every method declares the one it needs (deny by default).
public struct Permission: RawRepresentable, Hashable, Codable, Sendable, Comparable, CustomStringConvertible {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public var description: String { rawValue }
    public static func < (a: Permission, b: Permission) -> Bool { a.rawValue < b.rawValue }

    public static let systemRead = Permission("system.read")
    public static let sessionRead = Permission("session.read")
    public static let sessionManage = Permission("session.manage")
    public static let roleRead = Permission("role.read")
    public static let roleManage = Permission("role.manage")
    public static let auditRead = Permission("audit.read")
    public static let workflowRead = Permission("workflow.read")
    public static let workflowRun = Permission("workflow.run")
    public static let workflowApprove = Permission("workflow.approve")
    public static let modelUse = Permission("model.use")
    public static let modelRead = Permission("model.read")
    public static let modelManage = Permission("model.manage")
    public static let agentManage = Permission("agent.manage")
    public static let toolConfigure = Permission("tool.configure")
    public static let secretManage = Permission("secret.manage")
    public static let datasourceManage = Permission("datasource.manage")
    public static let sandboxRun = Permission("sandbox.run")

    /// Every permission the daemon knows, with what it allows. `role.define` accepts only these.
    public static let catalogue: [(Permission, String)] = [
        (.systemRead, "See daemon status, the method catalogue and one's own identity"),
        (.sessionRead, "List one's own sessions"),
        (.sessionManage, "List every session and terminate any of them"),
        (.roleRead, "List role definitions and one's own grants"),
        (.roleManage, "Define roles and grant or revoke them"),
        (.auditRead, "Query, verify and export the audit log"),
        (.workflowRead, "See one's own workflows"),
        (.workflowRun, "Start and drive workflows"),
        (.workflowApprove, "Approve plans of other users' workflows"),
        (.modelRead, "See model roles, provider health and one's own token usage"),
        (.modelUse, "Call models directly"),
        (.modelManage, "See every user's token usage"),
        (.agentManage, "Create and change agents"),
        (.toolConfigure, "Enable, disable and configure tools"),
        (.secretManage, "Create, rotate and delete secrets"),
        (.datasourceManage, "Add and change data sources"),
        (.sandboxRun, "Run commands in the sandbox directly"),
    ]

    public static let known: Set<Permission> = Set(catalogue.map(\.0))
}

/// The built-in roles: viewer ⊂ user ⊂ admin.
public enum BuiltInRole: String, CaseIterable, Sendable {
    case viewer, user, admin

    public var permissions: Set<Permission> {
        switch self {
        case .viewer:
            return [.systemRead, .sessionRead, .roleRead, .workflowRead, .modelRead]
        case .user:
            return BuiltInRole.viewer.permissions.union([.workflowRun, .modelUse])
        case .admin:
            return Permission.known
        }
    }

    public var summary: String {
        switch self {
        case .viewer: return "Read-only: status, own sessions and workflows"
        case .user: return "Runs workflows and uses models"
        case .admin: return "Everything, including roles, sessions, audit and secrets"
        }
    }
}
