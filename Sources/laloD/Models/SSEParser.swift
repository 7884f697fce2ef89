/// Incremental parser for `text/event-stream` (the WHATWG Server-Sent Events format): feed it
/// bytes as they arrive, get whole events back. Lines end in LF, CR LF or CR; `data:` lines of one
/// event are joined with LF; lines starting with `:` are comments; a blank line ends an event.
struct SSEParser {
    struct Event: Equatable, Sendable {
        var name: String?
        var data: String
    }

    private var buffer: [UInt8] = []
    private var name: String?
    private var data: [String] = []
    private var sawField = false
    private var lastWasCR = false

    mutating func feed(_ bytes: some Collection<UInt8>) -> [Event] {
        var events: [Event] = []
        for byte in bytes {
            if lastWasCR {
                lastWasCR = false
                if byte == UInt8(ascii: "\n") { continue }
            }
            if byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\r") {
                lastWasCR = byte == UInt8(ascii: "\r")
                if let event = line(buffer) { events.append(event) }
                buffer.removeAll(keepingCapacity: true)
            } else {
                buffer.append(byte)
            }
        }
        return events
    }

    /// True when bytes of an unfinished line or event are pending (a stream that ends here was cut).
    var hasPartialEvent: Bool { !buffer.isEmpty || sawField }

    private mutating func line(_ bytes: [UInt8]) -> Event? {
        if bytes.isEmpty {
            defer {
                name = nil
                data = []
                sawField = false
            }
            guard sawField, !data.isEmpty else { return nil }
            return Event(name: name, data: data.joined(separator: "\n"))
        }
        if bytes.first == UInt8(ascii: ":") { return nil }
        let text = String(decoding: bytes, as: UTF8.self)
        let field: Substring
        var value: Substring
        if let colon = text.firstIndex(of: ":") {
            field = text[..<colon]
            value = text[text.index(after: colon)...]
            if value.first == " " { value = value.dropFirst() }
        } else {
            field = Substring(text)
            value = ""
        }
        switch field {
        case "data":
            data.append(String(value))
            sawField = true
        case "event":
            name = String(value)
            sawField = true
        default: break  // id, retry and unknown fields do not matter here
        }
        return nil
    }
}
