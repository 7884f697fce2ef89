import Foundation
import Shared
import Synchronization

/// Removes every secret value from text before it reaches a log, an audit entry, a model
/// transcript or tool output.
///
/// A value is looked for as written and in the forms it takes on its way through HTTP and JSON:
/// base64 (standard and URL-safe, at each of the three byte alignments it can have inside a longer
/// encoded string, such as `Basic user:secret`), percent-encoding, and JSON string escaping.
/// Every form is replaced by `[REDACTED:NAME]`.
final class Redactor: Sendable {
    /// The daemon's one redactor: log handlers are created before the secret store exists, so they
    /// find it here rather than being handed it.
    static let shared = Redactor()

    private struct Pattern: Sendable {
        var text: String
        var replacement: String
    }

    private let patterns = Mutex<[Pattern]>([])

    /// Replaces the set of values to hide (name → value). Called at start-up and after every change.
    func update(_ secrets: [(name: String, value: String)]) {
        var built: [Pattern] = []
        for (name, value) in secrets {
            for form in Self.forms(of: value) where form.utf8.count >= 6 {
                built.append(Pattern(text: form, replacement: "[REDACTED:\(name)]"))
            }
        }
        // Longest first, so a form is not left half-replaced by a shorter one it contains.
        built.sort { $0.text.utf8.count > $1.text.utf8.count }
        var seen = Set<String>()
        built = built.filter { seen.insert($0.text).inserted }
        patterns.withLock { $0 = built }
    }

    var isEmpty: Bool { patterns.withLock { $0.isEmpty } }

    /// The length in bytes of the longest end of `text` that is the beginning of some form: the
    /// part a stream must hold back, because the next chunk may complete a value.
    func pendingPrefixLength(_ text: String) -> Int {
        let current = patterns.withLock { $0 }
        let tail = Array(text.utf8.suffix(current.first?.text.utf8.count ?? 0))
        var longest = 0
        for pattern in current {
            let bytes = Array(pattern.text.utf8)
            var k = min(bytes.count - 1, tail.count)
            while k > longest {
                if tail[(tail.count - k)...].elementsEqual(bytes[..<k]) {
                    longest = k
                    break
                }
                k -= 1
            }
        }
        return longest
    }

    func redact(_ text: String) -> String {
        let current = patterns.withLock { $0 }
        guard !current.isEmpty else { return text }
        var result = text
        for pattern in current where result.contains(pattern.text) {
            result = result.replacingOccurrences(of: pattern.text, with: pattern.replacement)
        }
        return result
    }

    /// Redacts every string (keys included) inside a JSON value.
    func redact(_ value: JSONValue) -> JSONValue {
        guard !isEmpty else { return value }
        switch value {
        case .string(let s): return .string(redact(s))
        case .array(let items): return .array(items.map { redact($0) })
        case .object(let members):
            var out: [String: JSONValue] = [:]
            for (key, member) in members { out[redact(key)] = redact(member) }
            return .object(out)
        default: return value
        }
    }

    // MARK: Forms of a value

    static func forms(of value: String) -> [String] {
        let bytes = Array(value.utf8)
        var forms: Set<String> = [value]
        for alphabet in [Base64Alphabet.standard, .urlSafe] {
            for alignment in 0..<3 {
                if let core = alignedBase64Core(bytes, alignment: alignment, alphabet: alphabet) { forms.insert(core) }
            }
        }
        forms.insert(percentEncoded(bytes, spaceAsPlus: false))
        forms.insert(percentEncoded(bytes, spaceAsPlus: true))
        forms.insert(percentEncoded(bytes, spaceAsPlus: false, lowercase: true))
        let escaped = JSONWriter.string(.string(value))
        let jsonForm = String(escaped.dropFirst().dropLast())
        forms.insert(jsonForm)
        // Some encoders (PHP, older Java libraries) also escape the solidus.
        forms.insert(jsonForm.replacingOccurrences(of: "/", with: "\\/"))
        return Array(forms)
    }

    enum Base64Alphabet {
        case standard, urlSafe
    }

    /// The base64 characters that depend only on the value's bytes when the value starts
    /// `alignment` bytes into a longer encoded string. Characters mixing in bits of the
    /// neighbouring bytes are left out, so the core matches wherever the value sits.
    static func alignedBase64Core(_ bytes: [UInt8], alignment: Int, alphabet: Base64Alphabet) -> String? {
        let padded = [UInt8](repeating: 0, count: alignment) + bytes
        var encoded = Data(padded).base64EncodedString()
        if alphabet == .urlSafe {
            encoded = encoded.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        }
        let characters = Array(encoded)
        let first = (8 * alignment + 5) / 6  // first char whose 6 bits all lie in the value
        let end = (8 * (alignment + bytes.count)) / 6  // one past the last such char
        guard end > first else { return nil }
        return String(characters[first..<end])
    }

    static func percentEncoded(_ bytes: [UInt8], spaceAsPlus: Bool, lowercase: Bool = false) -> String {
        let hex = Array(lowercase ? "0123456789abcdef" : "0123456789ABCDEF")
        var out = ""
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            case UInt8(ascii: " ") where spaceAsPlus:
                out += "+"
            default:
                out += "%" + String(hex[Int(byte >> 4)]) + String(hex[Int(byte & 0xF)])
            }
        }
        return out
    }
}

/// Redacts a stream of text chunks (model deltas). Text passes on at once unless its end could
/// be the beginning of a secret; only that end is held back until the next chunk decides.
struct StreamRedactor {
    let redactor: Redactor
    private var pending = ""

    init(redactor: Redactor) { self.redactor = redactor }

    /// Takes the next chunk; returns the text that is now safe to pass on (maybe empty).
    mutating func feed(_ chunk: String) -> String {
        guard !redactor.isEmpty else { return chunk }
        pending = redactor.redact(pending + chunk)
        let hold = redactor.pendingPrefixLength(pending)
        let utf8 = pending.utf8
        // Cut on a character boundary at or before count - hold.
        var cut = utf8.index(utf8.startIndex, offsetBy: utf8.count - hold)
        while cut > utf8.startIndex, cut.samePosition(in: pending) == nil {
            cut = utf8.index(before: cut)
        }
        let ready = String(pending[..<cut])
        pending = String(pending[cut...])
        return ready
    }

    /// Everything still held back, redacted; call once at the end of the stream.
    mutating func finish() -> String {
        let rest = redactor.redact(pending)
        pending = ""
        return rest
    }
}
