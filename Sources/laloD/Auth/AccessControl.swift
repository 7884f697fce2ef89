import GRDB
import Shared
import Synchronization

/// Decides what a principal may do: the configured role mapping, custom roles and database grants.
///
/// Resolution order (documented in `etc/lalo/laloD.toml`):
/// 1. uid 0 is always `admin` (root can read the database anyway; restricting it is theatre and a
///    lock-out risk);
/// 2. if the user has grants of their own in the database, those are their roles: a user grant
///    overrides the configured mapping, so an admin can narrow someone in group `lalo-admin`;
/// 3. otherwise: the configured mapping by user name and group, plus database grants to any of
///    their groups, plus the `everyone` role if set.
///
/// Grants and definitions are cached in memory and reloaded after every change, so a permission
/// check on the hot path is a set look-up under a lock.
final class AccessControl: Sendable {
    struct CustomRole: Sendable, Equatable {
        var name: String
        var description: String
        var permissions: Set<Permission>
        var inherits: [String]
    }

    struct Grant: Sendable, Equatable {
        var subjectKind: String
        var subjectId: UInt32
        var subjectName: String
        var role: String
        var grantedBy: String
        var grantedAt: String
    }

    private struct State {
        var mapping: Configuration.Roles
        var customRoles: [String: CustomRole] = [:]
        var grants: [Grant] = []
        /// Bumped on every change, so sessions can cache their effective permissions.
        var generation: UInt64 = 1
    }

    let store: Store
    private let state: Mutex<State>

    init(store: Store, mapping: Configuration.Roles) throws {
        self.store = store
        state = Mutex(State(mapping: mapping))
        try reloadFromStore()
    }

    var generation: UInt64 { state.withLock { $0.generation } }

    func updateMapping(_ mapping: Configuration.Roles) {
        state.withLock { state in
            if state.mapping != mapping {
                state.mapping = mapping
                state.generation += 1
            }
        }
    }

    func reloadFromStore() throws {
        let (roles, grants) = try store.writer.read { db -> ([String: CustomRole], [Grant]) in
            var roles: [String: CustomRole] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT name, description, permissions, inherits FROM roleDefinition")
            {
                let name: String = row["name"]
                let permissions =
                    (try? JSONParser.parse(row["permissions"] as String))?.arrayValue?
                    .compactMap(\.stringValue).map(Permission.init(rawValue:)) ?? []
                let inherits =
                    (try? JSONParser.parse(row["inherits"] as String))?.arrayValue?.compactMap(\.stringValue) ?? []
                roles[name] = CustomRole(
                    name: name, description: row["description"], permissions: Set(permissions), inherits: inherits)
            }
            let grants = try Row.fetchAll(db, sql: "SELECT * FROM roleGrant ORDER BY subjectKind, subjectId, role").map
            { row in
                Grant(
                    subjectKind: row["subjectKind"], subjectId: row["subjectId"], subjectName: row["subjectName"],
                    role: row["role"], grantedBy: row["grantedBy"], grantedAt: row["grantedAt"])
            }
            return (roles, grants)
        }
        state.withLock { state in
            state.customRoles = roles
            state.grants = grants
            state.generation += 1
        }
    }

    // MARK: Resolution

    /// Roles and the permissions they add up to, with the generation they were computed at.
    func resolve(_ principal: Principal) -> (roles: [String], permissions: Set<Permission>, generation: UInt64) {
        state.withLock { state in
            let roles = Self.roles(of: principal, in: state)
            var permissions = Set<Permission>()
            for role in roles { permissions.formUnion(Self.permissions(of: role, in: state, visited: [])) }
            return (roles, permissions, state.generation)
        }
    }

    private static func roles(of principal: Principal, in state: State) -> [String] {
        if principal.uid == 0 { return [BuiltInRole.admin.rawValue] }
        let own = state.grants.filter { $0.subjectKind == "user" && $0.subjectId == principal.uid }.map(\.role)
        if !own.isEmpty { return Array(Set(own)).sorted() }
        var roles = Set<String>()
        let mapping = state.mapping
        let groups = Set(principal.groupNames)
        if mapping.adminUsers.contains(principal.user) || !groups.isDisjoint(with: mapping.adminGroups) {
            roles.insert("admin")
        }
        if mapping.userUsers.contains(principal.user) || !groups.isDisjoint(with: mapping.userGroups) {
            roles.insert("user")
        }
        if mapping.viewerUsers.contains(principal.user) || !groups.isDisjoint(with: mapping.viewerGroups) {
            roles.insert("viewer")
        }
        let gids = Set(principal.groupIDs)
        for grant in state.grants where grant.subjectKind == "group" && gids.contains(grant.subjectId) {
            roles.insert(grant.role)
        }
        if let everyone = mapping.everyone { roles.insert(everyone) }
        return roles.sorted()
    }

    private static func permissions(of role: String, in state: State, visited: Set<String>) -> Set<Permission> {
        if let builtIn = BuiltInRole(rawValue: role) { return builtIn.permissions }
        guard let custom = state.customRoles[role], !visited.contains(role) else { return [] }
        var result = custom.permissions
        for parent in custom.inherits {
            result.formUnion(permissions(of: parent, in: state, visited: visited.union([role])))
        }
        return result
    }

    // MARK: Listing

    func roleInfos() -> [RoleInfo] {
        state.withLock { state in
            var infos = BuiltInRole.allCases.map { role in
                RoleInfo(
                    name: role.rawValue, builtIn: true, description: role.summary,
                    permissions: role.permissions.map(\.rawValue).sorted(), inherits: [])
            }
            for custom in state.customRoles.values.sorted(by: { $0.name < $1.name }) {
                infos.append(
                    RoleInfo(
                        name: custom.name, builtIn: false, description: custom.description,
                        permissions: Self.permissions(of: custom.name, in: state, visited: []).map(\.rawValue).sorted(),
                        inherits: custom.inherits))
            }
            return infos
        }
    }

    func grants() -> [Grant] { state.withLock { $0.grants } }

    func roleExists(_ name: String) -> Bool {
        BuiltInRole(rawValue: name) != nil || state.withLock { $0.customRoles[name] != nil }
    }

    /// Whether making `name` inherit `inherits` would create a cycle.
    func wouldCycle(_ name: String, inherits: [String]) -> Bool {
        state.withLock { state in
            var stack = inherits
            var seen = Set<String>()
            while let next = stack.popLast() {
                if next == name { return true }
                guard seen.insert(next).inserted else { continue }
                stack.append(contentsOf: state.customRoles[next]?.inherits ?? [])
            }
            return false
        }
    }
}
