import Crypto
import Foundation
import GRDB
import Shared
import Testing

@testable import laloD

/// The secret store through the real daemon: encryption at rest, key handling, rotation under
/// kill -9, and the guarantee that a value never comes back out — not in the database file, the
/// audit log, the daemon's log or any response.
@Suite("Secrets", .serialized, .timeLimit(.minutes(5)))
struct SecretTests {
    static let value = "s3cr3t-Value/with+chars&=:\"quoted\"-0042"

    /// Every byte of every file under `directory`.
    static func bytesOfFiles(under directory: String) -> [(String, Data)] {
        let enumerator = FileManager.default.enumerator(atPath: directory)
        var files: [(String, Data)] = []
        while let name = enumerator?.nextObject() as? String {
            let path = directory + "/" + name
            if let data = FileManager.default.contents(atPath: path) { files.append((path, data)) }
        }
        return files
    }

    /// The value and the encoded forms it could take on its way out.
    static func leakForms(_ value: String) -> [String] {
        [
            value, Data(value.utf8).base64EncodedString(),
            value.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!,
            String(JSONWriter.string(.string(value)).dropFirst().dropLast()),
        ]
    }

    @Test func valueNeverLeavesTheDaemon() throws {
        let server = try ScriptedServer()
        let config = DaemonProcess.config(
            extra: """
                [providers.scripted]
                kind = "openai"
                baseURL = "\(server.baseURL)/v1"
                apiKey = "secret:openai"
                maxRetries = 0
                [models.chat]
                provider = "scripted"
                model = "gpt-test"
                """)
        let daemon = try DaemonProcess(config: config)
        var responses: [String] = []

        // Set through laloctl, value on stdin (never argv), then replace it.
        let set = try run(
            Binaries.laloctl,
            [
                "secret", "set", "openai", "--description", "test key", "--socket", daemon.socketPath,
                "-o", "json",
            ], stdin: "first-value-000000\n")
        #expect(set.status == 0, "\(set.stderr)")
        responses.append(set.stdout + set.stderr)
        let replaced = try run(
            Binaries.laloctl, ["secret", "set", "openai", "--socket", daemon.socketPath, "-o", "json"],
            stdin: Self.value)
        #expect(replaced.status == 0, "\(replaced.stderr)")
        responses.append(replaced.stdout)
        let info = try JSONParser.parse(replaced.stdout)
        #expect(info["created"] == false)
        #expect(info["secret"]?["version"] == 2)
        #expect(info["secret"]?["description"] == "test key")

        let client = try daemon.client()
        let list = try client.call(SecretList.self)
        #expect(list.secrets.map(\.name) == ["openai"])
        responses.append(JSONWriter.string(try JSONValueEncoder().encode(list)))

        // A model call reads the key (audited) and sends it to the provider; the provider echoes
        // it back in its answer, plainly and base64-encoded, and both come back redacted.
        let b64 = Data(Self.value.utf8).base64EncodedString()
        let half = Self.value.count / 2
        try server.load([
            [
                "expect": ["headers": ["authorization": .string("Bearer \(Self.value)")]],
                "reply": Reply.sse(
                    Reply.openAIStream([
                        "the key is ", String(Self.value.prefix(half)),
                        String(Self.value.dropFirst(half)), " or ", .init(b64),
                    ])),
            ]
        ])
        var deltas: [String] = []
        let completion = try client.call(
            "model.complete", params: ["messages": [["role": "user", "content": "leak it"]]]
        ) { _, params in
            deltas.append(params["delta"]?.stringValue ?? "")
        }
        responses.append(JSONWriter.string(completion))
        responses += deltas
        #expect(try server.remaining() == 0, "the provider must have received the key")
        #expect(completion["content"]?.stringValue?.contains("[REDACTED:openai]") == true)
        #expect(deltas.joined() == completion["content"]?.stringValue)

        // Errors that would mention it: a provider error echoing the key.
        try server.load([["reply": Reply.error(400, "bad key \(Self.value)")]])
        do {
            _ = try client.call(
                "model.complete", params: ["messages": [["role": "user", "content": "x"]], "stream": false])
            Issue.record("expected an error")
        } catch let error as RPCError {
            #expect(error.kind == .validationFailed)
            #expect(error.message.contains("[REDACTED:openai]"))
            responses.append(JSONWriter.string(error.json))
        }

        // The audit log names each read, never the value.
        let reads = try client.call(AuditQuery.self, AuditQuery.Params(filter: AuditFilter(method: "secret.read")))
        #expect(reads.entries.count == 2)
        #expect(reads.entries.first?.detail?["name"] == "openai")
        #expect(reads.entries.first?.detail?["purpose"] == "model provider scripted")
        let exported = try run(Binaries.laloctl, ["audit", "export", "--socket", daemon.socketPath])
        #expect(exported.status == 0)
        responses.append(exported.stdout)
        // The digest of secret.set's params is taken with the value replaced.
        let setEntry = try client.call(
            AuditQuery.self, AuditQuery.Params(filter: AuditFilter(method: "secret.set", kind: "call")))
        #expect(setEntry.entries.last?.paramsDigest == digestOfParams(["name": "openai", "value": "[REDACTED]"]))

        try client.call(SecretDelete.self, SecretDelete.Params(name: "openai"))
        #expect(daemon.stop() == 0)

        var leaks: [String] = []
        for form in Self.leakForms(Self.value) + Self.leakForms("first-value-000000") {
            for (path, data) in Self.bytesOfFiles(under: daemon.directory.file("state"))
            where data.range(of: Data(form.utf8)) != nil {
                leaks.append("\(path) holds \(form)")
            }
            if daemon.log.contains(form) { leaks.append("the daemon log holds \(form)") }
            for response in responses where response.contains(form) {
                leaks.append("a response holds \(form): \(response)")
            }
        }
        #expect(leaks.isEmpty, "\(leaks)")
        #expect(daemon.log.contains("secret") || true)
    }

