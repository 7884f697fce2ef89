import Crypto
import Foundation
import GRDB
import Shared
import Testing

@testable import laloD

/// A way of tampering with the audit table and what verify must say about it.
struct Tampering: Sendable, CustomTestStringConvertible {
    var name: String
    var sql: [String]
    /// Recompute the tampered entry's own hash, as a careful attacker would.
    var rehash: Int64?
    var firstBadSeq: Int64
    var problem: String
    var testDescription: String { name }
}

let tamperings: [Tampering] = [
    Tampering(
        name: "edit a field", sql: ["UPDATE auditEntry SET durationMicros = durationMicros + 1 WHERE seq = 7"],
        firstBadSeq: 7, problem: "changed"),
    Tampering(
        name: "edit a field and recompute its hash",
        sql: ["UPDATE auditEntry SET user = 'someone-else' WHERE seq = 6"], rehash: 6, firstBadSeq: 6,
        problem: "changed"),
    Tampering(
        name: "delete an entry", sql: ["DELETE FROM auditEntry WHERE seq = 5"], firstBadSeq: 5, problem: "missing"),
    Tampering(
        name: "swap two entries",
        sql: [
            "UPDATE auditEntry SET seq = -1 WHERE seq = 5",
            "UPDATE auditEntry SET seq = 5 WHERE seq = 6",
            "UPDATE auditEntry SET seq = 6 WHERE seq = -1",
        ], firstBadSeq: 5, problem: "reordered"),
    Tampering(
        name: "delete the oldest entry", sql: ["DELETE FROM auditEntry WHERE seq = 1"], firstBadSeq: 1,
        problem: "missing"),
]

@Suite("Hash-chained audit log", .serialized, .timeLimit(.minutes(2)))
struct AuditTests {
    /// Starts a daemon and makes ten calls, some of them failing, so there is a chain to tamper with.
    func daemonWithHistory() throws -> DaemonProcess {
        let daemon = try DaemonProcess()
        let client = try daemon.client()
        for i in 0..<10 {
            if i % 3 == 0 {
                _ = try? client.call("no.such.method")
            } else {
                _ = try client.call(SessionWhoami.self)
            }
        }
        return daemon
    }

    func databasePath(_ daemon: DaemonProcess) -> String { daemon.directory.file("state/laloD.sqlite") }

    @Test("calls, errors and denials are all recorded, with a digest of params and never their values")
    func entries() throws {
        let daemon = try daemonWithHistory()
        let client = try daemon.client()
        let marker = "MARKER-\(UUID().uuidString)"
        _ = try client.call(AuditQuery.self, .init(filter: .init(method: marker), limit: 5))
        // The call's own entry is committed before its answer: the next query must see it.
        let page = try client.call(AuditQuery.self, .init(filter: .init(method: "audit.query"), limit: 1000))
        let own = try #require(page.entries.last)
        #expect(own.outcome == "ok")
        let canonical = JSONWriter.bytes(["method": .string(marker), "limit": 5])
        #expect(own.paramsDigest == SHA256.hash(data: canonical).map { String(format: "%02x", $0) }.joined())
        let failures = try client.call(AuditQuery.self, .init(filter: .init(method: "no.such.method"), limit: 1000))
        #expect(failures.entries.count == 4)
        #expect(failures.entries.allSatisfy { $0.outcome == "error" && $0.errorKind == "methodNotFound" })
        let opens = try client.call(AuditQuery.self, .init(filter: .init(kind: "session"), limit: 1000))
        #expect(opens.entries.contains { $0.method == "session.open" })
        #expect(opens.entries.contains { $0.method == "session.close" })
        #expect(daemon.stop() == 0)
        for suffix in ["", "-wal"] {
            let bytes = (try? Data(contentsOf: URL(fileURLWithPath: databasePath(daemon) + suffix))) ?? Data()
            #expect(bytes.range(of: Data(marker.utf8)) == nil, "param values must not reach the database\(suffix)")
        }
    }

    @Test("cursor pagination walks every entry exactly once")
    func pagination() throws {
        let daemon = try daemonWithHistory()
        let client = try daemon.client()
        var cursor: String? = nil
        var seqs: [Int64] = []
        repeat {
            let page = try client.call(AuditQuery.self, .init(cursor: cursor, limit: 3))
            seqs += page.entries.map(\.seq)
            cursor = page.nextCursor
        } while cursor != nil
        #expect(seqs == Array(1...Int64(seqs.count)))
        #expect(seqs.count >= 14)
    }

    @Test("export streams JSON Lines that verify offline")
    func export() throws {
        let daemon = try daemonWithHistory()
        let result = try run(Binaries.laloctl, ["audit", "export", "--socket", daemon.socketPath])
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n")
        #expect(lines.count >= 14)
        var previous = AuditRecord.genesisHash
        for (index, line) in lines.enumerated() {
            let entry = try JSONDecoder().decode(AuditEntry.self, from: Data(line.utf8))
            #expect(entry.seq == Int64(index + 1))
            #expect(entry.prevHash == previous)
            // Each exported line carries everything its hash covers: recompute it offline.
            let record = AuditRecord(
                seq: entry.seq, time: entry.time, timeMicros: entry.timeMicros, kind: entry.kind, uid: entry.uid,
                user: entry.user, pid: entry.pid, sessionId: entry.sessionId, method: entry.method,
                outcome: entry.outcome,
                errorKind: entry.errorKind, durationMicros: entry.durationMicros, paramsDigest: entry.paramsDigest,
                detail: entry.detail.map(JSONWriter.string), prevHash: entry.prevHash, hash: entry.hash)
            #expect(record.computedHash == entry.hash)
            previous = entry.hash
        }
    }

