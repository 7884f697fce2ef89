import CSystemd
import Foundation

/// The only type that calls libsystemd: readiness and status notifications, the watchdog,
/// socket activation and journal writes.
///
/// Outside systemd every call is a cheap no-op (libsystemd checks `$NOTIFY_SOCKET` and
/// `$LISTEN_FDS` itself), so the daemon code calls these unconditionally.
enum Systemd {
    /// Sends a state string (`READY=1`, `STATUS=…`, `STOPPING=1`, `WATCHDOG=1`).
    @discardableResult
    static func notify(_ state: String) -> Bool {
        sd_notify(0, state) > 0
    }

    /// Descriptors passed by socket activation (starting at fd 3), verified to be listening Unix
    /// stream sockets. Unsets `$LISTEN_FDS` so children do not inherit them.
    static func listenDescriptors() -> [Int32] {
        let count = sd_listen_fds(1)
        guard count > 0 else { return [] }
        return (0..<count).map { SD_LISTEN_FDS_START + $0 }.filter { fd in
            sd_is_socket_unix(fd, Int32(SOCK_STREAM.rawValue), 1, nil, 0) > 0
        }
    }

    /// The watchdog interval systemd expects pings within, if `WatchdogSec=` is set for us.
    static func watchdogInterval() -> Duration? {
        var usec: UInt64 = 0
        guard sd_watchdog_enabled(0, &usec) > 0, usec > 0 else { return nil }
        return .microseconds(Int64(usec))
    }

    /// Whether stderr goes to the journal (systemd sets `$JOURNAL_STREAM` for services).
    static var isJournalStream: Bool {
        ProcessInfo.processInfo.environment["JOURNAL_STREAM"].map { !$0.isEmpty } ?? false
    }

    /// Whether we run as a systemd unit.
    static var underSystemd: Bool {
        (ProcessInfo.processInfo.environment["INVOCATION_ID"].map { !$0.isEmpty } ?? false) || isJournalStream
    }

    /// Writes one structured journal entry from `FIELD=value` strings (sd_journal_sendv).
    static func journalSend(_ fields: [String]) {
        var storage = fields.map { Array($0.utf8) }
        storage.withUnsafeMutableBufferPointer { buffers in
            var vectors = buffers.map { _ in iovec() }
            for i in buffers.indices {
                buffers[i].withUnsafeMutableBytes { raw in
                    vectors[i] = iovec(iov_base: raw.baseAddress, iov_len: raw.count)
                }
            }
            // The iovecs point into `storage`, which stays alive for the whole call.
            _ = sd_journal_sendv(&vectors, Int32(vectors.count))
        }
    }
}
