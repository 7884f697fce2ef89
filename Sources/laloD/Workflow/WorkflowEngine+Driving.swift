import Foundation
import Logging
import Shared
import Synchronization

/// One driver task per workflow: it performs the actions the state machine asks for, one after
/// another, until the workflow waits for a person or ends.
extension WorkflowEngine {
    func launch(_ id: String, _ actions: [WorkflowAction]) {
        guard !shuttingDown.load(ordering: .sequentiallyConsistent) else { return }
        runtime.withLock { all in
            var entry = all[id] ?? Runtime()
            let previous = entry.driver
            entry.generation += 1
            let generation = entry.generation
            // A driver that is finishing a step after a pause runs to its end before the next starts.
            entry.driver = Task {
                await previous?.value
                self.runtime.withLock { all in
                    if all[id]?.generation == generation { all[id]?.stopRequested = false }
                }
                await self.run(id, actions)
                self.runtime.withLock { all in
                    if all[id]?.generation == generation {
                        all[id]?.driver = nil
                        if all[id]?.speculative == nil { all.removeValue(forKey: id) }
                    }
                }
            }
            all[id] = entry
        }
    }

    /// Asks the running step to stop: model calls are cancelled at once; an execution runs in a
    /// task of its own that cancellation does not reach and stops at the next step boundary (and
    /// is rolled back when the workflow was cancelled).
    func stop(_ id: String) {
        let (driver, speculative) = runtime.withLock { all -> (Task<Void, Never>?, Task<Planner.Plan, any Error>?) in
            guard var entry = all[id] else { return (nil, nil) }
            entry.stopRequested = true
            let speculative = entry.speculative?.task
            entry.speculative = nil
            all[id] = entry
            return (entry.driver, speculative)
        }
        speculative?.cancel()
        driver?.cancel()
    }

    func run(_ id: String, _ initial: [WorkflowAction]) async {
        var pending = initial
        while !pending.isEmpty {
            let action = pending.removeFirst()
            if Task.isCancelled { return }
            do {
                pending += try await perform(action, id: id)
            } catch is CancellationError {
                return
            } catch let error as any DaemonError where error.kind == .conflict {
                // Someone paused or cancelled the workflow while the step ran: its result is moot.
                logger.debug(
                    "workflow step outdated", metadata: ["lalo.workflow": "\(id)", "lalo.reason": "\(error.message)"])
                return
            } catch {
                if Task.isCancelled { return }
                logger.error("workflow step failed", metadata: ["lalo.workflow": "\(id)", "lalo.error": "\(error)"])
                guard let record = try? log.record(id) else { return }
                _ = try? await self.record(
                    .failed(reason: "internal error: \(error)"), id: id, payload: nil, by: Self.actor(record))
                return
            }
        }
    }

    /// The requester, as whom the engine's own steps are recorded and run.
    static func actor(_ record: WorkflowLog.Record) -> AuditActor {
        AuditActor(uid: record.uid, user: record.user, pid: 0, sessionId: 0)
    }

    func perform(_ action: WorkflowAction, id: String) async throws -> [WorkflowAction] {
        switch action {
        case .askClarification, .requestApproval, .presentReview, .stopWork:
            return []  // waiting for a person: nothing to do, nothing to read
        default:
            break
        }
        // One read for the record and its log; the machine is the log replayed.
        guard let (record, entries) = try log.snapshot(id) else { return [] }
        let machine = try WorkflowMachine.replay(entries.map(\.event))
        // The log decides: an action whose state has passed (paused or cancelled meanwhile) is dropped.
        switch action {
        case .interpret where machine.state != .interpreting, .plan where machine.state != .planning,
            .execute where machine.state != .executing, .rollback where !machine.rollbackPending,
            .commit where machine.state != .committed:
            return []
        default:
            break
        }
        switch action {
        case .interpret: return try await interpret(record, entries)
        case .plan(let revision): return try await plan(record, entries, revision: revision)
        case .execute: return try await execute(record, entries)
        case .rollback: return try await rollBackReview(record, entries)
        case .commit: return try await commit(record, entries)
        case .resume:
            return Self.pendingActions(machine)
        case .askClarification, .requestApproval, .presentReview, .stopWork:
            return []
        }
    }
}