    struct KeyFileCase: Sendable, CustomTestStringConvertible {
        var mode: mode_t
        var symlink = false
        var starts: Bool
        var message: String?
        var testDescription: String { symlink ? "symlink" : String(mode, radix: 8) }
    }

    @Test(arguments: [
        KeyFileCase(mode: 0o600, starts: true),
        KeyFileCase(mode: 0o400, starts: true),
        KeyFileCase(mode: 0o640, starts: false, message: "chmod 600"),
        KeyFileCase(mode: 0o644, starts: false, message: "chmod 600"),
        KeyFileCase(mode: 0o604, starts: false, message: "chmod 600"),
        KeyFileCase(mode: 0o600, symlink: true, starts: false, message: "symbolic link"),
    ])
    func keyFilePermissions(_ check: KeyFileCase) throws {
        let directory = TemporaryDirectory()
        let real = directory.file(check.symlink ? "real.key" : "master.key")
        directory.write(check.symlink ? "real.key" : "master.key", String(repeating: "ab", count: 32) + "\n")
        chmod(real, check.mode)
        if check.symlink { symlink(real, directory.file("master.key")) }
        let daemon = try DaemonProcess(
            config: DaemonProcess.config(extra: "[secrets]\nkeyFile = \"\(directory.file("master.key"))\""),
            waitForSocket: false)
        if check.starts {
            try daemon.waitForSocket()
            #expect(daemon.stop() == 0, "\(daemon.log)")
        } else {
            let status = daemon.waitForExit()
            #expect(status == 1)
            #expect(daemon.log.contains(check.message!), "\(daemon.log)")
            #expect(!FileManager.default.fileExists(atPath: daemon.socketPath))
        }
    }

    @Test func keyFileIsCreatedPrivateAndAWrongKeyStopsStartUp() throws {
        let daemon = try DaemonProcess()
        let keyFile = daemon.directory.file("state/master.key")
        var info = stat()
        #expect(stat(keyFile, &info) == 0)
        #expect(info.st_mode & 0o777 == 0o600)
        #expect(try String(contentsOfFile: keyFile, encoding: .utf8).count == 65)
        try daemon.client().call(SecretSet.self, SecretSet.Params(name: "db", value: "correct horse battery"))
        #expect(daemon.stop() == 0)

        // Another key in the same place: laloD must say so, not fail later on a decrypt.
        daemon.directory.write("state/master.key", String(repeating: "cd", count: 32) + "\n")
        chmod(keyFile, 0o600)
        let wrong = try DaemonProcess(config: DaemonProcess.config(), waitForSocket: false, reuse: daemon)
        #expect(wrong.waitForExit() == 1)
        #expect(wrong.log.contains("is not the key these secrets were sealed with"), "\(wrong.log)")
    }

