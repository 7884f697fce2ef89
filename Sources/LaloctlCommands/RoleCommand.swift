import ArgumentParser
import Shared

struct RoleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "role", abstract: "List, define, grant and revoke roles.",
        subcommands: [List.self, Grant.self, Revoke.self, Define.self])

    /// The subject of a grant or revoke.
    struct Subject: ParsableArguments {
        @Option(help: "User name or uid.") var user: String?
        @Option(help: "Group name or gid.") var group: String?

        func validate() throws {
            if (user == nil) == (group == nil) { throw ValidationError("give exactly one of --user or --group") }
        }

        func params(role: String) -> GrantParams { GrantParams(role: role, user: user, group: group) }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List roles and grants.")
        @OptionGroup var global: GlobalOptions

        func run() throws {
            try global.show(RoleList.self) { r in
                Terminal.table(
                    ["ROLE", "KIND", "INHERITS", "PERMISSIONS"],
                    r.roles.map { role in
                        [
                            role.name, role.builtIn ? "built-in" : "custom", Terminal.text(role.inherits),
                            Terminal.text(role.permissions),
                        ]
                    })
                if !r.grants.isEmpty {
                    print("")
                    Terminal.table(
                        ["SUBJECT", "ID", "ROLE", "GRANTED BY", "GRANTED AT"],
                        r.grants.map { g in
                            ["\(g.subjectKind):\(g.subjectName)", "\(g.subjectId)", g.role, g.grantedBy, g.grantedAt]
                        })
                }
            }
        }
    }

    struct Grant: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Grant a role to a user or group.",
            discussion: "A grant to a user replaces that user's configured role mapping; group grants add to it.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Role name.") var role: String
        @OptionGroup var subject: Subject

        func run() throws {
            try global.show(RoleGrant.self, subject.params(role: role)) { g in
                print("granted \(g.role) to \(g.subjectKind) \(g.subjectName) (id \(g.subjectId))")
            }
        }
    }

    struct Revoke: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a role granted to a user or group.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Role name.") var role: String
        @OptionGroup var subject: Subject

        func run() throws {
            try global.show(RoleRevoke.self, subject.params(role: role)) { r in
                print(r.revoked ? "revoked" : "there was no such grant")
            }
        }
    }

    struct Define: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create or replace a custom role.",
            discussion: "Permissions: \(Permission.catalogue.map(\.0.rawValue).joined(separator: ", ")).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Role name (lowercase letters, digits, - and _).") var name: String
        @Option(name: .customLong("permission"), help: "A permission to include (repeatable).") var permissions:
            [String] = []
        @Option(name: .customLong("inherits"), help: "A role whose permissions to include (repeatable).") var inherits:
            [String] = []
        @Option(help: "What the role is for.") var description: String?

        func validate() throws {
            if !isValidRoleName(name) {
                throw ValidationError("role names are lowercase letters, digits, - and _, starting with a letter")
            }
        }

        func run() throws {
            let params = RoleDefine.Params(
                name: name, permissions: permissions, inherits: inherits.isEmpty ? nil : inherits,
                description: description)
            try global.show(RoleDefine.self, params) { r in
                print("defined \(r.name): \(Terminal.text(r.permissions))")
            }
        }
    }
}
