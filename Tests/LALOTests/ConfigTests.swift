import Foundation
import Shared
import Testing

@testable import laloD

struct ConfigCase: Sendable, CustomTestStringConvertible {
    var name: String
    var toml: String
    /// Substrings the error must contain (besides the file name).
    var expected: [String]
    var testDescription: String { name }
}

let badConfigs: [ConfigCase] = [
    ConfigCase(name: "unknown section", toml: "[sever]\nsocket = \"/x\"", expected: ["sever", "unknown section"]),
    ConfigCase(
        name: "unknown key", toml: "[server]\nmaxLineByte = 10", expected: ["server.maxLineByte", "unknown key"]),
    ConfigCase(
        name: "wrong type", toml: "[server]\nmaxLineBytes = \"big\"",
        expected: ["server.maxLineBytes", "expected an integer"]),
    ConfigCase(
        name: "out of range", toml: "[server]\nmaxInFlightPerConnection = 0",
        expected: ["server.maxInFlightPerConnection", "out of range"]),
    ConfigCase(
        name: "relative socket path", toml: "[server]\nsocket = \"lalo.sock\"", expected: ["server.socket", "absolute"]),
    ConfigCase(
        name: "bad socket mode", toml: "[server]\nsocketMode = \"rw\"", expected: ["server.socketMode", "octal"]),
    ConfigCase(
        name: "world-writable mode", toml: "[server]\nsocketMode = \"0662\"",
        expected: ["server.socketMode", "world-writable"]),
    ConfigCase(name: "bad log level", toml: "[log]\nlevel = \"loud\"", expected: ["log.level", "loud"]),
    ConfigCase(name: "bad journal mode", toml: "[audit]\njournal = \"maybe\"", expected: ["audit.journal"]),
    ConfigCase(
        name: "bad everyone role", toml: "[roles]\neveryone = \"root\"", expected: ["roles.everyone", "built-in"]),
    ConfigCase(
        name: "group list of numbers", toml: "[roles]\nadminGroups = [1, 2]",
        expected: ["roles.adminGroups", "strings"]),
    ConfigCase(name: "section that is a value", toml: "server = 1", expected: ["server", "must be a table"]),
    ConfigCase(name: "invalid TOML", toml: "[server\nsocket = ", expected: ["line 1"]),
    ConfigCase(
        name: "plain API key", toml: "[providers.openai]\nbaseURL = \"https://x/v1\"\napiKey = \"sk-123\"",
        expected: ["providers.openai.apiKey", "secret reference"]),
    ConfigCase(
        name: "provider without URL", toml: "[providers.openai]\nkind = \"openai\"",
        expected: ["providers.openai.baseURL", "required"]),
    ConfigCase(
        name: "provider URL scheme", toml: "[providers.openai]\nbaseURL = \"ftp://x\"",
        expected: ["providers.openai.baseURL", "http"]),
    ConfigCase(
        name: "provider kind", toml: "[providers.x]\nbaseURL = \"http://x\"\nkind = \"gemini\"",
        expected: ["providers.x.kind", "openai, anthropic"]),
    ConfigCase(
        name: "provider named local", toml: "[providers.local]\nbaseURL = \"http://x\"",
        expected: ["providers.local", "[localModel]"]),
    ConfigCase(
        name: "provider unknown key", toml: "[providers.x]\nbaseURL = \"http://x\"\nkey = \"k\"",
        expected: ["providers.x.key", "unknown key"]),
    ConfigCase(
        name: "unknown model role", toml: "[models.writer]\nprovider = \"local\"",
        expected: ["models.writer", "unknown role"]),
    ConfigCase(
        name: "role on missing provider", toml: "[models.chat]\nprovider = \"openai\"\nmodel = \"m\"",
        expected: ["models.chat.provider", "no provider"]),
    ConfigCase(
        name: "role without model", toml: "[providers.p]\nbaseURL = \"http://x\"\n[models.chat]\nprovider = \"p\"",
        expected: ["models.chat.model", "required"]),
    ConfigCase(
        name: "temperature range", toml: "[models.chat]\ntemperature = 3",
        expected: ["models.chat.temperature", "out of range"]),
    ConfigCase(name: "local model mode", toml: "[localModel]\nmode = \"maybe\"", expected: ["localModel.mode"]),
    ConfigCase(
        name: "relative key file", toml: "[secrets]\nkeyFile = \"master.key\"",
        expected: ["secrets.keyFile", "absolute"]),
    ConfigCase(
        name: "sandbox default above its maximum", toml: "[sandbox]\nmemoryBytes = 2000000\nmaxMemoryBytes = 1000000",
        expected: ["sandbox.memoryBytes", "above sandbox.maxMemoryBytes"]),
    ConfigCase(
        name: "sandbox backend", toml: "[sandbox]\nbackend = \"vm\"", expected: ["sandbox.backend", "native, docker"]),
]