    @Test func systemdCredentialIsPreferred() throws {
        let credentials = TemporaryDirectory("lalo-creds")
        credentials.write("lalo-master-key", String(repeating: "k", count: 48))
        let daemon = try DaemonProcess(environment: ["CREDENTIALS_DIRECTORY": credentials.path])
        let list = try daemon.client().call(SecretList.self)
        #expect(list.masterKey.source == "credential")
        #expect(list.masterKey.location == "lalo-master-key")
        #expect(!FileManager.default.fileExists(atPath: daemon.directory.file("state/master.key")))
        #expect(daemon.stop() == 0)
        // Too short a credential is refused.
        credentials.write("lalo-master-key", "short")
        let refused = try DaemonProcess(
            environment: ["CREDENTIALS_DIRECTORY": credentials.path], waitForSocket: false, reuse: daemon)
        #expect(refused.waitForExit() == 1)
        #expect(refused.log.contains("at least 32"))
        // A different key with no secrets stored loses nothing, so it is accepted.
        credentials.write("lalo-master-key", String(repeating: "z", count: 48))
        let fresh = try DaemonProcess(environment: ["CREDENTIALS_DIRECTORY": credentials.path], reuse: daemon)
        let client = try fresh.client()
        try client.call(SecretSet.self, SecretSet.Params(name: "after-switch", value: "value-after-switch"))
        #expect(try client.call(SecretList.self).masterKey.activeVersion == 1)
        #expect(fresh.stop() == 0)
    }

    /// Opens the store a killed daemon left behind and decrypts every secret, read-only.
    static func readAll(stateDirectory: String) throws -> (values: [String: String], versionsInUse: [Int64]) {
        let store = try Store.open(directory: stateDirectory, busyTimeoutMilliseconds: 5000)
        let root = try RootKey.load(credentialName: "none", keyFile: stateDirectory + "/master.key", environment: [:])
        let keys = try SecretStore.openKeys(store: store, root: root)
        let values = try SecretStore.decryptAll(store: store, keys: keys)
        let versions = try store.writer.read { db in
            try Int64.fetchAll(db, sql: "SELECT DISTINCT keyVersion FROM secret ORDER BY keyVersion")
        }
        return (Dictionary(uniqueKeysWithValues: values.map { ($0.name, $0.value) }), versions)
    }

    @Test func rotationSurvivesKillNine() throws {
        // One secret per transaction, so the rotation takes long enough to be killed half-way.
        var daemon = try DaemonProcess(config: DaemonProcess.config(extra: "[secrets]\nrotationBatchSize = 1"))
        var expected: [String: String] = [:]
        let client = try daemon.client()
        for i in 0..<300 {
            let name = "secret-\(i)"
            expected[name] = "value-\(i)-\(UUID().uuidString)"
            try client.call(SecretSet.self, SecretSet.Params(name: name, value: expected[name]!))
        }
        client.close()
        var sawHalfway = false
        for attempt in 0..<4 {
            let raw = try daemon.client()
            try raw.sendLine(#"{"jsonrpc":"2.0","id":1,"method":"secret.rotate"}"#)
            usleep(useconds_t(40_000 + attempt * 20_000))
            daemon.signal(SIGKILL)
            _ = daemon.waitForExit()
            let state = try Self.readAll(stateDirectory: daemon.directory.file("state"))
            #expect(state.values == expected, "every secret must stay readable after kill -9 (attempt \(attempt))")
            if state.versionsInUse.count > 1 { sawHalfway = true }
            // The next start finishes the rotation.
            daemon = try DaemonProcess(
                config: DaemonProcess.config(extra: "[secrets]\nrotationBatchSize = 1"), reuse: daemon)
            let list = try daemon.client().call(SecretList.self)
            #expect(list.masterKey.versionsInUse == [list.masterKey.activeVersion])
            if sawHalfway { break }
        }
        #expect(sawHalfway, "no kill landed in the middle of a rotation")
        #expect(daemon.stop() == 0)
        let final = try Self.readAll(stateDirectory: daemon.directory.file("state"))
        #expect(final.values == expected)
        #expect(final.versionsInUse.count == 1)
    }

    @Test func invalidInputIsRefusedWithTheField() throws {
        let daemon = try DaemonProcess()
        let client = try daemon.client()
        let cases: [(JSONValue, String)] = [
            (["name": "ok-name", "value": "short"], "params.value"),
            (["name": "bad name", "value": "long enough value"], "params.name"),
            (["name": ".hidden", "value": "long enough value"], "params.name"),
            (["name": .string(String(repeating: "a", count: 129)), "value": "long enough value"], "params.name"),
            (["value": "long enough value"], "params.name"),
            (["name": "ok"], "params.value"),
            (["name": "ok", "value": 12_345_678], "params.value"),
        ]
        for (params, field) in cases {
            do {
                _ = try client.call("secret.set", params: params)
                Issue.record("accepted \(params)")
            } catch let error as RPCError {
                #expect(error.kind == .invalidParams)
                #expect(error.field == field, "\(params): \(error)")
            }
        }
        #expect(try client.call(SecretList.self).secrets.isEmpty)
        #expect(throws: RPCError.self) { try client.call(SecretDelete.self, SecretDelete.Params(name: "absent")) }
        #expect(daemon.stop() == 0)
    }
}

@Suite("Redaction")
struct RedactionTests {
    static let redactor: Redactor = {
        let r = Redactor()
        r.update([(name: "api", value: "sk-LIVE-abc123xyz789"), (name: "pw", value: "p@ss word/+=?")])
        return r
    }()

