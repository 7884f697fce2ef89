import Foundation
import Shared
import Testing

/// What a malformed or edge-case line must get back.
struct WireCase: CustomTestStringConvertible, Sendable {
    enum Expect: Sendable {
        /// Exactly this JSON text (compared as parsed JSON).
        case exact(String)
        /// A success result with this id.
        case result(id: JSONValue)
        /// A batch answer: per element, the id and either nil (result) or the error code.
        case batch([(id: JSONValue, code: Int64?)])
        /// No reply at all.
        case nothing
    }

    var name: String
    var bytes: [UInt8]
    var expect: Expect
    var testDescription: String { name }

    init(_ name: String, _ text: String, _ expect: Expect) {
        self.name = name
        self.bytes = Array(text.utf8)
        self.expect = expect
    }

    init(_ name: String, bytes: [UInt8], _ expect: Expect) {
        self.name = name
        self.bytes = bytes
        self.expect = expect
    }
}

func invalidRequest(_ id: String, _ message: String) -> WireCase.Expect {
    .exact(
        #"{"jsonrpc":"2.0","id":\#(id),"error":{"code":-32600,"message":"Invalid Request: \#(message)","data":{"kind":"invalidRequest"}}}"#
    )
}

func parseError(_ message: String) -> WireCase.Expect {
    .exact(
        #"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error: \#(message)","data":{"kind":"parseError"}}}"#
    )
}

func invalidParams(_ id: String, _ message: String, field: String) -> WireCase.Expect {
    .exact(
        #"{"jsonrpc":"2.0","id":\#(id),"error":{"code":-32602,"message":"Invalid params: \#(message)","data":{"kind":"invalidParams","field":"\#(field)"}}}"#
    )
}

let whoami = #""method":"session.whoami""#

