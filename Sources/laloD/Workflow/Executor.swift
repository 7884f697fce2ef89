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
    }

    struct Report: Sendable, Equatable {
        var succeeded: Bool
        var steps: [StepOutcome]
        /// Undo actions taken, newest first: "restored notes.txt", "removed new.txt".
        var undone: [String]
        var failure: String?
    }

    /// Runs `steps` in order (dependencies point backwards, so order satisfies them).
    func run(_ steps: [Planner.Step], workflowId: String, context base: ToolContext) async -> Report {
        var outcomes: [StepOutcome] = []
        var snapshots: [[Snapshot]] = []
        for (index, step) in steps.enumerated() {
            var context = base
            context.step = index
            // The key makes a step run at most once, even across a crash and a resumed workflow.
            context.idempotencyKey = "\(workflowId):\(index):\(Planner.hash([step]).prefix(16))"
            let taken = snapshot(step, workspace: base.workspace)
            do {
                let (execution, replayed) = try await tools.run(step.tool, arguments: step.arguments, context: context)
                // A step that already ran (a resumed workflow) is taken from its record: later
                // steps have changed the workspace since, so neither a snapshot taken now nor a
                // check of its post-condition would mean anything.
                snapshots.append(replayed ? [] : taken)
                if !replayed, let problem = verify(step, execution: execution, workspace: base.workspace) {
                    outcomes.append(StepOutcome(index: index, tool: step.tool, execution: execution, error: problem))
                    return Report(succeeded: false, steps: outcomes, undone: rollback(snapshots, workspace: base.workspace),
                                  failure: "step \(index) failed verification: \(problem)")
                }
                outcomes.append(StepOutcome(index: index, tool: step.tool, execution: execution, error: nil))
            } catch {
                snapshots.append(taken)
                let message = (error as? ToolFailure)?.message ?? (error as? RPCError)?.message ?? "\(error)"
                outcomes.append(StepOutcome(index: index, tool: step.tool, execution: nil, error: message))
                return Report(succeeded: false, steps: outcomes, undone: rollback(snapshots, workspace: base.workspace),
                              failure: "step \(index) (\(step.tool)) failed: \(message)")
            }
        }
        return Report(succeeded: true, steps: outcomes, undone: [], failure: nil)
    }

    /// The workspace paths a file step can change, as they are now.
    func snapshot(_ step: Planner.Step, workspace: Workspace?) -> [Snapshot] {
        guard step.tool == "file", let workspace,
              let operation = step.arguments["operation"]?.stringValue, ["write", "append", "move", "delete"].contains(operation)
        else { return [] }
        var paths = [step.arguments["path"]?.stringValue].compactMap { $0 }
        if operation == "move", let to = step.arguments["to"]?.stringValue { paths.append(to) }
        return paths.map { Snapshot(path: $0, content: try? workspace.read($0)) }
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
