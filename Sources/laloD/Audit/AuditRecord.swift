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
        [seq, time, timeMicros, kind, uid, user, pid, sessionId, method, outcome, errorKind, durationMicros,
         paramsDigest, detail, prevHash, hash]
    }

    /// Every column but `hash`, as canonical JSON (sorted keys, no whitespace). Changing any
    /// stored field therefore changes the hash the entry should have.
    var canonicalBytes: [UInt8] {
        let detailValue: JSONValue = detail.flatMap { try? JSONParser.parse($0) } ?? .null
        let object: JSONValue = [
            "seq": .int(seq), "time": .string(time), "timeMicros": .int(timeMicros), "kind": .string(kind),
            "uid": .int(uid), "user": .string(user), "pid": .int(Int64(pid)), "sessionId": .int(sessionId),
            "method": .string(method), "outcome": .string(outcome),
            "errorKind": errorKind.map(JSONValue.string) ?? .null, "durationMicros": .int(durationMicros),
            "paramsDigest": .string(paramsDigest), "detail": detailValue, "prevHash": .string(prevHash),
        ]
        return JSONWriter.bytes(object)
    }

    var computedHash: String { SHA256.hash(data: canonicalBytes).hexString }

    var wire: AuditEntry {
        AuditEntry(seq: seq, time: time, kind: kind, uid: uid, user: user, pid: pid, sessionId: sessionId,
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
    SHA256.hash(data: JSONWriter.bytes(params ?? .null)).hexString
}