let wireCases: [WireCase] = [
    WireCase("invalid JSON", "{bad", parseError("expected a string key at byte 1")),
    WireCase(
        "invalid UTF-8", bytes: Array(#"{"jsonrpc":"2.0","id":1,"method":""#.utf8) + [0xFF, 0xFE] + Array(#""}"#.utf8),
        parseError("invalid UTF-8 in string at byte 34")),
    WireCase("empty line", "", .nothing),
    WireCase("blank line of spaces and tabs", " \t  ", .nothing),
    WireCase("scalar number", "42", invalidRequest("null", "a request must be a JSON object")),
    WireCase("scalar string", #""session.whoami""#, invalidRequest("null", "a request must be a JSON object")),
    WireCase(
        "wrong jsonrpc version", #"{"jsonrpc":"1.0","id":7,\#(whoami)}"#,
        invalidRequest("7", #"\"jsonrpc\" must be exactly \"2.0\""#)),
    WireCase("jsonrpc missing", #"{"id":8,\#(whoami)}"#, invalidRequest("8", #"\"jsonrpc\" must be exactly \"2.0\""#)),
    WireCase("method missing", #"{"jsonrpc":"2.0","id":9}"#, invalidRequest("9", #"\"method\" must be a string"#)),
    WireCase(
        "method not a string", #"{"jsonrpc":"2.0","id":10,"method":1}"#,
        invalidRequest("10", #"\"method\" must be a string"#)),
    WireCase(
        "id is an object", #"{"jsonrpc":"2.0","id":{},\#(whoami)}"#,
        invalidRequest("null", #"\"id\" must be a string, a number or null"#)),
    WireCase(
        "params is a scalar", #"{"jsonrpc":"2.0","id":12,\#(whoami),"params":3}"#,
        invalidRequest("12", #"\"params\" must be an object or an array"#)),
    WireCase(
        "params is null", #"{"jsonrpc":"2.0","id":13,\#(whoami),"params":null}"#,
        invalidRequest("13", #"\"params\" must be an object or an array"#)),
    WireCase(
        "unknown member", #"{"jsonrpc":"2.0","id":14,\#(whoami),"param":{}}"#,
        invalidRequest("14", #"unknown member \"param\""#)),
    WireCase("empty batch", "[]", invalidRequest("null", "empty batch")),
    WireCase("batch of scalars", "[1,2]", .batch([(.null, -32600), (.null, -32600)])),
    WireCase(
        "mixed batch",
        #"[{"jsonrpc":"2.0","id":"a",\#(whoami)},{"jsonrpc":"2.0",\#(whoami)},1,{"jsonrpc":"2.0","id":"b","method":"no.such"}]"#,
        .batch([("a", nil), (.null, -32600), ("b", -32601)])),
    WireCase(
        "batch of notifications only", #"[{"jsonrpc":"2.0",\#(whoami)},{"jsonrpc":"2.0","method":"no.such"}]"#, .nothing
    ),
    WireCase("notification to an unknown method", #"{"jsonrpc":"2.0","method":"no.such"}"#, .nothing),
    WireCase(
        "notification with bad params", #"{"jsonrpc":"2.0","method":"audit.query","params":{"limit":"x"}}"#, .nothing),
    WireCase(
        "unknown method", #"{"jsonrpc":"2.0","id":15,"method":"no.such"}"#,
        .exact(
            #"{"jsonrpc":"2.0","id":15,"error":{"code":-32601,"message":"Method not found: no.such","data":{"kind":"methodNotFound"}}}"#
        )),
    WireCase(
        "wrong param type", #"{"jsonrpc":"2.0","id":16,"method":"audit.query","params":{"limit":"10"}}"#,
        invalidParams("16", "params.limit must be an integer, not string", field: "params.limit")),
    WireCase(
        "param out of range", #"{"jsonrpc":"2.0","id":17,"method":"audit.query","params":{"limit":5000}}"#,
        invalidParams("17", "params.limit must be at most 1000", field: "params.limit")),
    WireCase(
        "unknown param", #"{"jsonrpc":"2.0","id":18,"method":"audit.query","params":{"bogus":1}}"#,
        invalidParams("18", "unknown field params.bogus", field: "params.bogus")),
    WireCase(
        "missing required param", #"{"jsonrpc":"2.0","id":19,"method":"role.define","params":{"name":"x"}}"#,
        invalidParams("19", "missing required field params.permissions", field: "params.permissions")),
    WireCase(
        "bad nested param",
        #"{"jsonrpc":"2.0","id":20,"method":"role.define","params":{"name":"x","permissions":["a",2]}}"#,
        invalidParams("20", "params.permissions[1] must be a string, not integer", field: "params.permissions[1]")),
    WireCase(
        "positional params", #"{"jsonrpc":"2.0","id":21,"method":"audit.query","params":[10]}"#,
        invalidParams("21", "params must be an object (by-name parameters)", field: "params")),
    WireCase(
        "bad timestamp", #"{"jsonrpc":"2.0","id":22,"method":"audit.query","params":{"since":"yesterday"}}"#,
        invalidParams("22", "params.since must be a valid date-time", field: "params.since")),
    WireCase("null id", #"{"jsonrpc":"2.0","id":null,\#(whoami)}"#, .result(id: .null)),
    WireCase("string id", #"{"jsonrpc":"2.0","id":"req-1",\#(whoami)}"#, .result(id: "req-1")),
    WireCase(
        "large integer id kept exact", #"{"jsonrpc":"2.0","id":9007199254740993,\#(whoami)}"#,
        .result(id: .int(9_007_199_254_740_993))),
    WireCase("fractional id", #"{"jsonrpc":"2.0","id":1.5,\#(whoami)}"#, .result(id: .double(1.5))),
    WireCase("CRLF line ending", #"{"jsonrpc":"2.0","id":23,\#(whoami)}"# + "\r", .result(id: 23)),
    WireCase("empty params object", #"{"jsonrpc":"2.0","id":24,\#(whoami),"params":{}}"#, .result(id: 24)),
    WireCase(
        "line over the limit",
        #"{"jsonrpc":"2.0","id":25,"method":"session.whoami","params":{"pad":""# + String(repeating: "x", count: 3000)
            + #""}}"#,
        invalidRequest("null", "request line longer than 2048 bytes; it was discarded")),
    WireCase(
        "deeply nested JSON", String(repeating: "[", count: 1000),
        parseError("nesting deeper than 128 levels at byte 128")),
    WireCase(
        "duplicate keys", #"{"jsonrpc":"2.0","id":26,"id":27,\#(whoami)}"#,
        parseError(#"duplicate key \"id\" at byte 32"#)),
    WireCase(
        "trailing garbage", #"{"jsonrpc":"2.0","id":28,\#(whoami)} x"#,
        parseError("unexpected data after the JSON value at byte 52")),
    WireCase(
        "lone surrogate", #"{"jsonrpc":"2.0","id":29,"method":"\ud800"}"#,
        parseError("lone surrogate in string at byte 41")),
    WireCase(
        "batch larger than the in-flight limit",
        "[" + Array(repeating: #"{"jsonrpc":"2.0","id":1,\#(whoami)}"#, count: 30).joined(separator: ",") + "]",
        .exact(
            #"{"jsonrpc":"2.0","id":null,"error":{"code":-32004,"message":"a batch of 30 requests with those in flight exceeds the limit of 16 on this connection","data":{"kind":"rateLimited"}}}"#
        )),
    WireCase(
        "control character in string", "{\"jsonrpc\":\"2.0\",\"id\":30,\"method\":\"a\u{01}\"}",
        parseError("control character in string at byte 36")),
]

@Suite("JSON-RPC wire protocol against the real daemon", .serialized, .timeLimit(.minutes(2)))
struct ProtocolTests {
    static let shared = Result {
        try DaemonProcess(config: DaemonProcess.config(extra: "maxLineBytes = 2048\nmaxInFlightPerConnection = 16"))
    }
    var daemon: DaemonProcess { get throws { try Self.shared.get() } }

    @Test("malformed and edge inputs get exactly the specified answer", arguments: wireCases)
    func edgeCase(_ wireCase: WireCase) throws {
        let client = try daemon.client()
        defer { client.close() }
        try client.sendRaw(wireCase.bytes + [0x0A])
        // A sentinel call after the case: for "no reply" cases it must be the only answer.
        try client.sendLine(#"{"jsonrpc":"2.0","id":"sentinel","method":"session.whoami"}"#)
        var answers: [JSONValue] = []
        let expected = if case .nothing = wireCase.expect { 1 } else { 2 }
        while answers.count < expected {
            guard let answer = try client.readJSON() else {
                Issue.record("connection closed")
                return
            }
            answers.append(answer)
        }
        let sentinel = answers.firstIndex { $0["id"] == "sentinel" }
        #expect(sentinel != nil, "the daemon must keep serving after \(wireCase.name)")
        if let sentinel { answers.remove(at: sentinel) }
        switch wireCase.expect {
        case .nothing:
            #expect(answers.isEmpty)
        case .exact(let text):
            #expect(answers.first == (try json(text)))
        case .result(let id):
            #expect(answers.first?["id"] == id)
            #expect(answers.first?["result"]?["uid"] != nil)
        case .batch(let elements):
            let array = answers.first?.arrayValue ?? []
            #expect(array.count == elements.count)
            for (answer, element) in zip(array, elements) {
                #expect(answer["id"] == element.id)
                #expect(answer["jsonrpc"] == "2.0")
                if let code = element.code {
                    #expect(answer["error"]?["code"] == .int(code))
                } else {
                    #expect(answer["result"] != nil)
                }
            }
        }
    }

    @Test("the daemon still serves normally after the whole table")
    func stillServing() throws {
        let client = try daemon.client()
        let status = try client.call(SystemStatus.self)
        #expect(status.version == LaloVersion.current)
        #expect(try daemon.process.isRunning)
        let verify = try client.call(AuditVerify.self)
        #expect(verify.ok)
    }

    @Test("pipelined requests on one connection are all answered, each once")
    func pipelining() throws {
        let daemon = try DaemonProcess(config: DaemonProcess.config(extra: "maxInFlightPerConnection = 256"))
        let client = try daemon.client()
        try client.sendRaw(pipelinedWhoami(count: 200))
        var seen = Set<Int64>()
        for _ in 0..<200 {
            let answer = try #require(try client.readJSON())
            let id = try #require(answer["id"]?.intValue)
            #expect(answer["result"] != nil)
            #expect(seen.insert(id).inserted)
        }
        #expect(seen == Set(0..<200))
    }

    @Test("rpc.discover documents every method with schemas generated from the catalogue")
    func discover() throws {
        let client = try daemon.client()
        let document = try client.call(RPCDiscover.self)
        #expect(document["openrpc"]?.stringValue?.hasPrefix("1.3") == true)
        let methods = document["methods"]?.arrayValue ?? []
        #expect(methods.compactMap { $0["name"]?.stringValue } == MethodCatalogue.all.map(\.name))
        for method in methods {
            #expect(method["x-permission"]?.stringValue != nil)
            #expect(method["result"]?["schema"] != nil)
            #expect(method["paramStructure"] == "by-name")
        }
        let query = try #require(methods.first { $0["name"] == "audit.query" })
        let limit = try #require(query["params"]?.arrayValue?.first { $0["name"] == "limit" })
        #expect(limit["schema"]?["maximum"] == 1000)
    }
}
