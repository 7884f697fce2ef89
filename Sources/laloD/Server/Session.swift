import NIOCore
import Shared
import Synchronization

/// One connection: who is on the other end, what it is doing, and how to end it.
final class Session: Sendable {
    let id: Int64
    let principal: Principal
    let connectedAtMicros: Int64
    private let channel: any Channel
    private let state: Mutex<State>

    private struct State {
        var lastActivityMicros: Int64
        var calls: Int64 = 0
        var inFlight = 0
        var roles: [String] = []
        var permissions: Set<Permission> = []
        var generation: UInt64 = 0
        var endReason: String?
        var closeAfterReply: String?
    }

    /// Calls that last as long as the client listens (subscriptions) wait here for the client to
    /// stop sending: with half-closure allowed, that is the only sign a client is gone.
    private struct InputWatch {
        var closed = false
        var next: UInt64 = 0
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
    }

    private let inputWatch = Mutex(InputWatch())

    /// The client will send nothing more (it closed its side, or the connection ended).
    func markInputClosed() {
        let waiters = inputWatch.withLock { watch in
            watch.closed = true
            defer { watch.waiters.removeAll() }
            return Array(watch.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns once the client has stopped sending, or when the calling task is cancelled.
    func waitUntilInputClosed() async {
        let id = inputWatch.withLock { watch -> UInt64 in
            watch.next += 1
            return watch.next
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = inputWatch.withLock { watch -> Bool in
                    if watch.closed || Task.isCancelled { return true }
                    watch.waiters[id] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            inputWatch.withLock { $0.waiters.removeValue(forKey: id) }?.resume()
        }
    }

    init(id: Int64, principal: Principal, channel: any Channel) {
        self.id = id
        self.principal = principal
        self.channel = channel
        connectedAtMicros = Timestamp.nowMicroseconds()
        state = Mutex(State(lastActivityMicros: connectedAtMicros))
    }

    /// Effective roles and permissions, recomputed only when grants or the mapping changed.
    func access(_ control: AccessControl) -> (roles: [String], permissions: Set<Permission>) {
        let current = control.generation
        if let cached = state.withLock({ $0.generation == current ? ($0.roles, $0.permissions) : nil }) {
            return cached
        }
        let resolved = control.resolve(principal)
        state.withLock { state in
            state.roles = resolved.roles
            state.permissions = resolved.permissions
            state.generation = resolved.generation
        }
        return (resolved.roles, resolved.permissions)
    }

    /// Reserves `count` in-flight slots; false when that would exceed `limit`.
    func beginCalls(_ count: Int, limit: Int) -> Bool {
        state.withLock { state in
            state.lastActivityMicros = Timestamp.nowMicroseconds()
            guard state.inFlight + count <= limit else { return false }
            state.inFlight += count
            state.calls += Int64(count)
            return true
        }
    }

    func endCalls(_ count: Int) {
        state.withLock { state in
            state.inFlight -= count
            state.lastActivityMicros = Timestamp.nowMicroseconds()
        }
    }

    var inFlight: Int { state.withLock { $0.inFlight } }
    var lastActivityMicros: Int64 { state.withLock { $0.lastActivityMicros } }
    var endReason: String? { state.withLock { $0.endReason } }

    /// Closes the connection (forced logout, idle timeout, shutdown). The reason is recorded once.
    func terminate(reason: String) {
        state.withLock { state in
            if state.endReason == nil { state.endReason = reason }
        }
        channel.close(mode: .all, promise: nil)
    }

    /// Asks for the connection to close once the answer being computed has been written (a
    /// session terminating itself must still get its answer).
    func closeAfterReply(reason: String) {
        state.withLock { $0.closeAfterReply = reason }
    }

    func takeCloseAfterReply() -> String? {
        state.withLock { state in
            defer { state.closeAfterReply = nil }
            return state.closeAfterReply
        }
    }

    /// Stops reading from the connection; answers still being computed are written, then the
    /// connection closes (graceful shutdown).
    func finish(reason: String) {
        state.withLock { state in
            if state.endReason == nil { state.endReason = reason }
        }
        channel.close(mode: .input, promise: nil)
    }

    func info(currentSession: Int64) -> SessionInfo {
        state.withLock { state in
            SessionInfo(
                id: id, uid: principal.uid, user: principal.user, pid: principal.pid,
                connectedAt: Timestamp.format(microsecondsSinceEpoch: connectedAtMicros),
                lastActivityAt: Timestamp.format(microsecondsSinceEpoch: state.lastActivityMicros),
                calls: state.calls, inFlight: state.inFlight, current: id == currentSession)
        }
    }
}
