import Shared

/// `sandbox.*`: a command run in a fresh sandbox, and what the host supports.
struct SandboxHandlers: Sendable {
    let sandbox: Sandbox

    func register(_ registry: inout MethodRegistry) {
        registry.register(SandboxRun.self) { params, _ in
            try await sandbox.run(params)
        }

        registry.register(SandboxStatus.self) { _, _ in
            await sandbox.status()
        }
    }
}
