import Foundation
import Shared

extension MethodRegistry {
    /// Every method's handler, registered in this one place; each handler type holds only the
    /// subsystems it uses, so a handler cannot reach a subsystem (or the store) it was not given.
    static func handlers(
        of daemon: DaemonAssembly, startedAt: Date, socketPath: String, socketActivated: Bool
    ) -> MethodRegistry {
        var registry = MethodRegistry()
        SystemHandlers(
            store: daemon.store, audit: daemon.audit, sessions: daemon.sessions, startedAt: startedAt,
            socketPath: socketPath, socketActivated: socketActivated
        ).register(&registry)
        SessionHandlers(access: daemon.access, sessions: daemon.sessions, audit: daemon.audit).register(&registry)
        RoleHandlers(access: daemon.access, audit: daemon.audit).register(&registry)
        AuditHandlers(store: daemon.store).register(&registry)
        SecretHandlers(secrets: daemon.secrets).register(&registry)
        ModelHandlers(models: daemon.models).register(&registry)
        ToolHandlers(tools: daemon.tools).register(&registry)
        WorkflowHandlers(workflows: daemon.workflows, tools: daemon.tools).register(&registry)
        SandboxHandlers(sandbox: daemon.sandbox).register(&registry)
        return registry
    }
}
