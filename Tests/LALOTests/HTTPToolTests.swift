import Foundation
import Shared
import Testing

@testable import laloD

/// `http.request` through the registry against the scripted server: secret injection and its
/// redaction from what is stored, retries, the per-host rate limit, the size cap, schema checks.
@Suite("http.request tool")
struct HTTPToolTests {
    static let token = "tok-http-SECRET-0042"

    final class Fixture: @unchecked Sendable {
        let subsystems: Subsystems
        let registry: ToolRegistry
        let server: ScriptedServer

        init(_ exchanges: [JSONValue]) async throws {
            server = try ScriptedServer(exchanges)
            let s = try Subsystems("lalo-http")
            subsystems = s
            _ = try await s.secrets.set(name: "api-token", value: HTTPToolTests.token, description: nil, by: .daemon)
            registry = ToolRegistry(
                tools: [HTTPRequestTool(secrets: s.secrets)], store: s.store, audit: s.audit, redactor: s.redactor)
        }

        func call(_ arguments: JSONValue, key: String = UUID().uuidString) async throws -> ToolExecutionInfo {
            try await registry.execute(
                "http.request", arguments: arguments,
                context: ToolContext(
                    actor: AuditActor(uid: 1000, user: "alice", pid: 1, sessionId: 1), permissions: [.workflowRun],
                    workspace: nil, workflowId: "wf_http", step: 1, idempotencyKey: key))
        }

        func configure(_ settings: JSONValue) async throws {
            _ = try await registry.configure(
                ToolConfigure.Params(name: "http.request", settings: settings), by: .daemon)
        }
    }

    @Test func secretIsInjectedAndRedactedFromTheRecord() async throws {
        let f = try await Fixture([
            [
                "expect": [
                    "method": "GET", "path": "/items", "headers": ["authorization": .string("Bearer \(Self.token)")],
                ],
                "reply": Reply.json(["echo": .string("you sent \(Self.token)"), "n": 3]),
            ]
        ])
        let record = try await f.call(["url": .string(f.server.baseURL + "/items"), "auth": ["secret": "api-token"]])
        #expect(try f.server.remaining() == 0, "the server must have received the credential")
        #expect(record.status == "succeeded")
        #expect(record.result?["json"]?["echo"] == "you sent [REDACTED:api-token]")
        #expect(record.result?["json"]?["n"] == 3)
        #expect(!JSONWriter.string(try JSONValueEncoder().encode(record)).contains(Self.token))
    }

    @Test func retriesOn503AndBasicAuth() async throws {
        let basic = "Basic " + Data("bob:\(Self.token)".utf8).base64EncodedString()
        let f = try await Fixture([
            ["reply": Reply.error(503, "busy")],
            [
                "expect": ["method": "POST", "headers": ["authorization": .string(basic)], "json": ["q": 1]],
                "reply": Reply.json(["ok": true]),
            ],
        ])
        try await f.configure(["retryBaseMilliseconds": 10])
        let record = try await f.call([
            "url": .string(f.server.baseURL + "/q"), "json": ["q": 1],
            "auth": ["secret": "api-token", "scheme": "basic", "username": "bob"],
        ])
        #expect(record.result?["attempts"] == 2)
        #expect(record.result?["status"] == 200)
    }

    @Test func perHostRateLimitSizeCapAndSchema() async throws {
        let f = try await Fixture([
            ["reply": Reply.json(["n": 1]), "repeat": 2],
            ["reply": ["status": 200, "body": .string(String(repeating: "x", count: 5000))]],
            ["reply": Reply.json(["n": "not a number"])],
        ])
        try await f.configure(["rateLimitPerHostPerMinute": 2])
        let url = JSONValue.string(f.server.baseURL + "/n")
        _ = try await f.call(["url": url])
        _ = try await f.call(["url": url])
        await #expect(throws: ToolFailure.self) { try await f.call(["url": url]) }
        try await f.configure(["rateLimitPerHostPerMinute": 0, "maxResponseBytes": 1000])
        do {
            _ = try await f.call(["url": url])
            Issue.record("a response over the cap was accepted")
        } catch let failure as ToolFailure {
            #expect(failure.kind == .validationFailed)
            #expect(failure.message.contains("larger than 1000"))
        }
        do {
            _ = try await f.call([
                "url": url, "responseSchema": ["type": "object", "properties": ["n": ["type": "integer"]]],
            ])
            Issue.record("a response breaking its schema was accepted")
        } catch let failure as ToolFailure {
            #expect(failure.kind == .validationFailed)
            #expect(failure.message.contains("response.n"))
        }
    }

    @Test func badArgumentsNameTheField() async throws {
        let f = try await Fixture([])
        let cases: [(JSONValue, String)] = [
            (["url": "file:///etc/passwd"], "arguments.url"),
            (["url": "http://127.0.0.1:9/", "method": "TRACE"], "arguments.method"),
            (["url": "http://127.0.0.1:9/", "auth": ["secret": "missing-secret"]], "arguments.auth.secret"),
            (["url": "http://127.0.0.1:9/", "auth": ["secret": "bad name"]], "arguments.auth.secret"),
        ]
        for (arguments, field) in cases {
            do {
                _ = try await f.call(arguments)
                Issue.record("accepted \(arguments)")
            } catch let error as RPCError {
                #expect(error.field == field, "\(arguments): \(error)")
            } catch let failure as ToolFailure {
                #expect(failure.field == field, "\(arguments): \(failure)")
            }
        }
    }

    struct SchemaCase: Sendable {
        var value: JSONValue
        var schema: JSONValue
        var expected: String?
    }

    static let schemaCases: [SchemaCase] = [
        SchemaCase(value: ["a": 1], schema: ["type": "object", "required": ["a"]], expected: nil),
        SchemaCase(value: ["a": 1], schema: ["type": "object", "required": ["b"]], expected: "$.b: required"),
        SchemaCase(
            value: ["a": [1, "x"]], schema: ["properties": ["a": ["type": "array", "items": ["type": "integer"]]]],
            expected: "$.a[1]: expected integer"),
        SchemaCase(value: ["a": 5], schema: ["properties": ["a": ["maximum": 4]]], expected: "$.a: above 4.0"),
        SchemaCase(
            value: ["a": 1, "z": 2], schema: ["properties": ["a": [:]], "additionalProperties": false],
            expected: "$.z: not allowed"),
        SchemaCase(value: "red", schema: ["enum": ["green", "blue"]], expected: "$: not one of"),
        SchemaCase(value: 2.0, schema: ["type": "integer"], expected: nil),
    ]

    @Test(arguments: schemaCases)
    func schemaValidator(_ check: SchemaCase) {
        let problem = JSONSchemaValidator.firstProblem(check.value, schema: check.schema)
        if let expected = check.expected {
            #expect(problem?.hasPrefix(expected) == true, "\(String(describing: problem))")
        } else {
            #expect(problem == nil)
        }
    }
}
