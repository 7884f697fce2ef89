import Crypto
import GRDB
import Shared

/// One row of `auditEntry`.
struct AuditRecord: Codable, Sendable, FetchableRecord, PersistableRecord {
    static let databaseTableName = "auditEntry"

    var seq: Int64
    var time: String
    var timeMicros: Int64
    var kind: String
    var uid: Int64
    var user: String
    var pid: Int32
    var sessionId: Int64
    var method: String
    var outcome: String
    var errorKind: String?
    var durationMicros: Int64
    var paramsDigest: String
    /// Canonical JSON text of the detail object, if any.
    var detail: String?
    var prevHash: String
    var hash: String

    enum Columns {
        static let seq = Column(CodingKeys.seq)
        static let timeMicros = Column(CodingKeys.timeMicros)
        static let uid = Column(CodingKeys.uid)
        static let method = Column(CodingKeys.method)
        static let outcome = Column(CodingKeys.outcome)
        static let kind = Column(CodingKeys.kind)
        static let hash = Column(CodingKeys.hash)
    }

    static let genesisHash = String(repeating: "0", count: 64)

    static let insertSQL = """
        INSERT INTO auditEntry (seq, time, timeMicros, kind, uid, user, pid, sessionId, method, outcome, errorKind,
            durationMicros, paramsDigest, detail, prevHash, hash)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        """

    var insertArguments: StatementArguments {
        [
            seq, time, timeMicros, kind, uid, user, pid, sessionId, method, outcome, errorKind, durationMicros,
            paramsDigest, detail, prevHash, hash,
        ]
    }

    /// Every column but `hash`, as canonical JSON (sorted keys, no whitespace). Changing any
    /// stored field therefore changes the hash the entry should have.
    var canonicalBytes: [UInt8] {
        // Written field by field in sorted key order: the same bytes JSONWriter produces for the
        // equivalent object (a test checks that), without building and sorting a dictionary on
        // every call's path.
        var out: [UInt8] = []
        out.reserveCapacity(512)
        func key(_ name: StaticString, first: Bool = false) {
            if !first { out.append(UInt8(ascii: ",")) }
            out.append(UInt8(ascii: "\""))
            out.append(contentsOf: UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount))
            out.append(contentsOf: [UInt8(ascii: "\""), UInt8(ascii: ":")])
        }
        func string(_ value: String) { JSONWriter.write(.string(value), into: &out) }
        func int(_ value: Int64) { out.append(contentsOf: String(value).utf8) }
        out.append(UInt8(ascii: "{"))
        key("detail", first: true)
        if let detail, let parsed = try? JSONParser.parse(detail) {
            JSONWriter.write(parsed, into: &out)
        } else {
            out.append(contentsOf: "null".utf8)
        }
        key("durationMicros")
        int(durationMicros)
        key("errorKind")
        if let errorKind { string(errorKind) } else { out.append(contentsOf: "null".utf8) }
        key("kind")
        string(kind)
        key("method")
        string(method)
        key("outcome")
        string(outcome)
        key("paramsDigest")
        string(paramsDigest)
        key("pid")
        int(Int64(pid))
        key("prevHash")
        string(prevHash)
        key("seq")
        int(seq)
        key("sessionId")
        int(sessionId)
        key("time")
        string(time)
        key("timeMicros")
        int(timeMicros)
        key("uid")
        int(uid)
        key("user")
        string(user)
        out.append(UInt8(ascii: "}"))
        return out
    }

    /// The canonical form defined as data: what ``canonicalBytes`` must equal (checked by a test).
    var canonicalObject: JSONValue {
        let detailValue: JSONValue = detail.flatMap { try? JSONParser.parse($0) } ?? .null
        return [
            "seq": .int(seq), "time": .string(time), "timeMicros": .int(timeMicros), "kind": .string(kind),
            "uid": .int(uid), "user": .string(user), "pid": .int(Int64(pid)), "sessionId": .int(sessionId),
            "method": .string(method), "outcome": .string(outcome),
            "errorKind": errorKind.map(JSONValue.string) ?? .null, "durationMicros": .int(durationMicros),
            "paramsDigest": .string(paramsDigest), "detail": detailValue, "prevHash": .string(prevHash),
        ]
    }

    var computedHash: String { SHA256.hash(data: canonicalBytes).hexString }

    var wire: AuditEntry {
        AuditEntry(
            seq: seq, time: time, timeMicros: timeMicros, kind: kind, uid: uid, user: user, pid: pid,
            sessionId: sessionId,
            method: method, outcome: outcome, errorKind: errorKind, durationMicros: durationMicros,
            paramsDigest: paramsDigest, detail: detail.flatMap { try? JSONParser.parse($0) },
            prevHash: prevHash, hash: hash)
    }
}

extension Sequence where Element == UInt8 {
    var hexString: String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(64)
        for byte in self {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

extension SHA256.Digest {
    var hexString: String { Array(self).hexString }
}

/// The SHA-256 digest of canonical params, which is all the audit log keeps of them.
func digestOfParams(_ params: JSONValue?) -> String {
    guard let params else { return digestOfNoParams }
    return SHA256.hash(data: JSONWriter.bytes(params)).hexString
}

/// Most calls have no params; their digest (of `null`) is computed once.
let digestOfNoParams = SHA256.hash(data: JSONWriter.bytes(.null)).hexString
