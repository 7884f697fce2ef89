import ServiceLifecycle

/// Runs the workflow engine as part of the daemon's service group: resumes every live workflow
/// at start, and on shutdown ends subscriptions and lets running executions reach a step
/// boundary, so the next start continues them from the log.
struct WorkflowService: Service {
    let engine: WorkflowEngine
    /// How long running executions get to reach a step boundary on shutdown.
    let grace: Duration

    func run() async throws {
        _ = try await engine.resumeAll()
        try? await gracefulShutdown()
        await engine.shutdown(grace: grace)
        // Usage and cache rows that were waiting for their batch.
        await engine.interpreter.models.flushUsage()
    }
}
