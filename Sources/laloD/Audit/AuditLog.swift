import GRDB
import Logging
import ServiceLifecycle
import Shared
import Synchronization

/// The hash-chained audit log and its group-committing writer.
///
/// Callers `append` and return only once their entry is committed, so a response never precedes
/// its audit record. When nobody is writing, the caller commits its own entry inline: no thread
/// hop, which is what keeps a single client's latency low. Appends that arrive while a commit is
/// running queue up and are written together by the background writer in one transaction: under
/// load one commit covers many calls, so auditing every call does not cap throughput at the
/// store's commit rate.
final class AuditLog: Service, Sendable {
    struct Unavailable: Error, CustomStringConvertible {
        var description: String { "the audit log is unavailable; see the log for the cause" }
    }

    private struct Pending {
        var event: AuditEvent
        var timeMicros: Int64
        var continuation: CheckedContinuation<Void, any Error>?
    }

    /// Who may write the next batch: exactly one writer at a time keeps the chain linear.
    private enum Owner { case none, inline, background }

    private struct State {
        var pending: [Pending] = []
        var owner = Owner.none
        var writerWaiting: CheckedContinuation<Void, Never>?
        var stopping = false
        var stopped = false
        var lastSeq: Int64 = 0
        var lastHash = AuditRecord.genesisHash
        var healthy = true

        /// Wakes the background writer if it sleeps; it re-checks the state itself.
        mutating func takeWaiter() -> CheckedContinuation<Void, Never>? {
            defer { writerWaiting = nil }
            return writerWaiting
        }
    }

    private let store: Store
    private let journal: JournalMirror?
    private let logger: Logger
    private let state = Mutex(State())

    init(store: Store, journal: JournalMirror?, logger: Logger) throws {
        self.store = store
        self.journal = journal
        self.logger = logger
        // The recorded head, not the newest row, is where the chain continues: if rows were
        // deleted while laloD was stopped, new entries leave a visible gap for verify to report,
        // instead of silently re-linking to whatever row is now last. If rows were added beyond
        // the head, numbering continues after them (a sequence number is never reused) and the
        // anomaly is recorded as the first entry of this run (see ``startupAnomaly``).
        let (head, newest) = try store.writer.read { db in
            (
                try Row.fetchOne(db, sql: "SELECT seq, hash FROM auditHead WHERE id = 1"),
                try Row.fetchOne(db, sql: "SELECT seq, hash FROM auditEntry ORDER BY seq DESC LIMIT 1")
            )
        }
        let headSeq: Int64? = head?["seq"]
        let newestSeq: Int64? = newest?["seq"]
        if let head, let headSeq, (newestSeq ?? 0) <= headSeq {
            let hash: String = head["hash"]
            state.withLock {
                $0.lastSeq = headSeq
                $0.lastHash = hash
            }
        } else if let newest, let newestSeq {
            let hash: String = newest["hash"]
            state.withLock {
                $0.lastSeq = newestSeq
                $0.lastHash = hash
            }
        }
        if let headSeq, headSeq != (newestSeq ?? 0) || (head?["hash"] as String?) != (newest?["hash"] as String?) {
            startupAnomaly = ["headSeq": .int(headSeq), "lastSeq": .int(newestSeq ?? 0)]
            logger.critical(
                "the audit log does not end at its recorded head; it was changed while laloD was stopped",
                metadata: ["lalo.audit.headSeq": "\(headSeq)", "lalo.audit.lastSeq": "\(newestSeq ?? 0)"])
        } else {
            startupAnomaly = nil
        }
    }

    /// Set when the log found at start does not end at its recorded head (rows removed or added
    /// while laloD was stopped); the daemon records it as the first entry of the run.
    let startupAnomaly: JSONValue?

    var lastSeq: Int64 { state.withLock { $0.lastSeq } }
    var isHealthy: Bool { state.withLock { $0.healthy && !$0.stopped } }
    var mirrorsToJournal: Bool { journal != nil }

