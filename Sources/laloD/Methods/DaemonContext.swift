import Foundation
import Logging
import Shared

/// The daemon's subsystems, as the method handlers are built from them.
struct DaemonContext: Sendable {
    let store: Store
    let audit: AuditLog
    let access: AccessControl
    let sessions: SessionRegistry
    let secrets: SecretStore
    let models: ModelRouter
    let tools: ToolRegistry
    let workflows: WorkflowEngine
    let sandbox: Sandbox
    let logger: Logger
    let startedAt: Date
    let socketPath: String
    let socketActivated: Bool

    /// Every method's handler, registered in this one place; each handler type holds only the
    /// subsystems it uses.
    func makeRegistry() -> MethodRegistry {
        var registry = MethodRegistry()
        SystemHandlers(
            store: store, audit: audit, sessions: sessions, startedAt: startedAt, socketPath: socketPath,
            socketActivated: socketActivated
        ).register(&registry)
        SessionHandlers(access: access, sessions: sessions, audit: audit).register(&registry)
        RoleHandlers(access: access, audit: audit).register(&registry)
        AuditHandlers(store: store).register(&registry)
        SecretHandlers(secrets: secrets).register(&registry)
        ModelHandlers(models: models).register(&registry)
        ToolHandlers(tools: tools).register(&registry)
        WorkflowHandlers(workflows: workflows, tools: tools).register(&registry)
        SandboxHandlers(sandbox: sandbox).register(&registry)
        return registry
    }
}

extension AuditLog {
    /// Records a change made by `session` (role or session changes) as its own audit entry, so the
    /// log says what changed, not just that a method was called.
    func recordChange(_ kind: AuditEvent.Kind, method: String, by session: Session, detail: JSONValue) async throws {
        try await append(
            AuditEvent(
                kind: kind, uid: Int64(session.principal.uid), user: session.principal.user, pid: session.principal.pid,
                sessionId: session.id, method: method, outcome: .ok, errorKind: nil, durationMicros: 0,
                paramsDigest: digestOfParams(nil), detail: detail))
    }
}
