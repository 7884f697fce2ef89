import Foundation
import Logging
import NIOEmbedded
import Shared
import Synchronization

@testable import laloD

/// The fast tier: laloD's subsystems and its dispatcher built in this process on a temporary
/// state directory (a real SQLite store, real files, the same handlers and permission checks),
/// called without a socket or a daemon process. Suites that need a process (the socket, peer
/// credentials, signals, systemd, crashes) use ``DaemonProcess`` instead.
final class InProcessDaemon: Sendable {
    /// The temporary directory holding laloD.toml and the state directory.
    let path: String
    let assembly: DaemonAssembly
    let configuration: Configuration
    let dispatcher: Dispatcher
    private let nextSession = Mutex<Int64>(0)

    /// `config` is a laloD.toml, as for ``DaemonProcess``.
    init(config: String = DaemonProcess.config()) throws {
        path = NSTemporaryDirectory() + "lalo-inprocess-\(UUID().uuidString)"
        try FileManager.default.createDirectory(
            atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        try config.write(toFile: path + "/laloD.toml", atomically: true, encoding: .utf8)
        let loader = ConfigLoader(
            path: path + "/laloD.toml", required: true,
            overrides: .init(socket: path + "/laloD.sock", stateDirectory: path + "/state"))
        configuration = try loader.load()
        try FileManager.default.createDirectory(
            atPath: configuration.store.stateDirectory, withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o700])
        assembly = try DaemonAssembly(
            configuration: configuration, journal: nil, socketPath: configuration.server.socket,
            socketActivated: false, logger: Logger(label: "lalo.test"))
        dispatcher = assembly.dispatcher()
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    /// Serves the dispatcher on the configuration's socket from this process, for clients such
    /// as laloctl's commands run in process; the server stops when the task is cancelled.
    func serve() async throws -> Task<Void, any Error> {
        let server = RPCServer(
            server: configuration.server, listenDescriptor: nil, sessions: assembly.sessions, audit: assembly.audit,
            logger: Logger(label: "lalo.test.rpc"), onListening: {})
        server.attach(assembly.dispatcher(isDraining: { [server] in server.isDraining }))
        let task = Task { try await server.run() }
        for _ in 0..<400 where !FileManager.default.fileExists(atPath: configuration.server.socket) {
            try await Task.sleep(for: .milliseconds(10))
        }
        return task
    }

    /// A caller as the kernel would report it: the account's uid, gid and groups.
    static func principal(_ account: TestUsers.Account) -> Principal {
        Principal(credentials: .init(pid: getpid(), uid: account.uid, gid: account.gid))
    }

    static let root = Principal(credentials: .init(pid: getpid(), uid: 0, gid: 0))

    /// One request through the dispatcher as `principal`: the response's `result` or `error`.
    func call(_ method: String, params: JSONValue?, as principal: Principal) async -> Result<JSONValue, RPCError> {
        let id = nextSession.withLock { value -> Int64 in
            value += 1
            return value
        }
        let session = Session(id: id, principal: principal, channel: EmbeddedChannel())
        var request: [String: JSONValue] = ["jsonrpc": "2.0", "id": .int(id), "method": .string(method)]
        if let params { request["params"] = params }
        let sink = NotificationSink { _ in }
        guard let response = await dispatcher.handleOne(.object(request), session: session, sink: sink) else {
            return .failure(RPCError.internalError("no response"))
        }
        let json = response.json
        if let error = json["error"] { return .failure(RPCError(json: error)) }
        return .success(json["result"] ?? .null)
    }

    /// Typed, like ``LaloClient/call(_:_:onNotification:)``.
    func call<M: RPCMethod>(_ method: M.Type, _ params: M.Params, as principal: Principal = root) async throws
        -> M.Result
    {
        let encoded = try JSONParser.parse(try JSONEncoder().encode(params))
        let result = try await call(M.name, params: encoded, as: principal).get()
        return try JSONDecoder().decode(M.Result.self, from: Data(JSONWriter.bytes(result)))
    }
}
