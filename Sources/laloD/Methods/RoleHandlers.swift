import Shared

/// `role.*`: roles, grants and custom role definitions.
struct RoleHandlers: Sendable {
    let access: AccessControl
    let audit: AuditLog

    func register(_ registry: inout MethodRegistry) {
        registry.register(RoleList.self) { _, context in
            let me = context.session.principal
            let everything = context.permissions.contains(.roleManage)
            let grants = access.grants().filter { grant in
                everything || (grant.subjectKind == "user" && grant.subjectId == me.uid)
                    || (grant.subjectKind == "group" && me.groupIDs.contains(grant.subjectId))
            }
            return RoleList.Result(roles: access.roleInfos(), grants: grants.map(\.wire))
        }

        registry.register(RoleGrant.self) { params, context in
            let subject = try resolveSubject(params)
            guard access.roleExists(params.role) else {
                throw RPCError.notFound("no role named \(params.role)", field: "params.role")
            }
            let grant = AccessControl.Grant(
                subjectKind: subject.kind, subjectId: subject.id, subjectName: subject.name,
                role: params.role, grantedBy: context.session.principal.user,
                grantedAt: Timestamp.now())
            let inserted = try await access.grant(grant)
            guard inserted else {
                throw RPCError.conflict("\(subject.kind) \(subject.name) already has role \(params.role)")
            }
            try await audit.recordChange(.role, method: "role.grant", by: context.session, detail: grant.auditDetail)
            return grant.wire
        }

        registry.register(RoleRevoke.self) { params, context in
            let subject = try resolveSubject(params)
            let removed = try await access.revoke(
                subjectKind: subject.kind, subjectId: subject.id, role: params.role)
            if removed {
                try await audit.recordChange(
                    .role, method: "role.revoke", by: context.session,
                    detail: [
                        "subjectKind": .string(subject.kind), "subjectId": .int(Int64(subject.id)),
                        "subjectName": .string(subject.name), "role": .string(params.role),
                    ])
            }
            return RoleRevoke.Result(revoked: removed)
        }

        registry.register(RoleDefine.self) { params, context in
            if BuiltInRole(rawValue: params.name) != nil {
                throw RPCError.conflict("\(params.name) is a built-in role and cannot be redefined")
            }
            for (index, permission) in params.permissions.enumerated()
            where !Permission.known.contains(Permission(permission)) {
                throw RPCError.validationFailed(
                    "unknown permission \(permission)", field: "params.permissions[\(index)]")
            }
            let inherits = params.inherits ?? []
            for (index, parent) in inherits.enumerated() where !access.roleExists(parent) {
                throw RPCError.validationFailed("no role named \(parent)", field: "params.inherits[\(index)]")
            }
            if access.wouldCycle(params.name, inherits: inherits) {
                throw RPCError.validationFailed("\(params.name) would inherit from itself", field: "params.inherits")
            }
            try await access.define(
                name: params.name, description: params.description ?? "", permissions: params.permissions,
                inherits: inherits, by: context.session.principal.user)
            try await audit.recordChange(
                .role, method: "role.define", by: context.session,
                detail: [
                    "name": .string(params.name),
                    "permissions": .array(params.permissions.sorted().map(JSONValue.string)),
                    "inherits": .array(inherits.map(JSONValue.string)),
                ])
            guard let info = access.roleInfos().first(where: { $0.name == params.name }) else {
                throw RPCError.internalError()
            }
            return info
        }
    }

    /// The single subject of a grant or revoke, resolved to an id that exists on this host.
    private func resolveSubject(_ params: GrantParams) throws(RPCError) -> (kind: String, id: UInt32, name: String) {
        switch (params.user, params.group) {
        case (let user?, nil):
            guard let uid = UserDatabase.userID(name: user) else {
                throw RPCError.notFound("no such user \(user)", field: "params.user")
            }
            return ("user", uid, UserDatabase.userName(uid: uid) ?? user)
        case (nil, let group?):
            guard let gid = UserDatabase.groupID(name: group) else {
                throw RPCError.notFound("no such group \(group)", field: "params.group")
            }
            return ("group", gid, UserDatabase.groupName(gid: gid) ?? group)
        default:
            throw RPCError.invalidParams("give exactly one of user or group", field: "params")
        }
    }
}

extension AccessControl.Grant {
    var wire: GrantInfo {
        GrantInfo(
            subjectKind: subjectKind, subjectId: subjectId, subjectName: subjectName, role: role,
            grantedBy: grantedBy, grantedAt: grantedAt)
    }

    var auditDetail: JSONValue {
        [
            "subjectKind": .string(subjectKind), "subjectId": .int(Int64(subjectId)),
            "subjectName": .string(subjectName),
            "role": .string(role),
        ]
    }
}
