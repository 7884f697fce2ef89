import ServiceLifecycle

/// Runs the workflow engine as part of the daemon's service group: resumes every live workflow
/// at start, and on shutdown ends subscriptions and lets running executions reach a step
/// boundary, so the next start continues them from the log.
struct WorkflowService: Service {
    let engine: WorkflowEngine

    func run() async throws {
        _ = try engine.resumeAll()
        try? await gracefulShutdown()
        await engine.shutdown()
    }
}
