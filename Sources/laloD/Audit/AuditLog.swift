import GRDB
import Logging
import ServiceLifecycle
import Shared
import Synchronization

/// The hash-chained audit log and its group-committing writer.
///
/// Callers `append` and are resumed only once their entry is committed, so a response never
/// precedes its audit record. Appends that arrive while a commit is running wait for the next one
/// and are written together in one transaction: under load a single fsync covers many calls, which
/// is why auditing every call does not cap throughput at the disk's sync rate.
final class AuditLog: Service, Sendable {
    struct Unavailable: Error {}

    private struct Pending {
        var event: AuditEvent
        var timeMicros: Int64
        var continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var pending: [Pending] = []
        var writerWaiting: CheckedContinuation<Void, Never>?
        var stopping = false
        var stopped = false
        var lastSeq: Int64 = 0
        var lastHash = AuditRecord.genesisHash
        var healthy = true
    }

    private let store: Store
    private let journal: JournalMirror?
    private let logger: Logger
    private let state = Mutex(State())

    init(store: Store, journal: JournalMirror?, logger: Logger) throws {
        self.store = store
        self.journal = journal
        self.logger = logger
        let head = try store.writer.read { db in
            try Row.fetchOne(db, sql: "SELECT seq, hash FROM auditEntry ORDER BY seq DESC LIMIT 1")
        }
        if let head {
            let seq: Int64 = head["seq"]
            let hash: String = head["hash"]
            state.withLock { $0.lastSeq = seq; $0.lastHash = hash }
        }
    }

    var lastSeq: Int64 { state.withLock { $0.lastSeq } }
    var isHealthy: Bool { state.withLock { $0.healthy && !$0.stopped } }
    var mirrorsToJournal: Bool { journal != nil }

    /// Records `event` and returns once it is durably committed.
    ///
    /// - Throws: ``Unavailable`` if the writer has stopped or the commit failed.
    func append(_ event: AuditEvent) async throws {
        let time = Timestamp.nowMicroseconds()
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let wake: CheckedContinuation<Void, Never>? = state.withLock { state in
                if state.stopped {
                    continuation.resume(throwing: Unavailable())
                    return nil
                }
                state.pending.append(Pending(event: event, timeMicros: time, continuation: continuation))
                defer { state.writerWaiting = nil }
                return state.writerWaiting
            }
            wake?.resume()
        }
    }

    /// The writer loop. On graceful shutdown it keeps committing until every append made before
    /// the server stopped is written, then refuses new ones.
    func run() async throws {
        await withGracefulShutdownHandler {
            while true {
                let batch = await nextBatch()
                guard let batch else { break }
                await commit(batch)
            }
        } onGracefulShutdown: {
            let wake = self.state.withLock { state in
                state.stopping = true
                defer { state.writerWaiting = nil }
                return state.writerWaiting
            }
            wake?.resume()
        }
        logger.debug("audit writer stopped", metadata: ["lalo.audit.lastSeq": "\(lastSeq)"])
    }

    /// Waits for pending appends; nil once stopping and drained.
    private func nextBatch() async -> [Pending]? {
        while true {
            let taken: [Pending]? = state.withLock { state in
                if !state.pending.isEmpty {
                    defer { state.pending.removeAll(keepingCapacity: true) }
                    return state.pending
                }
                if state.stopping {
                    state.stopped = true
                    return []
                }
                return nil
            }
            if let taken { return taken.isEmpty ? nil : taken }
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state in
                    if !state.pending.isEmpty || state.stopping { return true }
                    state.writerWaiting = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        }
    }

    private func commit(_ batch: [Pending]) async {
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
            try await store.writer.write { db in
                for record in rows { try record.insert(db) }
                try db.execute(
                    sql: "INSERT INTO auditHead (id, seq, hash) VALUES (1, ?, ?) ON CONFLICT(id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
                    arguments: [finalSeq, finalHash])
            }
            state.withLock { $0.lastSeq = finalSeq; $0.lastHash = finalHash; $0.healthy = true }
            for item in batch { item.continuation.resume() }
            if let journal { for record in records { journal.send(record) } }
        } catch {
            // The chain in memory is unchanged, so the next batch continues from the last
            // committed entry; these callers get an internal error instead of a success.
            logger.error("audit commit failed", error: error, metadata: ["lalo.audit.batch": "\(batch.count)"])
            state.withLock { $0.healthy = false }
            for item in batch { item.continuation.resume(throwing: Unavailable()) }
        }
    }
}
