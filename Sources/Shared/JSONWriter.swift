import Foundation

/// Serialises ``JSONValue`` deterministically: object keys sorted by their UTF-8 bytes, no
/// insignificant whitespace, integers exact.
///
/// Deterministic output is what makes the audit chain's hashes reproducible (the "canonical entry"),
/// and it keeps responses stable for tests and for people reading them.
public enum JSONWriter {
    public static func write(_ value: JSONValue, into output: inout [UInt8]) {
        switch value {
        case .null: output.append(contentsOf: "null".utf8)
        case .bool(let b): output.append(contentsOf: (b ? "true" : "false").utf8)
        case .int(let i): output.append(contentsOf: String(i).utf8)
        case .double(let d):
            if d.isFinite {
                if d.rounded() == d, abs(d) < 1e15 {
                    output.append(contentsOf: String(Int64(d)).utf8)
                } else {
                    output.append(contentsOf: "\(d)".utf8)
                }
            } else {
                output.append(contentsOf: "null".utf8)
            }
        case .string(let s): writeString(s, into: &output)
        case .array(let a):
            output.append(UInt8(ascii: "["))
            for (i, element) in a.enumerated() {
                if i > 0 { output.append(UInt8(ascii: ",")) }
                write(element, into: &output)
            }
            output.append(UInt8(ascii: "]"))
        case .object(let o):
            output.append(UInt8(ascii: "{"))
            let keys = o.keys.sorted(by: utf8Precedes)
            for (i, key) in keys.enumerated() {
                if i > 0 { output.append(UInt8(ascii: ",")) }
                writeString(key, into: &output)
                output.append(UInt8(ascii: ":"))
                write(o[key]!, into: &output)
            }
            output.append(UInt8(ascii: "}"))
        }
    }

    public static func bytes(_ value: JSONValue) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(128)
        write(value, into: &output)
        return output
    }

    public static func string(_ value: JSONValue) -> String {
        String(decoding: bytes(value), as: UTF8.self)
    }

    /// Byte-wise order of the UTF-8 forms. Not `String.<`, which compares canonically equivalent
    /// strings as equal and would leave their order (and so a hash) to dictionary iteration.
    static func utf8Precedes(_ a: String, _ b: String) -> Bool {
        var a = a
        var b = b
        return a.withUTF8 { pa in
            b.withUTF8 { pb in
                let common = min(pa.count, pb.count)
                if common > 0, let x = pa.baseAddress, let y = pb.baseAddress {
                    let c = memcmp(x, y, common)
                    if c != 0 { return c < 0 }
                }
                return pa.count < pb.count
            }
        }
    }

    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    static func writeString(_ s: String, into output: inout [UInt8]) {
        output.append(UInt8(ascii: "\""))
        for byte in s.utf8 {
            switch byte {
            case UInt8(ascii: "\""): output.append(contentsOf: [0x5C, 0x22])
            case UInt8(ascii: "\\"): output.append(contentsOf: [0x5C, 0x5C])
            case 0x0A: output.append(contentsOf: [0x5C, UInt8(ascii: "n")])
            case 0x0D: output.append(contentsOf: [0x5C, UInt8(ascii: "r")])
            case 0x09: output.append(contentsOf: [0x5C, UInt8(ascii: "t")])
            case 0..<0x20, 0x7F:
                output.append(contentsOf: [
                    0x5C, UInt8(ascii: "u"), 0x30, 0x30, hex[Int(byte >> 4)], hex[Int(byte & 0xF)],
                ])
            default: output.append(byte)
            }
        }
        output.append(UInt8(ascii: "\""))
    }
}

extension JSONWriter {
    /// Indented output for people (`laloctl -o json` on a terminal); keys sorted as in ``write``.
    public static func pretty(_ value: JSONValue, indent: Int = 0) -> String {
        let pad = String(repeating: "  ", count: indent + 1)
        let close = String(repeating: "  ", count: indent)
        switch value {
        case .array(let a) where !a.isEmpty:
            return "[\n" + a.map { pad + pretty($0, indent: indent + 1) }.joined(separator: ",\n") + "\n\(close)]"
        case .object(let o) where !o.isEmpty:
            let keys = o.keys.sorted(by: utf8Precedes)
            return "{\n"
                + keys.map { key in
                    var k: [UInt8] = []
                    writeString(key, into: &k)
                    return pad + String(decoding: k, as: UTF8.self) + ": " + pretty(o[key]!, indent: indent + 1)
                }.joined(separator: ",\n") + "\n\(close)}"
        default:
            return string(value)
        }
    }
}
