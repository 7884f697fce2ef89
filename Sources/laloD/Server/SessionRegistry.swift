import GRDB
import Shared
import Synchronization

/// The open sessions, the per-user cap, and their history in the store.
final class SessionRegistry: Sendable {
    enum Refusal: Error {
        case tooManySessions(limit: Int)
    }

    private struct State {
        var sessions: [Int64: Session] = [:]
        /// Connections of each uid admitted but not yet recorded, so concurrent connects cannot
        /// overshoot the cap between the check and the insert.
        var admitting: [UInt32: Int] = [:]
    }

    private let store: Store
    private let state = Mutex(State())
    private let maxPerUser: Mutex<Int>

    init(store: Store, maxPerUser: Int) throws {
        self.store = store
        self.maxPerUser = Mutex(maxPerUser)
        // Sessions left open by a crash or kill ended when that daemon did.
        try store.writer.write { db in
            try db.execute(
                sql: "UPDATE session SET endedAt = ?, endReason = 'daemon restarted' WHERE endedAt IS NULL",
                arguments: [Timestamp.now()])
        }
    }

    func setMaxPerUser(_ limit: Int) { maxPerUser.withLock { $0 = limit } }

    /// Records a new session, or refuses it when the user is at the cap.
    func open(principal: Principal, make: (Int64) -> Session) async throws -> Session {
        let limit = maxPerUser.withLock { $0 }
        let admitted = state.withLock { state in
            let open = state.sessions.values.filter { $0.principal.uid == principal.uid }.count
            guard open + state.admitting[principal.uid, default: 0] < limit else { return false }
            state.admitting[principal.uid, default: 0] += 1
            return true
        }
        guard admitted else { throw Refusal.tooManySessions(limit: limit) }
        defer { state.withLock { $0.admitting[principal.uid, default: 1] -= 1 } }
        let id = try await store.writer.write { db -> Int64 in
            try db.execute(
                sql: "INSERT INTO session (uid, gid, pid, user, connectedAt) VALUES (?, ?, ?, ?, ?)",
                arguments: [principal.uid, principal.gid, principal.pid, principal.user, Timestamp.now()])
            return db.lastInsertedRowID
        }
        let session = make(id)
        state.withLock { $0.sessions[id] = session }
        return session
    }

    func close(_ session: Session, reason: String) async {
        state.withLock { _ = $0.sessions.removeValue(forKey: session.id) }
        _ = try? await store.writer.write { db in
            try db.execute(
                sql: "UPDATE session SET endedAt = ?, endReason = ? WHERE id = ?",
                arguments: [Timestamp.now(), reason, session.id])
        }
    }

    var all: [Session] { state.withLock { Array($0.sessions.values).sorted { $0.id < $1.id } } }
    var count: Int { state.withLock { $0.sessions.count } }

    func session(id: Int64) -> Session? { state.withLock { $0.sessions[id] } }
}
