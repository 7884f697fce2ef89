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

        func params(role: String) -> JSONValue {
            var params: [String: JSONValue] = ["role": .string(role)]
            if let user { params["user"] = .string(user) }
            if let group { params["group"] = .string(group) }
            return .object(params)
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List roles and grants.")
        @OptionGroup var global: GlobalOptions

        func run() throws {
            try global.show(RoleList.name) { r in
                Terminal.table(
                    ["ROLE", "KIND", "INHERITS", "PERMISSIONS"],
                    (r["roles"]?.arrayValue ?? []).map { role in
                        [
                            Terminal.text(role["name"]), role["builtIn"] == .bool(true) ? "built-in" : "custom",
                            Terminal.text(role["inherits"]), Terminal.text(role["permissions"]),
                        ]
                    })
                let grants = r["grants"]?.arrayValue ?? []
                if !grants.isEmpty {
                    print("")
                    Terminal.table(
                        ["SUBJECT", "ID", "ROLE", "GRANTED BY", "GRANTED AT"],
                        grants.map { g in
                            [
                                "\(Terminal.text(g["subjectKind"])):\(Terminal.text(g["subjectName"]))",
                                Terminal.text(g["subjectId"]),
                                Terminal.text(g["role"]), Terminal.text(g["grantedBy"]), Terminal.text(g["grantedAt"]),
                            ]
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
            try global.show(RoleGrant.name, params: subject.params(role: role)) { g in
                print(
                    "granted \(Terminal.text(g["role"])) to \(Terminal.text(g["subjectKind"])) \(Terminal.text(g["subjectName"])) (id \(Terminal.text(g["subjectId"])))"
                )
            }
        }
    }

    struct Revoke: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a role granted to a user or group.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Role name.") var role: String
        @OptionGroup var subject: Subject

        func run() throws {
            try global.show(RoleRevoke.name, params: subject.params(role: role)) { r in
                print(r["revoked"] == .bool(true) ? "revoked" : "there was no such grant")
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
            var params: [String: JSONValue] = [
                "name": .string(name), "permissions": .array(permissions.map(JSONValue.string)),
            ]
            if !inherits.isEmpty { params["inherits"] = .array(inherits.map(JSONValue.string)) }
            if let description { params["description"] = .string(description) }
            try global.show(RoleDefine.name, params: .object(params)) { r in
                print("defined \(Terminal.text(r["name"])): \(Terminal.text(r["permissions"]))")
            }
        }
    }
}
