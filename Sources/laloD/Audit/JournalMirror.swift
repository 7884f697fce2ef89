import CSystemd
import Shared

/// Sends each committed audit entry to journald with structured `LALO_*` fields, so the trail
/// survives even if someone rewrites the database (the journal is a second, independent copy).
struct JournalMirror: Sendable {
    func send(_ record: AuditRecord) {
        var fields = [
            "MESSAGE=audit \(record.seq) \(record.kind) \(record.method) uid=\(record.uid) \(record.outcome)",
            "PRIORITY=\(record.outcome == "ok" ? 6 : 5)",
            "SYSLOG_IDENTIFIER=laloD",
            "LALO_AUDIT_SEQ=\(record.seq)",
            "LALO_AUDIT_KIND=\(record.kind)",
            "LALO_METHOD=\(record.method)",
            "LALO_UID=\(record.uid)",
            "LALO_USER=\(record.user)",
            "LALO_PID=\(record.pid)",
            "LALO_SESSION=\(record.sessionId)",
            "LALO_OUTCOME=\(record.outcome)",
            "LALO_DURATION_US=\(record.durationMicros)",
            "LALO_PARAMS_DIGEST=\(record.paramsDigest)",
            "LALO_HASH=\(record.hash)",
            "LALO_PREV_HASH=\(record.prevHash)",
        ]
        if let errorKind = record.errorKind { fields.append("LALO_ERROR_KIND=\(errorKind)") }
        Systemd.journalSend(fields)
    }
}
