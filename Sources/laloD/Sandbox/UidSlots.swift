import Synchronization

/// Host uids for concurrent sandboxes. Each running sandbox gets a pair of its own (user and
/// root), so per-uid accounting (RLIMIT_NPROC) and the per-slot cgroup never mix two sandboxes,
/// and one sandbox can never signal another's processes. Callers beyond the last slot wait.
final class UidSlots: Sendable {
    private struct State {
        var free: [Int]
        var waiters: [CheckedContinuation<Int, Never>] = []
    }
    private let state: Mutex<State>
    let base: Int

    init(base: Int, count: Int) {
        self.base = base
        state = Mutex(State(free: Array((0..<count).reversed())))
    }

    /// The host uid of the sandbox user for a slot; the slot's root is the next one.
    func uid(of slot: Int) -> Int { base + 2 * slot }

    func acquire() async -> Int {
        if let slot = state.withLock({ $0.free.popLast() }) { return slot }
        return await withCheckedContinuation { continuation in
            let slot: Int? = state.withLock { state in
                if let slot = state.free.popLast() { return slot }
                state.waiters.append(continuation)
                return nil
            }
            if let slot { continuation.resume(returning: slot) }
        }
    }

    func release(_ slot: Int) {
        let waiter: CheckedContinuation<Int, Never>? = state.withLock { state in
            if !state.waiters.isEmpty { return state.waiters.removeFirst() }
            state.free.append(slot)
            return nil
        }
        waiter?.resume(returning: slot)
    }

    func withSlot<T>(_ body: (Int) async throws -> T) async throws -> T {
        let slot = await acquire()
        defer { release(slot) }
        return try await body(slot)
    }
}
