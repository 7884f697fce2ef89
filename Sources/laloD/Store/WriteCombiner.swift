import GRDB
import Synchronization

/// Group commit for small write transactions: writes that arrive while the writer is busy are
/// run together in the next transaction, each in a savepoint of its own, and committed with one
/// fsync. Each caller still gets its own result or error (a refused event rolls back only its
/// savepoint) and returns only after the commit, so "durable before its effects" holds as with
/// a transaction each. Under load, many workflows' events and tool records share one fsync
/// instead of queueing for one each.
final class WriteCombiner: Sendable {
    private struct Job: Sendable {
        /// Runs the body in a savepoint; returns what to do once the transaction has committed.
        let run: @Sendable (Database) -> @Sendable () -> Void
        /// Called instead when the transaction as a whole fails.
        let fail: @Sendable (any Error) -> Void
    }

    private struct State {
        var pending: [Job] = []
        var running = false
    }

    private let writer: DatabasePool
    private let state = Mutex(State())

    init(writer: DatabasePool) {
        self.writer = writer
    }

    func write<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let job = Job(
                run: { db in
                    do {
                        nonisolated(unsafe) var result: T?
                        try db.inSavepoint {
                            result = try body(db)
                            return .commit
                        }
                        let value = result!
                        return { continuation.resume(returning: value) }
                    } catch {
                        return { continuation.resume(throwing: error) }
                    }
                }, fail: { error in continuation.resume(throwing: error) })
            let start = state.withLock { state -> Bool in
                state.pending.append(job)
                defer { state.running = true }
                return !state.running
            }
            if start { drain() }
        }
    }

    /// Writes everything queued in one transaction, then what queued meanwhile, until nothing is left.
    private func drain() {
        let batch = state.withLock { state -> [Job] in
            defer { state.pending.removeAll(keepingCapacity: true) }
            if state.pending.isEmpty { state.running = false }
            return state.pending
        }
        guard !batch.isEmpty else { return }
        // Not a Swift task: a cancelled caller cannot cut a shared transaction short.
        writer.asyncWrite(
            { db in batch.map { $0.run(db) } },
            completion: { _, result in
                switch result {
                case .success(let completions): for completion in completions { completion() }
                case .failure(let error): for job in batch { job.fail(error) }
                }
                self.drain()
            })
    }
}
