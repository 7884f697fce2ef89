import Foundation
import Shared
import Testing

@testable import laloD

/// Models through the daemon: role routing, streaming over the socket, usage accounting, and the
/// embedded llama.cpp server with the real SmolLM2 model.
@Suite("Models through laloD", .serialized, .timeLimit(.minutes(10)))
struct ModelTests {
    @Test func rolesRouteToProvidersAndUsageIsRecorded() throws {
        let server = try ScriptedServer()
        let daemon = try DaemonProcess(
            config: DaemonProcess.config(
                extra: """
                    [providers.remote]
                    kind = "anthropic"
                    baseURL = "\(server.baseURL)/v1"
                    apiKey = "secret:anthropic"
                    maxRetries = 1
                    retryBaseMilliseconds = 10
                    [models.chat]
                    provider = "remote"
                    model = "claude-test"
                    maxTokens = 99
                    """))
        let client = try daemon.client()
        try client.call(SecretSet.self, SecretSet.Params(name: "anthropic", value: "ak-routing-test-key"))
        try server.load([
            [
                "expect": ["method": "GET", "path": "/v1/models", "headers": ["x-api-key": "ak-routing-test-key"]],
                "reply": Reply.json(["data": [["id": "claude-test"]]]),
            ],
            [
                "expect": [
                    "path": "/v1/messages", "json": ["model": "claude-test", "max_tokens": 99, "stream": true],
                ],
                "reply": Reply.sse(Reply.anthropicStream(text: ["Hi", " there", "!"])),
            ],
            ["reply": Reply.error(529, "overloaded")],
            ["reply": Reply.error(529, "overloaded")],
        ])
        let list = try client.call(ModelList.self)
        #expect(
            list.roles.first { $0.role == "chat" }
                == ModelList.RoleInfo(role: "chat", provider: "remote", model: "claude-test"))
        #expect(list.roles.first { $0.role == "planner" }?.provider == "local")
        let remote = list.providers.first { $0.name == "remote" }
        #expect(remote?.health == "ok")
        #expect(remote?.apiKey == "secret:anthropic")
        #expect(remote?.latencyMicros != nil)
        #expect(list.localModel.state == "disabled")

        var deltas: [String] = []
        let result = try client.call(
            ModelComplete.self, ModelComplete.Params(messages: [ChatMessage(role: "user", content: "hi")])
        ) { method, params in
            if method == "model.delta" { deltas.append(params["delta"]?.stringValue ?? "") }
        }
        #expect(deltas == ["Hi", " there", "!"])
        #expect(result.content == "Hi there!")
        #expect(result.provider == "remote")
        #expect(result.usage == TokenUsage(promptTokens: 21, completionTokens: 15))

        // 529 twice with one retry allowed: unavailable, retries reported.
        do {
            _ = try client.call(
                ModelComplete.self, ModelComplete.Params(messages: [ChatMessage(role: "user", content: "hi")]))
            Issue.record("expected unavailable")
        } catch let error as RPCError {
            #expect(error.kind == .unavailable)
            #expect(error.detail["retries"] == 1)
            #expect(error.detail["providerStatus"] == 529)
        }
        // A role on the disabled local model fails clearly.
        do {
            _ = try client.call(
                ModelComplete.self,
                ModelComplete.Params(role: "planner", messages: [ChatMessage(role: "user", content: "x")]))
            Issue.record("expected unavailable")
        } catch let error as RPCError {
            #expect(error.kind == .unavailable)
            #expect(error.message.contains("local model"))
        }

