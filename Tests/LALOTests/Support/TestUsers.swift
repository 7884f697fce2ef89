import Foundation
import Testing

/// Local users the tests create for themselves, one per role, so clients really run as other uids.
enum TestUsers {
    struct Account: Sendable {
        var name: String
        var uid: UInt32
        var gid: UInt32
    }

    static let adminGroup = "lalot-admins"
    static let userGroup = "lalot-users"
    static let viewerGroup = "lalot-viewers"

    /// (user name, supplementary group)
    static let definitions: [(String, String?)] = [
        ("lalot-admin", adminGroup), ("lalot-user", userGroup), ("lalot-viewer", viewerGroup), ("lalot-none", nil),
    ]

    static let accounts: Result<[String: Account], HarnessError> = {
        guard getuid() == 0 else {
            return .failure(HarnessError("the RBAC tests create users and must run as root (they do in CI)"))
        }
        do {
            for group in [adminGroup, userGroup, viewerGroup] {
                if getgrnam(group) == nil { try check(run("/usr/sbin/groupadd", ["--system", group])) }
            }
            var result: [String: Account] = [:]
            for (name, group) in definitions {
                if getpwnam(name) == nil {
                    var arguments = ["--system", "--user-group", "--no-create-home", "--shell", "/usr/sbin/nologin"]
                    if let group { arguments += ["--groups", group] }
                    try check(run("/usr/sbin/useradd", arguments + [name]))
                }
                guard let entry = getpwnam(name) else { return .failure(HarnessError("user \(name) was not created")) }
                result[name] = Account(name: name, uid: entry.pointee.pw_uid, gid: entry.pointee.pw_gid)
            }
            return .success(result)
        } catch {
            return .failure(HarnessError("cannot create test users: \(error)"))
        }
    }()

    static func account(_ name: String) throws -> Account {
        guard let account = try accounts.get()[name] else { throw HarnessError("no test user \(name)") }
        return account
    }

    private static func check(_ result: (status: Int32, stdout: String, stderr: String)) throws {
        if result.status != 0 { throw HarnessError(result.stderr) }
    }

    /// A copy of laloctl in a world-readable place: the build tree may sit under a directory
    /// other users cannot enter (such as /root).
    static let laloctlCopy: Result<String, HarnessError> = {
        let directory = "/tmp/lalo-test-bin-\(getpid())"
        let target = "\(directory)/laloctl"
        do {
            try? FileManager.default.removeItem(atPath: directory)
            try FileManager.default.createDirectory(
                atPath: directory, withIntermediateDirectories: true,
                attributes: [.posixPermissions: 0o755])
            try FileManager.default.copyItem(atPath: Binaries.laloctl, toPath: target)
            chmod(target, 0o755)
            ChildProcesses.register(directory: directory)
            return .success(target)
        } catch {
            return .failure(HarnessError("cannot copy laloctl: \(error)"))
        }
    }()

    /// Runs laloctl as `account` (real and effective uid and gid, its own supplementary groups).
    static func laloctl(as account: Account, _ arguments: [String]) throws -> (
        status: Int32, stdout: String, stderr: String
    ) {
        try run(
            "/usr/bin/setpriv",
            [
                "--reuid=\(account.uid)", "--regid=\(account.gid)", "--init-groups",
                try laloctlCopy.get(),
            ] + arguments,
            environment: ["PATH": "/usr/bin:/bin", "NO_COLOR": "1"])
    }

    static let rolesConfig = """
        [roles]
        adminUsers = []
        adminGroups = ["\(adminGroup)"]
        userGroups = ["\(userGroup)"]
        viewerGroups = ["\(viewerGroup)"]
        """
}
