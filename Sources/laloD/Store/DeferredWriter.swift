import Foundation
import GRDB
import Logging
import Synchronization

/// Rows that may reach the store a moment later, many per transaction: token usage and
/// interpretation cache entries. Written right away, each would be one more commit queued on
/// the single writer between a workflow's own commits (its events, its tool records), which
/// must not wait for bookkeeping. Readers that need every row call ``flush()`` first
/// (`model.usage` does); laloD flushes on shutdown.
final class DeferredWriter: Sendable {
    struct Statement: Sendable {
        var sql: String
        var arguments: StatementArguments
    }

    private struct State {
        var pending: [Statement] = []
        var scheduled = false
    }

    private let store: Store
    private let logger: Logger
    private let delay: Duration
    private let state = Mutex(State())

    init(store: Store, logger: Logger, delay: Duration = .milliseconds(200)) {
        self.store = store
        self.logger = logger
        self.delay = delay
    }

    func add(_ statement: Statement) {
        let schedule = state.withLock { state -> Bool in
            state.pending.append(statement)
            defer { state.scheduled = true }
            return !state.scheduled
        }
        guard schedule else { return }
        let seconds = Double(delay.components.seconds) + Double(delay.components.attoseconds) / 1e18
        DispatchQueue.global().asyncAfter(deadline: .now() + seconds) { self.writeScheduled() }
    }

    private func take(clearingSchedule: Bool) -> [Statement] {
        state.withLock { state in
            if clearingSchedule { state.scheduled = false }
            defer { state.pending.removeAll() }
            return state.pending
        }
    }

    private func writeScheduled() {
        let batch = take(clearingSchedule: true)
        guard !batch.isEmpty else { return }
        // Not a Swift task: nothing can cancel it half-way.
        store.writer.asyncWrite(
            { db in
                for statement in batch { try db.execute(sql: statement.sql, arguments: statement.arguments) }
            },
            completion: { [logger] _, result in
                if case .failure(let error) = result {
                    logger.error(
                        "cannot write deferred rows",
                        metadata: ["lalo.error": "\(error)", "lalo.rows": "\(batch.count)"])
                }
            })
    }

    /// Writes what is pending now. The writer is serial, so a batch another thread has already
    /// handed to it is committed before this returns.
    func flush() async {
        let batch = take(clearingSchedule: false)
        do {
            try await store.writer.write { db in
                for statement in batch { try db.execute(sql: statement.sql, arguments: statement.arguments) }
            }
        } catch {
            logger.error(
                "cannot write deferred rows", metadata: ["lalo.error": "\(error)", "lalo.rows": "\(batch.count)"])
        }
    }
}
