import Shared
import Synchronization

/// Fans workflow events out to subscribers (`workflow.subscribe`). Events are published after
/// they are stored, so a subscriber that replays the log up to a sequence number and then
/// listens misses nothing; it may see an event twice and skips by sequence number.
final class WorkflowEventHub: Sendable {
    /// What a subscriber may see: one workflow, or every workflow of one user, or all.
    struct Filter: Sendable {
        var workflowId: String?
        var uid: Int64?

        func matches(_ event: Published) -> Bool {
            (workflowId == nil || workflowId == event.info.workflowId) && (uid == nil || uid == event.uid)
        }
    }

    struct Published: Sendable {
        var info: WorkflowEventInfo
        var uid: Int64
    }

    private struct Subscriber {
        var filter: Filter
        var continuation: AsyncStream<Published>.Continuation
    }

    private struct State {
        var next: UInt64 = 0
        var subscribers: [UInt64: Subscriber] = [:]
        var closed = false
    }

    private let state = Mutex(State())

    /// A stream of matching events; it ends when the hub shuts down or the stream is dropped.
    /// A subscriber that falls behind by more than `buffer` events loses the oldest ones (it can
    /// replay them from the log); the daemon never buffers without bound for a slow reader.
    func subscribe(_ filter: Filter, buffer: Int = 1024) -> AsyncStream<Published> {
        let (stream, continuation) = AsyncStream.makeStream(
            of: Published.self, bufferingPolicy: .bufferingNewest(buffer))
        let id: UInt64? = state.withLock { state in
            guard !state.closed else { return nil }
            state.next += 1
            state.subscribers[state.next] = Subscriber(filter: filter, continuation: continuation)
            return state.next
        }
        guard let id else {
            continuation.finish()
            return stream
        }
        continuation.onTermination = { [weak self] _ in
            _ = self?.state.withLock { $0.subscribers.removeValue(forKey: id) }
        }
        return stream
    }

    func publish(_ event: Published) {
        let targets = state.withLock { state in
            state.subscribers.values.filter { $0.filter.matches(event) }.map(\.continuation)
        }
        for continuation in targets { continuation.yield(event) }
    }

    /// Ends every stream (daemon shutdown).
    func shutdown() {
        let all = state.withLock { state in
            state.closed = true
            defer { state.subscribers.removeAll() }
            return state.subscribers.values.map(\.continuation)
        }
        for continuation in all { continuation.finish() }
    }
}
