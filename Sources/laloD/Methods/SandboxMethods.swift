import Shared

extension DaemonContext {
    func registerSandboxMethods(_ registry: inout MethodRegistry) {
        registry.register(SandboxRun.self) { params, _ in
            try await sandbox.run(params)
        }

        registry.register(SandboxStatus.self) { _, _ in
            await sandbox.status()
        }
    }
}