    /// Records `event` and returns once it is committed.
    ///
    /// - Throws: ``Unavailable`` if the log has stopped or the commit failed.
    func append(_ event: AuditEvent) async throws {
        var event = event
        // Details carry names, paths and provider messages; never a secret value.
        if let detail = event.detail { event.detail = Redactor.shared.redact(detail) }
        let time = Timestamp.nowMicroseconds()
        let inline: Bool = try state.withLock { state in
            if state.stopped { throw Unavailable() }
            guard state.owner == .none, state.pending.isEmpty else { return false }
            state.owner = .inline
            return true
        }
        if inline {
            let committed = commit([Pending(event: event, timeMicros: time, continuation: nil)])
            let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
                // Whatever queued meanwhile goes to the background writer.
                state.owner = state.pending.isEmpty ? .none : .background
                return state.owner == .background || state.stopping ? state.takeWaiter() : nil
            }
            waiter?.resume()
            if !committed { throw Unavailable() }
            return
        }
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let outcome: (CheckedContinuation<Void, Never>?, Bool) = state.withLock { state in
                if state.stopped { return (nil, false) }
                state.pending.append(Pending(event: event, timeMicros: time, continuation: continuation))
                if state.owner == .none { state.owner = .background }
                return (state.owner == .background ? state.takeWaiter() : nil, true)
            }
            if !outcome.1 { continuation.resume(throwing: Unavailable()) }
            outcome.0?.resume()
        }
    }

    /// The background writer. On graceful shutdown it keeps committing until every append made
    /// before the server stopped is written, then refuses new ones.
    func run() async throws {
        await withGracefulShutdownHandler {
            while let batch = await nextBatch() {
                _ = commit(batch)
            }
        } onGracefulShutdown: {
            let waiter = self.state.withLock { state in
                state.stopping = true
                return state.takeWaiter()
            }
            waiter?.resume()
        }
        logger.debug("audit writer stopped", metadata: ["lalo.audit.lastSeq": "\(lastSeq)"])
    }

    /// Waits until the background writer owns a non-empty batch; nil once stopping and drained.
    private func nextBatch() async -> [Pending]? {
        while true {
            let taken: [Pending]? = state.withLock { state in
                if state.owner == .background {
                    if !state.pending.isEmpty {
                        defer { state.pending.removeAll(keepingCapacity: true) }
                        return state.pending
                    }
                    state.owner = .none
                }
                if state.stopping, state.owner == .none, state.pending.isEmpty {
                    state.stopped = true
                    return []
                }
                return nil
            }
            if let taken { return taken.isEmpty ? nil : taken }
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state in
                    let work = state.owner == .background && !state.pending.isEmpty
                    let finish = state.stopping && state.owner == .none
                    if work || finish { return true }
                    state.writerWaiting = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        }
    }

    /// Writes one batch in one transaction, extending the chain; resumes queued callers.
    /// Synchronous on purpose: it runs on the caller's thread (inline) or the writer task.
    private func commit(_ batch: [Pending]) -> Bool {
        let (startSeq, startHash) = state.withLock { ($0.lastSeq, $0.lastHash) }
        var records: [AuditRecord] = []
        records.reserveCapacity(batch.count)
        var seq = startSeq
        var previous = startHash
        for item in batch {
            seq += 1
            var record = AuditRecord(
                seq: seq, time: Timestamp.format(microsecondsSinceEpoch: item.timeMicros), timeMicros: item.timeMicros,
                kind: item.event.kind.rawValue, uid: item.event.uid, user: item.event.user, pid: item.event.pid,
                sessionId: item.event.sessionId, method: item.event.method, outcome: item.event.outcome.rawValue,
                errorKind: item.event.errorKind?.rawValue, durationMicros: item.event.durationMicros,
                paramsDigest: item.event.paramsDigest, detail: item.event.detail.map(JSONWriter.string),
                prevHash: previous, hash: "")
            record.hash = record.computedHash
            previous = record.hash
            records.append(record)
        }
        let finalSeq = seq
        let finalHash = previous
        let rows = records
        do {
            try store.writer.writeWithoutTransaction { db in
                // Cached statements and a hand-driven transaction: a commit is on every call's
                // path, so no SQL is parsed here and GRDB's transaction bookkeeping is skipped.
                try db.cachedStatement(sql: "BEGIN IMMEDIATE").execute()
                do {
                    let insert = try db.cachedStatement(sql: AuditRecord.insertSQL)
                    for record in rows { try insert.execute(arguments: record.insertArguments) }
                    try db.cachedStatement(
                        sql:
                            "INSERT INTO auditHead (id, seq, hash) VALUES (1, ?, ?) ON CONFLICT(id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash"
                    )
                    .execute(arguments: [finalSeq, finalHash])
                    try db.cachedStatement(sql: "COMMIT").execute()
                } catch {
                    try? db.execute(sql: "ROLLBACK")
                    throw error
                }
            }
            state.withLock {
                $0.lastSeq = finalSeq
                $0.lastHash = finalHash
                $0.healthy = true
            }
            if let journal { for record in records { journal.send(record) } }
            for item in batch { item.continuation?.resume() }
            return true
        } catch {
            // The chain in memory is unchanged, so the next batch continues from the last
            // committed entry; these callers get an internal error instead of a success.
            logger.error("audit commit failed", error: error, metadata: ["lalo.audit.batch": "\(batch.count)"])
            state.withLock { $0.healthy = false }
            for item in batch { item.continuation?.resume(throwing: Unavailable()) }
            return false
        }
    }
}