    @Test("verify finds the first tampered entry", arguments: tamperings)
    func verifyFindsTampering(_ tampering: Tampering) throws {
        let daemon = try daemonWithHistory()
        let client = try daemon.client()
        #expect(try client.call(AuditVerify.self).ok)
        var configuration = GRDB.Configuration()
        configuration.busyMode = .timeout(10)
        let database = try DatabaseQueue(path: databasePath(daemon), configuration: configuration)
        try database.write { db in
            for statement in tampering.sql { try db.execute(sql: statement) }
            if let seq = tampering.rehash {
                var record = try #require(try AuditRecord.fetchOne(db, key: seq))
                record.hash = record.computedHash
                try record.update(db)
            }
        }
        let verdict = try client.call(AuditVerify.self)
        #expect(!verdict.ok)
        #expect(verdict.firstBadSeq == tampering.firstBadSeq, "\(verdict.detail ?? "")")
        #expect(verdict.problem == tampering.problem, "\(verdict.detail ?? "")")
        let cli = try run(Binaries.laloctl, ["audit", "verify", "--socket", daemon.socketPath])
        #expect(cli.status == 1)
        #expect(cli.stdout.contains("entry \(tampering.firstBadSeq) \(tampering.problem)"))
    }

    @Test("deleting the newest entries is caught by the recorded head")
    func truncatedTail() throws {
        let daemon = try daemonWithHistory()
        #expect(daemon.stop() == 0)
        let database = try DatabaseQueue(path: databasePath(daemon))
        let last = try database.write { db -> Int64 in
            let last = try Int64.fetchOne(db, sql: "SELECT max(seq) FROM auditEntry") ?? 0
            try db.execute(sql: "DELETE FROM auditEntry WHERE seq > ?", arguments: [last - 3])
            return last
        }
        let store = try Store.open(directory: daemon.directory.file("state"), busyTimeoutMilliseconds: 1000)
        let verdict = try AuditLog.verify(store: store)
        #expect(!verdict.ok)
        #expect(verdict.problem == "missing")
        #expect(verdict.firstBadSeq == last - 2)
        // After a restart the chain continues from the recorded head, so the gap stays visible.
        let restarted = try DaemonProcess.restart(from: daemon)
        let after = try restarted.client().call(AuditVerify.self)
        #expect(!after.ok)
        #expect(after.problem == "missing")
        #expect(after.firstBadSeq == last - 2)
        #expect(restarted.log.contains("does not end at its recorded head"))
        let recorded = try restarted.client().call(
            AuditQuery.self, .init(filter: .init(method: "audit.headMismatch"), limit: 5))
        #expect(recorded.entries.first?.detail?["headSeq"] == .int(last))
    }

    @Test("entries appended behind the head's back are reported")
    func forgedTail() throws {
        let daemon = try daemonWithHistory()
        #expect(daemon.stop() == 0)
        let database = try DatabaseQueue(path: databasePath(daemon))
        let head = try database.write { db -> Int64 in
            var record = try #require(try AuditRecord.order(AuditRecord.Columns.seq.desc).fetchOne(db))
            record.prevHash = record.hash
            record.seq += 1
            record.hash = record.computedHash
            try record.insert(db)
            return record.seq - 1
        }
        let store = try Store.open(directory: daemon.directory.file("state"), busyTimeoutMilliseconds: 1000)
        let verdict = try AuditLog.verify(store: store)
        #expect(!verdict.ok)
        #expect(verdict.firstBadSeq == head + 1)
        #expect(verdict.problem == "changed")
        // laloD still starts (numbering continues after the added row) and records the anomaly
        // as the first entry of the run.
        let restarted = try DaemonProcess.restart(from: daemon)
        let recorded = try restarted.client().call(AuditQuery.self, .init(filter: .init(kind: "system"), limit: 1000))
        let mismatch = try #require(recorded.entries.first { $0.method == "audit.headMismatch" })
        #expect(mismatch.seq == head + 2)
        #expect(mismatch.outcome == "error")
        #expect(mismatch.detail?["lastSeq"] == .int(head + 1))
    }

    @Test("concurrent calls are committed in groups and the chain stays intact")
    func groupCommit() throws {
        let daemon = try DaemonProcess()
        let socket = daemon.socketPath
        DispatchQueue.concurrentPerform(iterations: 8) { _ in
            guard let client = try? LaloClient(socketPath: socket) else { return }
            for _ in 0..<100 { _ = try? client.call(SessionWhoami.self) }
        }
        let client = try daemon.client()
        let verdict = try client.call(AuditVerify.self)
        #expect(verdict.ok)
        let calls = try client.call(AuditQuery.self, .init(filter: .init(method: "session.whoami"), limit: 1000))
        #expect(calls.entries.count == 800)
    }
}

@Suite("Audit canonical form")
struct CanonicalFormTests {
    @Test(
        "the hand-written canonical bytes equal the JSONWriter form of the entry",
        arguments: [
            nil, #"{"reason":"idle timeout","n":[1,2]}"#, #"{"text":"quote \" and é and \n"}"#,
        ])
    func canonical(detail: String?) {
        let record = AuditRecord(
            seq: 42, time: "2026-11-24T20:00:00.000001Z", timeMicros: 1_795_000_000_000_001, kind: "call", uid: 1001,
            user: "bob \"the\" builder", pid: 4242, sessionId: 7, method: "role.grant", outcome: "error",
            errorKind: detail == nil ? nil : "notFound", durationMicros: 123,
            paramsDigest: String(repeating: "a", count: 64),
            detail: detail, prevHash: String(repeating: "b", count: 64), hash: "")
        #expect(record.canonicalBytes == JSONWriter.bytes(record.canonicalObject))
    }
}
