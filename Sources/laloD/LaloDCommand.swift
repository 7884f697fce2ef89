import ArgumentParser
import Foundation
import Logging
import Shared

/// `laloD`: the LALO daemon. Normally started by systemd (laloD.socket / laloD.service).
@main
struct LaloDCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "laloD",
        abstract: "The LALO daemon: JSON-RPC 2.0 on a Unix socket for AI agent work with a human in the loop.",
        discussion: """
            Reads \(DefaultPaths.configFile) and \(DefaultPaths.configFile).d/*.toml (later files win). \
            Signals: SIGTERM/SIGINT stop gracefully, SIGHUP reloads the role mapping, log level and limits. \
            Exit status: 0 after a clean stop, 1 when start-up fails, 78 for a configuration error.
            """,
        version: LaloVersion.current)

    @Option(name: .long, help: ArgumentHelp("Configuration file.", valueName: "path"))
    var config: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Socket to listen on when systemd does not pass one in (default: $LALO_SOCKET, else server.socket).",
            valueName: "path"))
    var socket: String?

    @Option(
        name: .long,
        help: ArgumentHelp("State directory holding the database (overrides store.stateDirectory).", valueName: "path"))
    var stateDir: String?

    @Option(
        name: .long,
        help: ArgumentHelp("Log level: trace, debug, info, notice, warning, error, critical.", valueName: "level"))
    var logLevel: String?

    func validate() throws {
        if let logLevel, Logger.Level(rawValue: logLevel) == nil {
            throw ValidationError(
                "--log-level must be one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        if let socket, !socket.hasPrefix("/") { throw ValidationError("--socket must be an absolute path") }
        if let stateDir, !stateDir.hasPrefix("/") { throw ValidationError("--state-dir must be an absolute path") }
    }

    func run() async throws {
        let environmentSocket = ProcessInfo.processInfo.environment[DefaultPaths.socketEnvironmentVariable]
        let loader = ConfigLoader(
            path: config ?? DefaultPaths.configFile, required: config != nil,
            overrides: .init(
                socket: socket ?? (environmentSocket?.isEmpty == false ? environmentSocket : nil),
                stateDirectory: stateDir, logLevel: logLevel.flatMap(Logger.Level.init(rawValue:))))
        let status = await Daemon.run(loader: loader)
        if status != 0 { throw ExitCode(status) }
    }
}
