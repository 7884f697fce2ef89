import GRDB
import Shared

extension AuditLog {
    /// Walks the whole chain in sequence order and reports the first entry that does not verify.
    ///
    /// The diagnosis distinguishes three tamperings:
    /// - `missing`: a sequence number is skipped (an entry was deleted), or the tail is shorter
    ///   than the recorded head (the newest entries were deleted);
    /// - `reordered`: an entry sits at the wrong place, detected because its `prevHash` (or hash)
    ///   belongs to an entry at another position;
    /// - `changed`: an entry's content no longer matches its hash, or was rewritten with a
    ///   recomputed hash so the next entry's `prevHash` no longer matches.
    static func verify(store: Store) throws -> AuditVerify.Result {
        try store.writer.read { db in
            let head = try Row.fetchOne(db, sql: "SELECT seq, hash FROM auditHead WHERE id = 1")
            let cursor = try AuditRecord.order(AuditRecord.Columns.seq).fetchCursor(db)
            var expectedSeq: Int64 = 1
            var previousHash = AuditRecord.genesisHash
            var count: Int64 = 0
            var firstSeq: Int64 = 0
            var lastSeq: Int64 = 0
            func failure(_ seq: Int64, _ problem: String, _ detail: String) -> AuditVerify.Result {
                AuditVerify.Result(
                    ok: false, entries: count, firstSeq: firstSeq, lastSeq: lastSeq,
                    firstBadSeq: seq, problem: problem, detail: detail)
            }
            while let record = try cursor.next() {
                if count == 0 { firstSeq = record.seq }
                if record.seq != expectedSeq {
                    return failure(
                        expectedSeq, "missing",
                        "entries \(expectedSeq)…\(record.seq - 1) are missing before entry \(record.seq)")
                }
                let selfConsistent = record.computedHash == record.hash
                if record.prevHash != previousHash {
                    if let owner = try Int64.fetchOne(
                        db, sql: "SELECT seq FROM auditEntry WHERE hash = ? AND seq <> ?",
                        arguments: [record.prevHash, record.seq - 1])
                    {
                        return failure(
                            record.seq, "reordered",
                            "entry \(record.seq) follows entry \(owner) in the chain, not entry \(record.seq - 1)")
                    }
                    if selfConsistent, record.seq > 1 {
                        return failure(
                            record.seq - 1, "changed",
                            "entry \(record.seq - 1) was rewritten: entry \(record.seq) no longer links to it")
                    }
                    return failure(
                        record.seq, "changed", "entry \(record.seq) does not link to entry \(record.seq - 1)")
                }
                if !selfConsistent {
                    return failure(record.seq, "changed", "entry \(record.seq) does not match its hash")
                }
                previousHash = record.hash
                lastSeq = record.seq
                expectedSeq += 1
                count += 1
            }
            if let head {
                let headSeq: Int64 = head["seq"]
                let headHash: String = head["hash"]
                if headSeq > lastSeq {
                    return failure(lastSeq + 1, "missing", "the log ends at \(lastSeq) but its head records \(headSeq)")
                }
                if headSeq == lastSeq, headHash != previousHash {
                    return failure(lastSeq, "changed", "entry \(lastSeq) does not match the recorded head")
                }
                if headSeq < lastSeq {
                    return failure(
                        headSeq + 1, "changed",
                        "entries \(headSeq + 1)…\(lastSeq) were added after the recorded head \(headSeq)")
                }
            }
            return AuditVerify.Result(ok: true, entries: count, firstSeq: firstSeq, lastSeq: lastSeq)
        }
    }

    /// One page of entries matching `filter`, after the cursor (a sequence number).
    static func query(store: Store, filter: AuditFilter, uid: Int64?, afterSeq: Int64, limit: Int) throws
        -> [AuditRecord]
    {
        try store.writer.read { db in
            var request = AuditRecord.filter(AuditRecord.Columns.seq > afterSeq)
            if let since = filter.since.flatMap(Timestamp.parseMicroseconds) {
                request = request.filter(AuditRecord.Columns.timeMicros >= since)
            }
            if let until = filter.until.flatMap(Timestamp.parseMicroseconds) {
                request = request.filter(AuditRecord.Columns.timeMicros < until)
            }
            if let uid { request = request.filter(AuditRecord.Columns.uid == uid) }
            if let method = filter.method { request = request.filter(AuditRecord.Columns.method == method) }
            if let outcome = filter.outcome { request = request.filter(AuditRecord.Columns.outcome == outcome) }
            if let kind = filter.kind { request = request.filter(AuditRecord.Columns.kind == kind) }
            return try request.order(AuditRecord.Columns.seq).limit(limit).fetchAll(db)
        }
    }

    static func count(store: Store) throws -> Int64 {
        try store.writer.read { db in try Int64.fetchOne(db, sql: "SELECT count(*) FROM auditEntry") ?? 0 }
    }
}
