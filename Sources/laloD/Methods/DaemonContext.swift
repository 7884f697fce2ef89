import Foundation
import Logging
import Shared

/// The shared parts method handlers work with.
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

    /// All handlers of this methods.
    func makeRegistry() -> MethodRegistry {
        var registry = MethodRegistry()
        registerSystemMethods(&registry)
        registerSessionMethods(&registry)
        registerRoleMethods(&registry)
        registerAuditMethods(&registry)
        registerSecretMethods(&registry)
        registerModelMethods(&registry)
        registerToolMethods(&registry)
        registerWorkflowMethods(&registry)
        registerSandboxMethods(&registry)
        return registry
    }

    /// Records a change made by `session` (role or session changes) as its own audit entry, so the
    /// log says what changed, not just that a method was called.
    func recordChange(_ kind: AuditEvent.Kind, method: String, by session: Session, detail: JSONValue) async throws {
        try await audit.append(
            AuditEvent(
                kind: kind, uid: Int64(session.principal.uid), user: session.principal.user, pid: session.principal.pid,
                sessionId: session.id, method: method, outcome: .ok, errorKind: nil, durationMicros: 0,
                paramsDigest: digestOfParams(nil), detail: detail))
    }
}
