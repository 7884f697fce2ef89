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
        let fraction = Int(micros % 1_000_000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        // Hand-rolled: this runs for every audit entry, and String(format:) is slow on Linux.
        var out = [UInt8](repeating: 0, count: 27)
        func put(_ value: Int, at index: Int, digits: Int) {
            var v = value
            for i in stride(from: index + digits - 1, through: index, by: -1) {
                out[i] = UInt8(ascii: "0") + UInt8(v % 10)
                v /= 10
            }
        }
        put(Int(parts.tm_year) + 1900, at: 0, digits: 4)
        out[4] = UInt8(ascii: "-")
        put(Int(parts.tm_mon) + 1, at: 5, digits: 2)
        out[7] = UInt8(ascii: "-")
        put(Int(parts.tm_mday), at: 8, digits: 2)
        out[10] = UInt8(ascii: "T")
        put(Int(parts.tm_hour), at: 11, digits: 2)
        out[13] = UInt8(ascii: ":")
        put(Int(parts.tm_min), at: 14, digits: 2)
        out[16] = UInt8(ascii: ":")
        put(Int(parts.tm_sec), at: 17, digits: 2)
        out[19] = UInt8(ascii: ".")
        put(fraction, at: 20, digits: 6)
        out[26] = UInt8(ascii: "Z")
        return String(decoding: out, as: UTF8.self)
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
