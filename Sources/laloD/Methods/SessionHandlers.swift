import Shared

/// `session.*`: who the caller is, the open sessions, forced logout.
struct SessionHandlers: Sendable {
    let access: AccessControl
    let sessions: SessionRegistry
    let audit: AuditLog

    func register(_ registry: inout MethodRegistry) {
        registry.register(SessionWhoami.self) { _, context in
            let principal = context.session.principal
            let (roles, permissions) = context.session.access(access)
            return PrincipalInfo(
                uid: principal.uid, gid: principal.gid, pid: principal.pid, user: principal.user,
                groups: principal.groupNames, roles: roles,
                permissions: permissions.map(\.rawValue).sorted(), sessionId: context.session.id)
        }

        registry.register(SessionList.self) { params, context in
            let manage = context.permissions.contains(.sessionManage)
            let me = context.session.principal
            var uid: UInt32? = manage ? nil : me.uid
            if let user = params.user {
                guard let wanted = UserDatabase.userID(name: user) else {
                    throw RPCError.notFound("no such user \(user)", field: "params.user")
                }
                if wanted != me.uid, !manage {
                    throw RPCError.permissionDenied("listing another user's sessions needs session.manage")
                }
                uid = wanted
            }
            let sessions = sessions.all.filter { uid == nil || $0.principal.uid == uid }
            return SessionList.Result(sessions: sessions.map { $0.info(currentSession: context.session.id) })
        }

        registry.register(SessionTerminate.self) { params, context in
            let targets: [Session]
            switch (params.id, params.user) {
            case (let id?, nil):
                guard let session = sessions.session(id: id) else {
                    throw RPCError.notFound("no open session \(id)", field: "params.id")
                }
                targets = [session]
            case (nil, let user?):
                guard let uid = UserDatabase.userID(name: user) else {
                    throw RPCError.notFound("no such user \(user)", field: "params.user")
                }
                targets = sessions.all.filter { $0.principal.uid == uid }
            default:
                throw RPCError.invalidParams("give exactly one of id or user", field: "params")
            }
            let ids = targets.map(\.id)
            try await audit.recordChange(
                .session, method: "session.terminate", by: context.session,
                detail: [
                    "terminated": .array(ids.map { .int($0) }),
                    "users": .array(Array(Set(targets.map(\.principal.user))).sorted().map(JSONValue.string)),
                ])
            // The caller's own session is closed after its answer is written, not before.
            for session in targets where session.id != context.session.id {
                session.terminate(reason: "terminated by \(context.session.principal.user)")
            }
            if let own = targets.first(where: { $0.id == context.session.id }) {
                own.closeAfterReply(reason: "terminated by \(context.session.principal.user)")
            }
            return SessionTerminate.Result(terminated: ids)
        }
    }
}