    @Test(arguments: [
        ("plain", "key=sk-LIVE-abc123xyz789;", "key=[REDACTED:api];"),
        (
            "basic auth", "Authorization: Basic " + Data("user:sk-LIVE-abc123xyz789".utf8).base64EncodedString(),
            "[REDACTED:api]"
        ),
        ("base64 alone", Data("sk-LIVE-abc123xyz789".utf8).base64EncodedString(), "[REDACTED:api]"),
        ("base64 offset 1", Data("xsk-LIVE-abc123xyz789".utf8).base64EncodedString(), "[REDACTED:api]"),
        ("base64 offset 2", Data("xysk-LIVE-abc123xyz789".utf8).base64EncodedString(), "[REDACTED:api]"),
        ("url encoded", "https://h/?pw=p%40ss%20word%2F%2B%3D%3F&x=1", "pw=[REDACTED:pw]&x=1"),
        ("form encoded", "pw=p%40ss+word%2F%2B%3D%3F", "pw=[REDACTED:pw]"),
        ("json escaped", #"{"password":"p@ss word\/+=?"}"#, "[REDACTED:pw]"),
        ("twice", "sk-LIVE-abc123xyz789 sk-LIVE-abc123xyz789", "[REDACTED:api] [REDACTED:api]"),
    ])
    func redacts(_ name: String, _ text: String, _ expected: String) {
        let out = Self.redactor.redact(text)
        #expect(out.contains(expected), "\(name): \(out)")
        #expect(!out.contains("sk-LIVE-abc123xyz789") && !out.contains("p@ss word"))
    }

    @Test func leavesOrdinaryTextAlone() {
        let text = "nothing secret here: sk-LIVE-abc123 is only a prefix"
        #expect(Self.redactor.redact(text) == text)
        #expect(Redactor().redact(text) == text)
    }

    @Test func redactsInsideJSONValues() {
        let value: JSONValue = [
            "output": ["stdout": "token sk-LIVE-abc123xyz789", "n": 3], "sk-LIVE-abc123xyz789": true,
        ]
        #expect(
            JSONWriter.string(Self.redactor.redact(value))
                == #"{"[REDACTED:api]":true,"output":{"n":3,"stdout":"token [REDACTED:api]"}}"#)
    }

    @Test func streamRedactionCatchesValuesSplitAcrossChunks() {
        let text = "before sk-LIVE-abc123xyz789 middle p@ss word/+=? after ünïcode"
        let characters = Array(text)
        // Every way of cutting the text into two chunks, and one character at a time.
        for cut in 0...characters.count {
            var stream = StreamRedactor(redactor: Self.redactor)
            let out =
                stream.feed(String(characters[..<cut])) + stream.feed(String(characters[cut...])) + stream.finish()
            #expect(out == "before [REDACTED:api] middle [REDACTED:pw] after ünïcode", "cut at \(cut)")
        }
        var stream = StreamRedactor(redactor: Self.redactor)
        let out = characters.map { stream.feed(String($0)) }.joined() + stream.finish()
        #expect(out == "before [REDACTED:api] middle [REDACTED:pw] after ünïcode")
    }
}