        let usage = try client.call(ModelUsage.self, ModelUsage.Params())
        #expect(usage.rows.count == 1)
        #expect(usage.rows.first?.calls == 2)  // the success and the failure
        #expect(usage.total == TokenUsage(promptTokens: 21, completionTokens: 15))
        let none = try client.call(ModelUsage.self, ModelUsage.Params(since: "2999-01-01"))
        #expect(none.rows.isEmpty)
        #expect(daemon.stop() == 0)
    }

    @Test func clientGoingAwayStopsTheProviderStream() throws {
        let server = try ScriptedServer()
        let daemon = try DaemonProcess(
            config: DaemonProcess.config(
                extra: """
                    [providers.slow]
                    baseURL = "\(server.baseURL)/v1"
                    [models.chat]
                    provider = "slow"
                    model = "gpt-test"
                    """))
        let pieces = (0..<40).map { "w\($0) " }
        try server.load([["reply": Reply.sse(Reply.openAIStream(pieces), delayMs: 100)]])
        let client = try daemon.client()
        try client.sendLine(
            #"{"jsonrpc":"2.0","id":1,"method":"model.complete","params":{"messages":[{"role":"user","content":"go"}]}}"#
        )
        for _ in 0..<2 {
            let line = try #require(try client.readJSON())
            #expect(line["method"] == "model.delta")
        }
        client.close()
        var log: JSONValue = .null
        for _ in 0..<60 {
            log = try server.requests().first ?? .null
            if log["clientDisconnected"] == .bool(true) { break }
            usleep(100_000)
        }
        #expect(log["clientDisconnected"] == .bool(true), "laloD kept the provider stream open for a client that left")
        #expect((log["eventsSent"]?.intValue ?? 999) < Int64(pieces.count))
        #expect(daemon.stop() == 0)
    }

    @Test func missingInstallationIsReportedAsFailed() throws {
        let process = try DaemonProcess(
            config: """
                [server]
                socketMode = "0666"
                [localModel]
                python = "/nonexistent/venv/bin/python"
                """)
        let client = try process.client()
        var local = try client.call(ModelList.self).localModel
        for _ in 0..<50 where local.state != "failed" {
            usleep(100_000)
            local = try client.call(ModelList.self).localModel
        }
        #expect(local.state == "failed")
        #expect(local.lastError?.contains("make local-model") == true, "\(local)")
        do {
            _ = try client.call(
                ModelComplete.self, ModelComplete.Params(messages: [ChatMessage(role: "user", content: "x")]))
            Issue.record("expected unavailable")
        } catch let error as RPCError {
            #expect(error.kind == .unavailable)
            #expect(error.message.contains("failed"))
        }
        #expect(process.stop() == 0)
    }

    /// A Python script in the place of the virtualenv's interpreter that stands in for
    /// `python -m llama_cpp.server ... --port PORT`: healthy until asked for a completion, then
    /// killed by SIGSEGV. With a model file beside it.
    static func crashingServer() throws -> (TemporaryDirectory, String) {
        let directory = TemporaryDirectory("lalo-crashing-model")
        let script = directory.file("python")
        try """
        #!/usr/bin/python3
        # Stands in for `python -m llama_cpp.server ... --port PORT`: healthy until asked for a completion.
        import http.server, os, signal, sys
        port = int(sys.argv[sys.argv.index("--port") + 1])
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200); self.send_header("Content-Type", "application/json"); self.end_headers()
                self.wfile.write(b'{"object": "list", "data": []}')
            def do_POST(self):
                print("ggml_backend_amx_buffer_set_tensor: the stand-in crashes now", file=sys.stderr, flush=True)
                os.kill(os.getpid(), signal.SIGSEGV)
            def log_message(self, *args):
                pass
        http.server.HTTPServer(("127.0.0.1", port), Handler).serve_forever()
        """.write(toFile: script, atomically: true, encoding: .utf8)
        chmod(script, 0o755)
        try "not a real model".write(toFile: directory.file("model.gguf"), atomically: true, encoding: .utf8)
        return (directory, script)
    }

    /// The install-time smoke test catches such a server, saying how it died and what it said.
    @Test func theSmokeTestCatchesAServerThatCrashes() throws {
        let (directory, script) = try Self.crashingServer()
        // Tests/LALOTests/ModelTests.swift → scripts/local-model-smoke.py
        let smoke = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("scripts/local-model-smoke.py").path
        let result = try run(
            "/usr/bin/python3",
            [
                smoke, "--python", script,
                "--model", directory.file("model.gguf"), "--start-timeout", "30",
            ])
        #expect(result.status == 1)
        #expect(
            result.stderr.contains("smoke test FAILED during the schema-constrained completion"), "\(result.stderr)")
        #expect(result.stderr.contains("SIGSEGV"), "\(result.stderr)")
        #expect(result.stderr.contains("ggml_backend_amx_buffer_set_tensor"), "\(result.stderr)")
    }

    /// A server that answers its health checks but dies on every request (as llama.cpp's AMX
    /// repack did): after the supervisor's crash limit it is `failed`, with its last output and the
    /// fix, instead of being restarted forever; a call then fails at once, saying so. The stand-in
    /// is a Python script in the place of the virtualenv's interpreter, killed by SIGSEGV.
    @Test func aServerThatCrashesOnEveryRequestEndsFailed() throws {
        let (directory, script) = try Self.crashingServer()
        let process = try DaemonProcess(
            config: """
                [localModel]
                mode = "on"
                python = "\(script)"
                modelFile = "\(directory.file("model.gguf"))"
                """)
        let client = try process.client()
        var local = try client.call(ModelList.self).localModel
        var calls = 0
        // Each call crashes it once, or twice when the router asks the restarted server again.
        while local.state != "failed" && calls < 6 {
            calls += 1
            do {
                _ = try client.call(
                    ModelComplete.self, ModelComplete.Params(messages: [ChatMessage(role: "user", content: "x")]))
                Issue.record("a crashing server answered")
            } catch let error as RPCError {
                #expect(error.kind == .unavailable)
            }
            local = try client.call(ModelList.self).localModel
        }
        #expect(local.state == "failed", "\(local)")
        let message = local.lastError ?? ""
        #expect(message.contains("crashed \(3) times in a row"), "\(message)")
        #expect(message.contains("SIGSEGV"), "\(message)")
        #expect(message.contains("ggml_backend_amx_buffer_set_tensor"), "the server's last words: \(message)")
        #expect(message.contains("make local-model"), "the fix: \(message)")
        // Given up on: no more restarts, and a call says why at once.
        let restarts = local.restarts
        let started = Date()
        do {
            _ = try client.call(
                ModelComplete.self, ModelComplete.Params(messages: [ChatMessage(role: "user", content: "x")]))
            Issue.record("a failed server answered")
        } catch let error as RPCError {
            #expect(error.kind == .unavailable)
            #expect(error.message.contains("crashed"), "\(error.message)")
        }
        #expect(Date().timeIntervalSince(started) < 5, "a failed server is not waited for")
        sleep(2)
        #expect(try client.call(ModelList.self).localModel.restarts == restarts)
        #expect(process.stop() == 0)
    }

    @Test func invalidParamsNameTheField() throws {
        let daemon = try DaemonProcess()
        let client = try daemon.client()
        let cases: [(JSONValue, String)] = [
            ([:], "params.messages"),
            (["messages": []], "params.messages"),
            (["messages": [["role": "robot", "content": "x"]]], "params.messages[0].role"),
            (["messages": [["role": "user"]]], "params.messages[0].content"),
            (["messages": [["role": "user", "content": "x"]], "role": "boss"], "params.role"),
            (["messages": [["role": "user", "content": "x"]], "temperature": 7], "params.temperature"),
            (["messages": [["role": "user", "content": "x"]], "maxTokens": 0], "params.maxTokens"),
            (
                ["messages": [["role": "user", "content": "x"]], "responseSchema": "json please"],
                "params.responseSchema"
            ),
            (
                [
                    "messages": [["role": "user", "content": "x"]],
                    "tools": [["name": "bad name!", "description": "", "parameters": [:]]],
                ],
                "params.tools[0].name"
            ),
        ]
        for (params, field) in cases {
            do {
                _ = try client.call("model.complete", params: params)
                Issue.record("accepted \(params)")
            } catch let error as RPCError {
                #expect(error.kind == .invalidParams, "\(params): \(error)")
                #expect(error.field == field, "\(params): \(error)")
            }
        }
        #expect(daemon.stop() == 0)
    }

    /// The real embedded model: llama.cpp's server from llama-cpp-python with SmolLM2-135M.
    @Test func localModelEndToEnd() throws {
        #expect(
            FileManager.default.isExecutableFile(atPath: LocalModelInstall.python),
            "the local model is not installed at \(LocalModelInstall.directory): run `make local-model`")
        let daemon = try DaemonProcess(config: DaemonProcess.config(localModel: true))
        let client = try daemon.client()
        client.setReceiveTimeout(seconds: 240)

        let schema: JSONValue = [
            "type": "object", "properties": ["color": ["type": "string"], "count": ["type": "integer"]],
            "required": ["color", "count"],
        ]
        var deltas: [String] = []
        let result = try client.call(
            ModelComplete.self,
            ModelComplete.Params(
                messages: [ChatMessage(role: "user", content: "Name a color and a number of apples.")],
                responseSchema: schema, maxTokens: 60, temperature: 0)
        ) { method, params in
            if method == "model.delta" { deltas.append(params["delta"]?.stringValue ?? "") }
        }
        #expect(result.provider == "local")
        #expect(deltas.count > 1, "streaming must deliver more than one delta")
        #expect(deltas.joined() == result.content)
        let answer = try JSONParser.parse(result.content)
        #expect(answer["color"]?.stringValue != nil, "\(result.content)")
        #expect(answer["count"]?.intValue != nil, "\(result.content)")
        #expect(result.timeToFirstTokenMicros != nil)
        #expect(result.usage.completionTokens > 0)

        // Supervision: kill the server; laloD restarts it and answers again.
        let before = try client.call(ModelList.self).localModel
        #expect(before.state == "running")
        // The server is on loopback, which every local user reaches: it must want laloD's key.
        let port = try #require(before.port)
        let anonymous = try HTTPProbe().request("GET", "http://127.0.0.1:\(port)/v1/models")
        #expect(anonymous.0 == 401, "the local model answered without its key")
        let pid = try #require(before.pid)
        kill(pid, SIGKILL)
        var after = before
        for _ in 0..<300 {
            after = try client.call(ModelList.self).localModel
            if after.restarts >= 1 && after.state == "running" { break }
            usleep(100_000)
        }
        #expect(after.restarts >= 1)
        #expect(after.state == "running")
        #expect(after.pid != pid)
        let test = try client.call(ModelTest.self, ModelTest.Params(role: "chat"))
        #expect(!test.reply.isEmpty)
        #expect(daemon.log.contains("llama.cpp"), "the server's output belongs in laloD's log")

        // Stopping laloD stops the server.
        let last = try #require(after.pid)
        #expect(daemon.stop() == 0)
        #expect(kill(last, 0) != 0, "the local model server outlived laloD")
    }
}