@Suite("Configuration", .timeLimit(.minutes(2)))
struct ConfigTests {
    @Test("bad configuration is refused naming file, key and problem", arguments: badConfigs)
    func refused(_ config: ConfigCase) throws {
        let directory = TemporaryDirectory("lalo-config")
        directory.write("laloD.toml", config.toml)
        let loader = ConfigLoader(path: directory.file("laloD.toml"), required: true, overrides: .init())
        let error = #expect(throws: ConfigError.self) { try loader.load() }
        let message = error?.description ?? ""
        #expect(message.hasPrefix(directory.file("laloD.toml")))
        for expected in config.expected { #expect(message.contains(expected), "\(message)") }
    }

    @Test("drop-ins apply in lexical order after the main file, flags last")
    func dropIns() throws {
        let directory = TemporaryDirectory("lalo-config")
        directory.write("laloD.toml", "[server]\nmaxLineBytes = 2000\nidleTimeoutSeconds = 5\n[log]\nlevel = \"info\"")
        try FileManager.default.createDirectory(
            atPath: directory.file("laloD.toml.d"), withIntermediateDirectories: true)
        directory.write("laloD.toml.d/20-b.toml", "[server]\nmaxLineBytes = 4000")
        directory.write("laloD.toml.d/10-a.toml", "[server]\nmaxLineBytes = 3000\nidleTimeoutSeconds = 7")
        directory.write("laloD.toml.d/ignored.conf", "this is not toml")
        let loader = ConfigLoader(
            path: directory.file("laloD.toml"), required: true,
            overrides: .init(socket: "/tmp/override.sock", logLevel: .debug))
        let configuration = try loader.load()
        #expect(configuration.server.maxLineBytes == 4000)
        #expect(configuration.server.idleTimeoutSeconds == 7)
        #expect(configuration.server.socket == "/tmp/override.sock")
        #expect(configuration.logLevel == .debug)
        #expect(configuration.sources.count == 3)
    }

    @Test("a bad drop-in is named in the error")
    func badDropIn() throws {
        let directory = TemporaryDirectory("lalo-config")
        directory.write("laloD.toml", "")
        try FileManager.default.createDirectory(
            atPath: directory.file("laloD.toml.d"), withIntermediateDirectories: true)
        directory.write("laloD.toml.d/50-site.toml", "[roles]\nadmins = [\"x\"]")
        let error = #expect(throws: ConfigError.self) {
            try ConfigLoader(path: directory.file("laloD.toml"), required: true, overrides: .init()).load()
        }
        #expect(error?.description.contains("laloD.toml.d/50-site.toml: roles.admins: unknown key") == true)
    }

    @Test("the shipped etc/lalo/laloD.toml parses and equals the built-in defaults")
    func shippedDefaults() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("etc/lalo/laloD.toml").path
        var loaded = try ConfigLoader(path: path, required: true, overrides: .init()).load()
        loaded.sources = []
        #expect(loaded == Configuration())
    }

    @Test(
        "store.durability reaches the writer connection (GRDB resets it to NORMAL on open)",
        arguments: [("full", "full"), ("normal", "normal")])
    func durability(setting: String, expected: String) throws {
        let daemon = try DaemonProcess(config: DaemonProcess.config(extra: "[store]\ndurability = \"\(setting)\""))
        let status = try daemon.client().call(SystemStatus.self)
        #expect(status.store.durability == expected)
    }

    @Test("the daemon refuses to start on a bad file: exit 78, nothing listening")
    func daemonRefuses() throws {
        let directory = TemporaryDirectory("lalo-config")
        directory.write("laloD.toml", "[server]\nmaxLineBytes = \"big\"")
        let socket = directory.file("never.sock")
        let result = try run(
            Binaries.laloD,
            [
                "--config", directory.file("laloD.toml"), "--socket", socket,
                "--state-dir", directory.file("state"),
            ])
        #expect(result.status == 78)
        #expect(result.stderr.contains("laloD.toml: server.maxLineBytes: expected an integer"))
        #expect(!FileManager.default.fileExists(atPath: socket))
    }

    @Test("an unreadable or missing explicit config file stops start-up")
    func unreadable() throws {
        let directory = TemporaryDirectory("lalo-config")
        try FileManager.default.createDirectory(atPath: directory.file("dir.toml"), withIntermediateDirectories: true)
        let notAFile = try run(
            Binaries.laloD,
            [
                "--config", directory.file("dir.toml"), "--socket", directory.file("s.sock"),
                "--state-dir", directory.file("state"),
            ])
        #expect(notAFile.status == 78)
        #expect(notAFile.stderr.contains("dir.toml: cannot read"))
        let missing = try run(
            Binaries.laloD,
            [
                "--config", directory.file("missing.toml"), "--socket", directory.file("s.sock"),
                "--state-dir", directory.file("state"),
            ])
        #expect(missing.status == 78)
        #expect(missing.stderr.contains("missing.toml: file does not exist"))
    }
}
