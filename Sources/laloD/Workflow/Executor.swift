import Foundation
import Shared

/// Step 4 of the workflow (docs/workflows.md#step-4-execute): runs a plan's steps through the tool registry against the
/// attempt's staged workspace, checking each result; when one fails, the report says exactly
/// what discarding the stage undoes (the workspace itself was never touched).
struct Executor: Sendable {
    let tools: ToolRegistry

    struct StepOutcome: Sendable, Equatable {
        var index: Int
        var tool: String
        var execution: ToolExecutionInfo?
        var error: String?
        /// The result was recorded by an earlier run of this attempt (a resumed workflow).
        var replayed = false
    }

    struct Report: Sendable, Equatable {
        var succeeded: Bool
        var steps: [StepOutcome]
        /// The staged changes discarded: "discarded change to notes.txt", "discarded new file new.txt".
        var undone: [String]
        var failure: String?
        /// A call that a crash interrupted and that is not safe to repeat: the execution stopped
        /// there and needs a person's review (nothing was discarded).
        var interrupted: String?
        /// The run stopped between steps because the workflow was paused or cancelled.
        var stopped = false
    }

    struct Hooks: Sendable {
        /// Asked between steps: true stops the run (pause, cancel).
        var shouldStop: @Sendable () -> Bool = { false }
        /// Told when a step starts (`execution` nil) and when it ends.
        var progress: @Sendable (StepOutcome) async -> Void = { _ in }
    }

    /// The idempotency key of a step: one per workflow, execution attempt (each plan executed is
    /// a new attempt) and step, so a step runs at most once even across a crash and a resume.
    static func key(workflowId: String, attempt: Int, index: Int, step: Planner.Step) -> String {
        "\(workflowId):\(attempt):\(index):\(Planner.hash([step]).prefix(16))"
    }

    /// Runs `steps` in order (dependencies point backwards, so order satisfies them). The steps
    /// write to `context.workspace`, which for a workflow is the attempt's stage.
    func run(
        _ steps: [Planner.Step], workflowId: String, attempt: Int = 1, context base: ToolContext,
        hooks: Hooks = Hooks()
    ) async -> Report {
        var outcomes: [StepOutcome] = []
        func fail(_ outcome: StepOutcome, _ failure: String) -> Report {
            outcomes.append(outcome)
            return Report(succeeded: false, steps: outcomes, undone: Self.undone(base.workspace), failure: failure)
        }
        for (index, step) in steps.enumerated() {
            if hooks.shouldStop() {
                return Report(succeeded: false, steps: outcomes, undone: [], failure: nil, stopped: true)
            }
            var context = base
            context.step = index
            context.idempotencyKey = Self.key(workflowId: workflowId, attempt: attempt, index: index, step: step)
            await hooks.progress(StepOutcome(index: index, tool: step.tool))
            do {
                let (execution, replayed) = try await tools.run(step.tool, arguments: step.arguments, context: context)
                var outcome = StepOutcome(index: index, tool: step.tool, execution: execution, replayed: replayed)
                // A replayed step is taken from its record: later steps have changed the workspace
                // since, so its post-condition cannot be checked again; a recorded failure stays one.
                let problem =
                    replayed
                    ? (execution.status == "succeeded" ? nil : execution.error ?? "the call failed")
                    : verify(step, execution: execution, workspace: base.workspace)
                if let problem {
                    outcome.error = problem
                    await hooks.progress(outcome)
                    return fail(outcome, "step \(index) failed verification: \(problem)")
                }
                outcomes.append(outcome)
                await hooks.progress(outcome)
            } catch let interrupted as InterruptedCall {
                outcomes.append(StepOutcome(index: index, tool: step.tool, error: interrupted.description))
                return Report(
                    succeeded: false, steps: outcomes, undone: [], failure: nil,
                    interrupted: "step \(index): \(interrupted.description)")
            } catch {
                let message = (error as? ToolFailure)?.message ?? (error as? any DaemonError)?.message ?? "\(error)"
                let outcome = StepOutcome(index: index, tool: step.tool, error: message)
                await hooks.progress(outcome)
                return fail(outcome, "step \(index) (\(step.tool)) failed: \(message)")
            }
        }
        return Report(succeeded: true, steps: outcomes, undone: [], failure: nil)
    }

    /// What discarding the workspace's staged changes undoes. The caller discards the stage once
    /// the failure is recorded (until then, a resumed attempt needs it).
    static func undone(_ workspace: (any WorkspaceFiles)?) -> [String] {
        guard let staged = workspace as? StagedWorkspace, let stage = staged.stage else { return [] }
        do {
            return Stage.undoneLines(try stage.changes(over: staged.lower))
        } catch {
            return ["could not list the staged changes: \(error)"]
        }
    }

    /// Deterministic post-conditions of the file tool; other tools are checked by their output
    /// schema in the registry.
    func verify(_ step: Planner.Step, execution: ToolExecutionInfo, workspace: (any WorkspaceFiles)?) -> String? {
        guard execution.status == "succeeded" else { return execution.error ?? "the call failed" }
        guard step.tool == "file", let workspace, let path = step.arguments["path"]?.stringValue else { return nil }
        switch step.arguments["operation"]?.stringValue {
        case "write":
            let expected = Array((step.arguments["content"]?.stringValue ?? "").utf8)
            return (try? workspace.read(path)) == expected ? nil : "\(path) does not hold what was written"
        case "delete":
            return (try? workspace.list(path)) == nil && (try? workspace.read(path)) == nil
                ? nil : "\(path) still exists"
        case "move":
            guard let to = step.arguments["to"]?.stringValue else { return nil }
            return (try? workspace.read(to)) != nil || (try? workspace.list(to)) != nil
                ? nil : "\(to) is missing after the move"
        default:
            return nil
        }
    }
}

/// Who must approve a plan (docs/workflows.md#step-3-approve): read-only plans run without asking when the confidence is
/// high enough; anything that writes, reaches outside or destroys always asks.
struct ApprovalPolicy: Sendable, Equatable {
    var autoApproveReadOnlyAbove = 0.8

    func needsApproval(risk: ToolRisk, confidence: Double) -> Bool {
        !(risk == .read && confidence >= autoApproveReadOnlyAbove)
    }
}
