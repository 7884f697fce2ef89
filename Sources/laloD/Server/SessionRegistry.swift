import GRDB
import Shared
import Synchronization

/// The open sessions, the per-user cap, and their history in the store.
final class SessionRegistry: Sendable {
    enum Refusal: Error {
        case tooManySessions(limit: Int)
    }

    private let store: Store
    private let sessions = Mutex<[Int64: Session]>([:])
    private let maxPerUser: Mutex<Int>

    init(store: Store, maxPerUser: Int) throws {
        self.store = store
        self.maxPerUser = Mutex(maxPerUser)
        // Sessions left open by a crash or kill ended when that daemon did.
        try store.writer.write { db in
            try db.execute(sql: "UPDATE session SET endedAt = ?, endReason = 'daemon restarted' WHERE endedAt IS NULL",
                           arguments: [Timestamp.now()])
        }
    }

    func setMaxPerUser(_ limit: Int) { maxPerUser.withLock { $0 = limit } }

    /// Records a new session, or refuses it when the user is at the cap.
    func open(principal: Principal, make: (Int64) -> Session) async throws -> Session {
        let limit = maxPerUser.withLock { $0 }
        let open = sessions.withLock { $0.values.filter { $0.principal.uid == principal.uid }.count }
        if open >= limit { throw Refusal.tooManySessions(limit: limit) }
        let id = try await store.writer.write { db -> Int64 in
            try db.execute(
                sql: "INSERT INTO session (uid, gid, pid, user, connectedAt) VALUES (?, ?, ?, ?, ?)",
                arguments: [principal.uid, principal.gid, principal.pid, principal.user, Timestamp.now()])
            return db.lastInsertedRowID
        }
        let session = make(id)
        sessions.withLock { $0[id] = session }
        return session
    }

    func close(_ session: Session, reason: String) async {
        sessions.withLock { _ = $0.removeValue(forKey: session.id) }
        _ = try? await store.writer.write { db in
            try db.execute(sql: "UPDATE session SET endedAt = ?, endReason = ? WHERE id = ?",
                           arguments: [Timestamp.now(), reason, session.id])
        }
    }

    var all: [Session] { sessions.withLock { Array($0.values).sorted { $0.id < $1.id } } }
    var count: Int { sessions.withLock { $0.count } }

    func session(id: Int64) -> Session? { sessions.withLock { $0[id] } }
}
