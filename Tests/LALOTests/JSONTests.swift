import Foundation
import Shared
import Testing

@Suite("JSON parser and writer")
struct JSONTests {
    @Test(
        "round trips keep integers exact and keys sorted",
        arguments: [
            (
                #"{"b":1,"a":[true,false,null,"x\n\"y"],"c":-9223372036854775808}"#,
                #"{"a":[true,false,null,"x\n\"y"],"b":1,"c":-9223372036854775808}"#
            ),
            (#"[1.5,2e3,-0.25,"é😀"]"#, #"[1.5,2000,-0.25,"é😀"]"#),
            (#""\u00e9\ud83d\ude00""#, #""é😀""#),
            (" {} ", "{}"),
        ])
    func roundTrip(input: String, output: String) throws {
        #expect(JSONWriter.string(try JSONParser.parse(input)) == output)
    }

    @Test(
        "invalid documents are refused",
        arguments: [
            "", "tru", "01", "1.", "-", "{\"a\"}", "{\"a\":1,}", "[1,]", "\"\\x\"", "\"abc", "[1 2]", "{1:2}", "NaN",
            "1e999",
        ])
    func invalid(_ input: String) {
        #expect(throws: JSONParser.Failure.self) { try JSONParser.parse(input) }
    }

    @Test(
        "schema validation names the failing field",
        arguments: [
            (#"{"limit":0}"#, "params.limit"),
            (#"{"outcome":"maybe"}"#, "params.outcome"),
            (#"{"since":"2026-13-45"}"#, "params.since"),
            (#"{"cursor":1}"#, "params.cursor"),
            (#"{"extra":true}"#, "params.extra"),
        ])
    func schema(params: String, field: String) throws {
        let error = #expect(throws: RPCError.self) {
            try AuditQuery.paramsSchema.validate(try JSONParser.parse(params))
        }
        #expect(error?.field == field)
        #expect(error?.kind == .invalidParams)
    }
}

@Suite("JSONValueEncoder matches JSONEncoder")
struct JSONValueEncoderTests {
    struct Sample: Codable, Equatable {
        var name: String
        var count: Int64
        var ratio: Double
        var missing: String?
        var tags: [String]
        var nested: [Inner]
        var map: [String: Int]
        struct Inner: Codable, Equatable {
            var flag: Bool
            var value: JSONValue?
        }
    }

    @Test("results encode to the same JSON as through JSONEncoder, nil optionals omitted")
    func sameAsFoundation() throws {
        let sample = Sample(
            name: "a\"b", count: -5, ratio: 0.5, missing: nil, tags: ["x", "y"],
            nested: [.init(flag: true, value: ["k": [1, 2]]), .init(flag: false, value: nil)],
            map: ["one": 1])
        let direct = try JSONValueEncoder().encode(sample)
        let viaFoundation = try JSONParser.parse(try JSONEncoder().encode(sample))
        #expect(direct == viaFoundation)
        #expect(direct["missing"] == nil)
        let status = PrincipalInfo(
            uid: 1, gid: 2, pid: 3, user: "u", groups: [], roles: ["viewer"], permissions: [], sessionId: 9)
        #expect(try JSONValueEncoder().encode(status) == (try JSONParser.parse(try JSONEncoder().encode(status))))
    }

    @Test("unsigned values beyond Int64 do not trap", arguments: [UInt64(5), UInt64(Int64.max), UInt64.max])
    func unsignedRange(value: UInt64) throws {
        let encoded = try JSONValueEncoder().encode(["v": value])
        if let exact = Int64(exactly: value) {
            #expect(encoded["v"] == .int(exact))
        } else {
            #expect(encoded["v"] == .double(Double(value)))
        }
    }
}
