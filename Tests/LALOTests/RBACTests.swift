import Foundation
import Shared
import Testing

/// One method with params that are valid, so that an allowed call reaches the handler.
struct MatrixMethod: Sendable, CustomTestStringConvertible {
    var name: String
    var params: String
    /// Roles allowed to call it.
    var allowed: Set<String>
    var testDescription: String { name }
}

let everyoneWithARole: Set<String> = ["admin", "user", "viewer"]

let matrix: [MatrixMethod] = [
    MatrixMethod(name: "system.status", params: "{}", allowed: everyoneWithARole),
    MatrixMethod(name: "rpc.discover", params: "{}", allowed: everyoneWithARole),
    MatrixMethod(name: "session.whoami", params: "{}", allowed: everyoneWithARole),
    MatrixMethod(name: "session.list", params: "{}", allowed: everyoneWithARole),
    MatrixMethod(name: "session.terminate", params: #"{"id":999999}"#, allowed: ["admin"]),
    MatrixMethod(name: "role.list", params: "{}", allowed: everyoneWithARole),
    MatrixMethod(name: "role.grant", params: #"{"role":"viewer","user":"daemon"}"#, allowed: ["admin"]),
    MatrixMethod(name: "role.revoke", params: #"{"role":"viewer","user":"daemon"}"#, allowed: ["admin"]),
    MatrixMethod(
        name: "role.define", params: #"{"name":"matrix-role","permissions":["system.read"]}"#, allowed: ["admin"]),
    MatrixMethod(name: "audit.query", params: #"{"limit":1}"#, allowed: ["admin"]),
    MatrixMethod(name: "audit.verify", params: "{}", allowed: ["admin"]),
    MatrixMethod(name: "audit.export", params: #"{"method":"no.such.method"}"#, allowed: ["admin"]),
    MatrixMethod(name: "secret.set", params: #"{"name":"matrix","value":"matrix-secret-value"}"#, allowed: ["admin"]),
    MatrixMethod(name: "secret.list", params: "{}", allowed: ["admin"]),
    MatrixMethod(name: "secret.delete", params: #"{"name":"no-such-secret"}"#, allowed: ["admin"]),
    MatrixMethod(name: "secret.rotate", params: "{}", allowed: ["admin"]),
    MatrixMethod(name: "model.list", params: "{}", allowed: everyoneWithARole),
    MatrixMethod(name: "model.test", params: "{}", allowed: ["admin", "user"]),
    MatrixMethod(
        name: "model.complete", params: #"{"messages":[{"role":"user","content":"hi"}]}"#, allowed: ["admin", "user"]),
    MatrixMethod(name: "model.usage", params: "{}", allowed: everyoneWithARole),
    // Other users' usage needs model.manage on top of model.read.
    MatrixMethod(name: "model.usage", params: #"{"all":true}"#, allowed: ["admin"]),
    MatrixMethod(name: "tool.list", params: "{}", allowed: everyoneWithARole),
    MatrixMethod(name: "tool.describe", params: #"{"name":"file"}"#, allowed: everyoneWithARole),
    MatrixMethod(name: "tool.configure", params: #"{"name":"file","timeoutMs":10000}"#, allowed: ["admin"]),
    MatrixMethod(name: "tool.executions", params: "{}", allowed: everyoneWithARole),
    MatrixMethod(
        name: "workflow.start", params: #"{"request":"list the workspace","tools":["file"]}"#,
        allowed: ["admin", "user"]),
    MatrixMethod(name: "workflow.get", params: #"{"id":"wf_0000000000000000"}"#, allowed: everyoneWithARole),
    MatrixMethod(name: "workflow.list", params: "{}", allowed: everyoneWithARole),
    // Everyone's workflows need workflow.approve or audit.read.
    MatrixMethod(name: "workflow.list", params: #"{"all":true}"#, allowed: ["admin"]),
    MatrixMethod(name: "workflow.subscribe", params: #"{"id":"wf_0000000000000000"}"#, allowed: everyoneWithARole),
    MatrixMethod(
        name: "workflow.clarify", params: #"{"id":"wf_0000000000000000","answers":["x"]}"#, allowed: ["admin", "user"]),
    MatrixMethod(name: "workflow.approve", params: #"{"id":"wf_0000000000000000"}"#, allowed: ["admin", "user"]),
    MatrixMethod(
        name: "workflow.reject", params: #"{"id":"wf_0000000000000000","reason":"no"}"#, allowed: ["admin", "user"]),
    MatrixMethod(
        name: "workflow.edit",
        params: #"{"id":"wf_0000000000000000","planHash":"\#(String(repeating: "0", count: 64))","steps":[]}"#,
        allowed: ["admin", "user"]),
    MatrixMethod(name: "workflow.cancel", params: #"{"id":"wf_0000000000000000"}"#, allowed: ["admin", "user"]),
    MatrixMethod(name: "workflow.pause", params: #"{"id":"wf_0000000000000000"}"#, allowed: ["admin", "user"]),
    MatrixMethod(name: "workflow.resume", params: #"{"id":"wf_0000000000000000"}"#, allowed: ["admin", "user"]),
    MatrixMethod(
        name: "workflow.feedback", params: #"{"id":"wf_0000000000000000","thumbs":"up"}"#, allowed: everyoneWithARole),
    MatrixMethod(name: "sandbox.run", params: #"{"command":["/bin/true"]}"#, allowed: ["admin"]),
    MatrixMethod(name: "sandbox.status", params: "{}", allowed: ["admin"]),
]

let roleAccounts: [(role: String, user: String)] = [
    ("admin", "lalot-admin"), ("user", "lalot-user"), ("viewer", "lalot-viewer"), ("none", "lalot-none"),
]

@Suite("Permissions: every method × every role, clients running as other uids", .serialized, .timeLimit(.minutes(3)))
struct RBACTests {
    static let shared = Result { try DaemonProcess(config: DaemonProcess.config(extra: TestUsers.rolesConfig)) }

    @Test("every method in the catalogue is in the matrix")
    func matrixCoversCatalogue() {
        #expect(Set(matrix.map(\.name)) == Set(MethodCatalogue.all.map(\.name)))
    }

    @Test("whoami reports the kernel-verified identity and the mapped role")
    func identity() throws {
        let daemon = try Self.shared.get()
        for (role, user) in roleAccounts where role != "none" {
            let account = try TestUsers.account(user)
            let result = try TestUsers.laloctl(as: account, ["whoami", "--socket", daemon.socketPath, "-o", "json"])
            #expect(result.status == 0, "\(result.stderr)")
            let info = try json(result.stdout)
            #expect(info["uid"] == .int(Int64(account.uid)))
            #expect(info["user"] == .string(user))
            #expect(info["roles"] == .array([.string(role)]))
        }
    }

    @Test("a user with no role is told why, and the denial is audited")
    func deniedIsAudited() throws {
        let daemon = try Self.shared.get()
        let account = try TestUsers.account("lalot-none")
        let result = try TestUsers.laloctl(as: account, ["status", "--socket", daemon.socketPath])
        #expect(result.status == 4)
        #expect(result.stderr.contains("has no role on this daemon"))
        let page = try daemon.client().call(
            AuditQuery.self, .init(filter: .init(user: "lalot-none", outcome: "denied"), limit: 1000))
        #expect(
            page.entries.contains {
                $0.method == "system.status" && $0.kind == "denial" && $0.uid == Int64(account.uid)
            })
    }

    @Test("database grants override the mapping and take effect on open connections")
    func grantsOverride() throws {
        let daemon = try Self.shared.get()
        let admin = try daemon.client()
        let viewer = try TestUsers.account("lalot-viewer")
        defer { _ = try? admin.call(RoleRevoke.self, .init(role: "user", user: "lalot-viewer")) }
        _ = try admin.call(RoleGrant.self, .init(role: "user", user: "lalot-viewer"))
        let after = try TestUsers.laloctl(as: viewer, ["whoami", "--socket", daemon.socketPath, "-o", "json"])
        #expect(try json(after.stdout)["roles"] == ["user"])
        #expect(throws: RPCError.self) { try admin.call(RoleGrant.self, .init(role: "user", user: "lalot-viewer")) }
        #expect(try admin.call(RoleRevoke.self, .init(role: "user", user: "lalot-viewer")).revoked)
        let back = try TestUsers.laloctl(as: viewer, ["whoami", "--socket", daemon.socketPath, "-o", "json"])
        #expect(try json(back.stdout)["roles"] == ["viewer"])
    }

    @Test("custom roles: inheritance, unknown permissions and cycles")
    func customRoles() throws {
        let admin = try Self.shared.get().client()
        let role = try admin.call(
            RoleDefine.self, .init(name: "auditor", permissions: ["audit.read"], inherits: ["viewer"]))
        #expect(Set(role.permissions) == Set(["audit.read"] + BuiltInRole.viewer.permissions.map(\.rawValue)))
        let unknown = #expect(throws: RPCError.self) {
            try admin.call(RoleDefine.self, .init(name: "bad", permissions: ["system.read", "root.everything"]))
        }
        #expect(unknown?.kind == .validationFailed)
        #expect(unknown?.field == "params.permissions[1]")
        _ = try admin.call(RoleDefine.self, .init(name: "loop-a", permissions: []))
        _ = try admin.call(RoleDefine.self, .init(name: "loop-b", permissions: [], inherits: ["loop-a"]))
        let cycle = #expect(throws: RPCError.self) {
            try admin.call(RoleDefine.self, .init(name: "loop-a", permissions: [], inherits: ["loop-b"]))
        }
        #expect(cycle?.kind == .validationFailed)
        let builtIn = #expect(throws: RPCError.self) {
            try admin.call(RoleDefine.self, .init(name: "admin", permissions: []))
        }
        #expect(builtIn?.kind == .conflict)
        let noUser = #expect(throws: RPCError.self) {
            try admin.call(RoleGrant.self, .init(role: "auditor", user: "no-such-user-x"))
        }
        #expect(noUser?.kind == .notFound)
        #expect(noUser?.field == "params.user")
    }

    @Test("socket mode 0660 keeps users outside the socket group from connecting at all")
    func socketMode() throws {
        let daemon = try DaemonProcess(
            config: DaemonProcess.config(
                socketMode: "0660", extra: "socketGroup = \"\(TestUsers.userGroup)\"\n" + TestUsers.rolesConfig))
        let outsider = try TestUsers.laloctl(
            as: try TestUsers.account("lalot-none"), ["status", "--socket", daemon.socketPath])
        #expect(outsider.status == 3)
        #expect(outsider.stderr.contains("cannot open"))
        let member = try TestUsers.laloctl(
            as: try TestUsers.account("lalot-user"), ["status", "--socket", daemon.socketPath])
        #expect(member.status == 0, "\(member.stderr)")
        #expect(daemon.stop() == 0)
    }
}
