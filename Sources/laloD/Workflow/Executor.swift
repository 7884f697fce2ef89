import Foundation
import Shared

/// Step 4 of the workflow (SPEC §5): runs a plan's steps through the tool registry, snapshotting
/// what a step may change before it runs, checking each result, and rolling the completed steps
/// back in reverse order when one fails — reporting exactly what was undone.
struct Executor: Sendable {
    let tools: ToolRegistry

    /// The prior state of one workspace path: its bytes, or that it did not exist.
    struct Snapshot: Sendable, Equatable {
        var path: String
        var content: [UInt8]?
    }

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
        /// Undo actions taken, newest first: "restored notes.txt", "removed new.txt".
        var undone: [String]
        var failure: String?
        /// A call that a crash interrupted and that is not safe to repeat: the execution stopped
        /// there and needs a person's review (nothing was rolled back).
        var interrupted: String?
        /// The run stopped between steps because the workflow was paused or cancelled.
        var stopped = false
    }

    /// Where the executor keeps snapshots (the workflow log, so they survive a crash).
    struct Hooks: Sendable {
        /// Stores the snapshots taken before step `step` runs, before it runs.
        var save: @Sendable (_ snapshots: [Snapshot], _ step: Int) async throws -> Void = { _, _ in }
        /// Snapshots stored by an earlier run of the same attempt, by step.
        var earlier: [Int: [Snapshot]] = [:]
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

    /// Runs `steps` in order (dependencies point backwards, so order satisfies them).
    func run(_ steps: [Planner.Step], workflowId: String, attempt: Int = 1, context base: ToolContext,
             hooks: Hooks = Hooks()) async -> Report {
        var outcomes: [StepOutcome] = []
        var snapshots: [[Snapshot]] = []
        func fail(_ outcome: StepOutcome, _ failure: String) -> Report {
            outcomes.append(outcome)
            return Report(succeeded: false, steps: outcomes, undone: rollback(snapshots, workspace: base.workspace), failure: failure)
        }
        for (index, step) in steps.enumerated() {
            if hooks.shouldStop() {
                return Report(succeeded: false, steps: outcomes, undone: [], failure: nil, stopped: true)
            }
            var context = base
            context.step = index
            context.idempotencyKey = Self.key(workflowId: workflowId, attempt: attempt, index: index, step: step)
            // The snapshot is stored before the call starts; a stored one (from before a crash)
            // wins over one taken now, when the step may already have changed the files.
            let taken: [Snapshot]
            do {
                taken = try hooks.earlier[index] ?? snapshot(step, workspace: base.workspace)
            } catch {
                return fail(StepOutcome(index: index, tool: step.tool, error: "\(error)"),
                            "step \(index) did not run: what it would change cannot be snapshotted (\(error))")
            }
            if hooks.earlier[index] == nil {
                do {
                    try await hooks.save(taken, index)
                } catch {
                    return fail(StepOutcome(index: index, tool: step.tool, error: "could not store the snapshot: \(error)"),
                                "step \(index) did not run: its snapshot could not be stored")
                }
            }
            await hooks.progress(StepOutcome(index: index, tool: step.tool))
            do {
                let (execution, replayed) = try await tools.run(step.tool, arguments: step.arguments, context: context)
                snapshots.append(taken)
                var outcome = StepOutcome(index: index, tool: step.tool, execution: execution, replayed: replayed)
                // A replayed step is taken from its record: later steps have changed the workspace
                // since, so its post-condition cannot be checked again; a recorded failure stays one.
                let problem = replayed ? (execution.status == "succeeded" ? nil : execution.error ?? "the call failed")
                    : verify(step, execution: execution, workspace: base.workspace)
                if let problem {
                    outcome.error = problem
                    await hooks.progress(outcome)
                    return fail(outcome, "step \(index) failed verification: \(problem)")
                }
                outcomes.append(outcome)
                await hooks.progress(outcome)
            } catch let interrupted as InterruptedCall {
                snapshots.append(taken)
                outcomes.append(StepOutcome(index: index, tool: step.tool, error: interrupted.description))
                return Report(succeeded: false, steps: outcomes, undone: [], failure: nil,
                              interrupted: "step \(index): \(interrupted.description)")
            } catch {
                snapshots.append(taken)
                let message = (error as? ToolFailure)?.message ?? (error as? RPCError)?.message ?? "\(error)"
                let outcome = StepOutcome(index: index, tool: step.tool, error: message)
                await hooks.progress(outcome)
                return fail(outcome, "step \(index) (\(step.tool)) failed: \(message)")
            }
        }
        return Report(succeeded: true, steps: outcomes, undone: [], failure: nil)
    }

    /// The workspace paths a file step can change, as they are now.
    /// Something that exists but cannot be read back (a directory, a file over the size limit,
    /// a hard-linked file) cannot be restored, so the step is refused rather than run without a
    /// way back.
    func snapshot(_ step: Planner.Step, workspace: Workspace?) throws -> [Snapshot] {
        guard step.tool == "file", let workspace,
              let operation = step.arguments["operation"]?.stringValue, ["write", "append", "move", "delete"].contains(operation)
        else { return [] }
        var paths = [step.arguments["path"]?.stringValue].compactMap { $0 }
        if operation == "move", let to = step.arguments["to"]?.stringValue { paths.append(to) }
        return try paths.map { path in
            do {
                return Snapshot(path: path, content: try workspace.read(path))
            } catch let failure as Workspace.Failure where failure.notFound {
                return Snapshot(path: path, content: nil)
            }
        }
    }

    /// Deterministic post-conditions of the file tool; other tools are checked by their output
    /// schema in the registry.
    func verify(_ step: Planner.Step, execution: ToolExecutionInfo, workspace: Workspace?) -> String? {
        guard execution.status == "succeeded" else { return execution.error ?? "the call failed" }
        guard step.tool == "file", let workspace, let path = step.arguments["path"]?.stringValue else { return nil }
        switch step.arguments["operation"]?.stringValue {
        case "write":
            let expected = Array((step.arguments["content"]?.stringValue ?? "").utf8)
            return (try? workspace.read(path)) == expected ? nil : "\(path) does not hold what was written"
        case "delete":
            return (try? workspace.list(path)) == nil && (try? workspace.read(path)) == nil ? nil : "\(path) still exists"
        case "move":
            guard let to = step.arguments["to"]?.stringValue else { return nil }
            return (try? workspace.read(to)) != nil || (try? workspace.list(to)) != nil ? nil : "\(to) is missing after the move"
        default:
            return nil
        }
    }

    /// What the attempt changed: for every snapshotted path, its state before the attempt (the
    /// first snapshot) against what is there now, as a unified diff.
    func diff(_ byStep: [Int: [Snapshot]], workspace: Workspace?) -> [JSONValue] {
        guard let workspace else { return [] }
        var before: [String: [UInt8]?] = [:]
        var order: [String] = []
        for step in byStep.keys.sorted() {
            for snapshot in byStep[step]! where before[snapshot.path] == nil {
                before[snapshot.path] = .some(snapshot.content)
                order.append(snapshot.path)
            }
        }
        return order.compactMap { path in
            let old = before[path]!
            let new = try? workspace.read(path)
            guard let text = TextDiff.unified(path: path, old: old, new: new) else { return nil }
            let change = old == nil ? "added" : new == nil ? "deleted" : "changed"
            return ["path": .string(path), "change": .string(change), "diff": .string(text),
                    "bytesBefore": .int(Int64(old?.count ?? 0)), "bytesAfter": .int(Int64(new?.count ?? 0))]
        }
    }

    /// Restores every snapshot, newest step first.
    func rollback(_ snapshots: [[Snapshot]], workspace: Workspace?) -> [String] {
        guard let workspace else { return [] }
        var undone: [String] = []
        for step in snapshots.reversed() {
            for snapshot in step.reversed() {
                do {
                    if let content = snapshot.content {
                        if (try? workspace.read(snapshot.path)) != content {
                            try workspace.write(snapshot.path, content)
                            undone.append("restored \(snapshot.path)")
                        }
                    } else if (try? workspace.read(snapshot.path)) != nil {
                        try workspace.delete(snapshot.path)
                        undone.append("removed \(snapshot.path)")
                    }
                } catch {
                    undone.append("could not restore \(snapshot.path): \(error)")
                }
            }
        }
        return undone
    }
}

/// Who must approve a plan (SPEC §5): read-only plans run without asking when the confidence is
/// high enough; anything that writes, reaches outside or destroys always asks.
struct ApprovalPolicy: Sendable, Equatable {
    var autoApproveReadOnlyAbove = 0.8

    func needsApproval(risk: ToolRisk, confidence: Double) -> Bool {
        !(risk == .read && confidence >= autoApproveReadOnlyAbove)
    }
}
