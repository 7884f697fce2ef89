import Foundation

/// RFC 3339 UTC timestamps, the only time format on the wire (`2026-11-24T19:42:05.123456Z`).
public enum Timestamp {
    /// Formats with microsecond precision so audit entries of one group commit stay distinguishable.
    public static func format(_ date: Date) -> String {
        let micros = Int64((date.timeIntervalSince1970 * 1_000_000).rounded())
        return format(microsecondsSinceEpoch: micros)
    }

    public static func format(microsecondsSinceEpoch micros: Int64) -> String {
        var seconds = time_t(micros / 1_000_000)
        let fraction = micros % 1_000_000
        var parts = tm()
        gmtime_r(&seconds, &parts)
        return String(
            format: "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1,
            Int(parts.tm_mday), Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec), Int(fraction))
    }

    public static func now() -> String { format(Date()) }

    public static func nowMicroseconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1_000_000 + Int64(ts.tv_nsec) / 1000
    }

    /// Parses RFC 3339 with or without fractional seconds; offsets other than Z are accepted and
    /// converted to UTC.
    public static func parse(_ text: String) -> Date? {
        let withFraction = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
        if let date = try? withFraction.parse(text) { return date }
        return try? Date.ISO8601FormatStyle().parse(text)
    }

    public static func parseMicroseconds(_ text: String) -> Int64? {
        parse(text).map { Int64(($0.timeIntervalSince1970 * 1_000_000).rounded()) }
    }

    public static let isValid: @Sendable (String) -> Bool = { parse($0) != nil }
}
