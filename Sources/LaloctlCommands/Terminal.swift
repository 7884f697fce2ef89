import Foundation
import Shared

/// Output helpers: tables, JSON, colour only when stdout is a terminal.
enum Terminal {
    static let colour: Bool = isatty(STDOUT_FILENO) == 1 && ProcessInfo.processInfo.environment["NO_COLOR"] == nil
    static let errorColour: Bool = isatty(STDERR_FILENO) == 1 && ProcessInfo.processInfo.environment["NO_COLOR"] == nil

    static func paint(_ text: String, _ code: String, enabled: Bool = colour) -> String {
        enabled ? "\u{1B}[\(code)m\(text)\u{1B}[0m" : text
    }

    static func good(_ text: String) -> String { paint(text, "32") }
    static func bad(_ text: String) -> String { paint(text, "31") }
    static func bold(_ text: String) -> String { paint(text, "1") }

    static func error(_ message: String) {
        FileHandle.standardError.write(Data("\(paint("laloctl:", "31", enabled: errorColour)) \(message)\n".utf8))
    }

    static func printJSON(_ value: JSONValue) {
        print(isatty(STDOUT_FILENO) == 1 ? JSONWriter.pretty(value) : JSONWriter.string(value))
    }

    /// Prints rows under headers, columns padded to their widest cell.
    static func table(_ headers: [String], _ rows: [[String]]) {
        var widths = headers.map(\.count)
        for row in rows {
            for (i, cell) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], cell.count) }
        }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { i, cell in
                i == cells.count - 1 ? cell : cell.padding(toLength: widths[i], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }
        print(bold(line(headers)))
        for row in rows { print(line(row)) }
    }

    /// Key/value pairs, one per line.
    static func fields(_ pairs: [(String, String)]) {
        let width = pairs.map(\.0.count).max() ?? 0
        for (key, value) in pairs {
            print("\(bold(key.padding(toLength: width, withPad: " ", startingAt: 0)))  \(value)")
        }
    }

    /// A typed value as the JSON output would write it ("-" when absent), so tables and `-o json`
    /// show the same numbers.
    static func text<T: Encodable>(_ value: T?) -> String {
        guard let value, let json = try? JSONValueEncoder().encode(value) else { return "-" }
        return text(json)
    }

    static func text(_ value: JSONValue?) -> String {
        switch value {
        case nil, .null?: return "-"
        case .string(let s)?: return s
        case .array(let a)?: return a.map { text($0) }.joined(separator: ",")
        case let other?: return JSONWriter.string(other)
        }
    }
}
