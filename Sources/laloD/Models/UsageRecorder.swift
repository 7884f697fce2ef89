import GRDB
import Logging
import Synchronization

/// Writes token usage rows off the model call's path, many per transaction: a workflow makes
/// several model calls in a row, and a store write each would sit between every two of them.
/// `model.usage` calls ``flush()`` first, so a caller always sees its own calls counted.
final class UsageRecorder: Sendable {
    struct Row: Sendable {
        var arguments: StatementArguments
    }

    private struct State {
        var pending: [Row] = []
        var writer: Task<Void, Never>?
    }

    private let store: Store
    private let logger: Logger
    private let state = Mutex(State())

    init(store: Store, logger: Logger) {
        self.store = store
        self.logger = logger
    }

    func record(_ row: Row) {
        state.withLock { state in
            state.pending.append(row)
            guard state.writer == nil else { return }
            state.writer = Task { await self.drain() }
        }
    }

    /// Waits until every row recorded so far is in the store.
    func flush() async {
        while let writer = state.withLock({ $0.writer }) { await writer.value }
    }

    private func drain() async {
        while true {
            let batch = state.withLock { state -> [Row] in
                defer { state.pending.removeAll() }
                if state.pending.isEmpty { state.writer = nil }
                return state.pending
            }
            if batch.isEmpty { return }
            do {
                try await store.writer.write { db in
                    for row in batch {
                        try db.execute(sql: """
                            INSERT INTO modelUsage (timeMicros, day, uid, user, workflowId, role, provider, model, promptTokens,
                                completionTokens, durationMicros, outcome) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                            """, arguments: row.arguments)
                    }
                }
            } catch {
                logger.error("cannot record model usage", metadata: ["lalo.error": "\(error)", "lalo.rows": "\(batch.count)"])
            }
        }
    }
}
