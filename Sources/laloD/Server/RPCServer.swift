import Foundation
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Shared
import Synchronization

/// The JSON-RPC listener: accepts connections on the Unix socket, turns each into a session and
/// runs its requests concurrently (up to the in-flight cap) through the ``Dispatcher``.
///
/// Graceful shutdown: stop accepting, answer requests that arrive meanwhile with `unavailable`,
/// let in-flight calls finish within `shutdownTimeoutSeconds`, then close every connection.
final class RPCServer: Service, Sendable {
    struct Limits: Sendable, Equatable {
        var maxLineBytes: Int
        var maxInFlightPerConnection: Int
        var idleTimeoutSeconds: Int
        var shutdownTimeoutSeconds: Int

        init(_ server: Configuration.Server) {
            maxLineBytes = server.maxLineBytes
            maxInFlightPerConnection = server.maxInFlightPerConnection
            idleTimeoutSeconds = server.idleTimeoutSeconds
            shutdownTimeoutSeconds = server.shutdownTimeoutSeconds
        }
    }

    private struct Connection: Sendable {
        var channel: NIOAsyncChannel<Frame, ByteBuffer>
        var credentials: Principal.PeerCredentials
    }

    let socketPath: String
    let listenDescriptor: Int32?
    private let socketMode: UInt32
    private let socketGroup: String
    private let sessions: SessionRegistry
    private let audit: AuditLog
    private let logger: Logger
    private let limits: Mutex<Limits>
    private let draining = Atomic<Bool>(false)
    private let onListening: @Sendable () -> Void
    private let dispatcherBox = Mutex<Dispatcher?>(nil)
    /// Connections accepted by the initializer but not yet picked up by the accept loop. A
    /// connection accepted just as the listening socket closes never reaches the loop; its async
    /// channel must still be closed properly (NIO traps when one is dropped unfinished), so it is
    /// kept here until served or closed after the drain.
    private let unserved = Mutex<[ObjectIdentifier: Connection]>([:])

    init(
        server: Configuration.Server, listenDescriptor: Int32?, sessions: SessionRegistry, audit: AuditLog,
        logger: Logger, onListening: @escaping @Sendable () -> Void
    ) {
        socketPath = server.socket
        socketMode = server.socketMode
        socketGroup = server.socketGroup
        self.listenDescriptor = listenDescriptor
        self.sessions = sessions
        self.audit = audit
        self.logger = logger
        self.onListening = onListening
        limits = Mutex(Limits(server))
    }

    /// The dispatcher needs `isDraining` from the server, so it is attached after both exist.
    func attach(_ dispatcher: Dispatcher) { dispatcherBox.withLock { $0 = dispatcher } }

    var isDraining: Bool { draining.load(ordering: .relaxed) }

    func updateLimits(_ new: Limits) { limits.withLock { $0 = new } }

    func run() async throws {
        guard let dispatcher = dispatcherBox.withLock({ $0 }) else { fatalError("RPCServer.run before attach") }
        let serverChannel = try await bind()
        onListening()
        logger.info(
            "listening",
            metadata: [
                "lalo.socket": "\(socketPath)",
                "lalo.socket.activated": "\(listenDescriptor != nil)",
            ])
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                do {
                    try await serverChannel.executeThenClose { inbound in
                        for try await connection in inbound {
                            _ = self.unserved.withLock {
                                $0.removeValue(forKey: ObjectIdentifier(connection.channel.channel))
                            }
                            let executor = EventLoopTaskExecutor(connection.channel.channel.eventLoop)
                            group.addTask(executorPreference: executor) {
                                await self.serve(connection, dispatcher: dispatcher)
                            }
                        }
                    }
                } catch is CancellationError {
                    // The task serving the socket was cancelled (a test tearing its server down): not a fault.
                } catch {
                    logger.error("accept loop failed", error: error)
                }
                await drain()
                let leftovers = self.unserved.withLock { pending in
                    defer { pending.removeAll() }
                    return Array(pending.values)
                }
                for connection in leftovers {
                    try? await connection.channel.executeThenClose { _, outbound in outbound.finish() }
                }
            }
        } onGracefulShutdown: {
            Systemd.notify("STOPPING=1")
            self.draining.store(true, ordering: .relaxed)
            serverChannel.channel.close(promise: nil)
        }
        if listenDescriptor == nil { unlink(socketPath) }
    }

    /// Waits for in-flight calls to finish (bounded), then closes every connection.
    ///
    /// Connections keep being read while draining: requests a client sent just before the signal
    /// are answered (`unavailable`, as new work is refused) instead of being cut off by a reset.
    /// A session counts as settled once nothing is in flight and it has been quiet for a moment.
    private func drain() async {
        draining.store(true, ordering: .relaxed)
        let timeout = limits.withLock { $0.shutdownTimeoutSeconds }
        let deadline = ContinuousClock.now + .seconds(timeout)
        let quiet: Int64 = 200_000
        while ContinuousClock.now < deadline {
            let now = Timestamp.nowMicroseconds()
            let busy = sessions.all.contains { $0.inFlight > 0 || now - $0.lastActivityMicros < quiet }
            if !busy { break }
            try? await Task.sleep(for: .milliseconds(10))
        }
        let open = sessions.all
        if !open.isEmpty {
            logger.info("closing sessions", metadata: ["lalo.sessions": "\(open.count)"])
        }
        // Stop reading; each connection then finishes its answers and closes by itself.
        for session in open { session.finish(reason: "daemon stopping") }
        while ContinuousClock.now < deadline, sessions.count > 0 {
            try? await Task.sleep(for: .milliseconds(10))
        }
        for session in sessions.all { session.terminate(reason: "daemon stopping") }
    }

    // MARK: Listening socket

    private func bind() async throws -> NIOAsyncChannel<Connection, Never> {
        let bootstrap = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 512)
            // Keep writing answers after a client shuts down its sending side
            // (`printf '…\n' | socat - UNIX-CONNECT:…` does exactly that).
            .childChannelOption(.allowRemoteHalfClosure, value: true)
        let initializer: @Sendable (any Channel) -> EventLoopFuture<Connection> = { [self] channel in
            let maxLine = self.limits.withLock { $0.maxLineBytes }
            guard let provider = channel as? any SocketOptionProvider else {
                return channel.eventLoop.makeFailedFuture(ChannelError.operationUnsupported)
            }
            let credentials: EventLoopFuture<Principal.PeerCredentials> =
                provider.unsafeGetSocketOption(
                    level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(SO_PEERCRED))
            return credentials.flatMapThrowing { credentials in
                try channel.pipeline.syncOperations.addHandler(
                    ByteToMessageHandler(LineFrameDecoder(maximumLineBytes: maxLine)))
                let wrapped = try NIOAsyncChannel<Frame, ByteBuffer>(wrappingChannelSynchronously: channel)
                let connection = Connection(channel: wrapped, credentials: credentials)
                self.unserved.withLock { $0[ObjectIdentifier(channel)] = connection }
                return connection
            }
        }
        if let fd = listenDescriptor {
            return try await bootstrap.bind(fd, childChannelInitializer: initializer)
        }
        try prepareSocketPath()
        let channel = try await bootstrap.bind(unixDomainSocketPath: socketPath, childChannelInitializer: initializer)
        try applySocketPermissions()
        return channel
    }

    /// Creates the directory and removes a stale socket, refusing to steal a live one.
    private func prepareSocketPath() throws {
        let directory = (socketPath as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(
            atPath: directory, withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o755])
        var info = stat()
        guard lstat(socketPath, &info) == 0 else { return }
        guard info.st_mode & S_IFMT == S_IFSOCK else {
            throw StartupError("\(socketPath) exists and is not a socket; refusing to replace it")
        }
        if let probe = try? LaloClient(socketPath: socketPath) {
            probe.close()
            throw StartupError("another daemon is already listening on \(socketPath)")
        }
        unlink(socketPath)
    }

    private func applySocketPermissions() throws {
        if let gid = UserDatabase.groupID(name: socketGroup) {
            if chown(socketPath, uid_t.max, gid) != 0 {
                throw StartupError(
                    "cannot give \(socketPath) to group \(socketGroup): \(String(cString: strerror(errno)))")
            }
        } else {
            logger.warning(
                "socket group does not exist; only the owner and root can connect",
                metadata: ["lalo.socket.group": "\(socketGroup)"])
        }
        if chmod(socketPath, mode_t(socketMode)) != 0 {
            throw StartupError("cannot set mode of \(socketPath): \(String(cString: strerror(errno)))")
        }
    }

    // MARK: Connections

    private func serve(_ connection: Connection, dispatcher: Dispatcher) async {
        let principal = Principal(credentials: connection.credentials)
        let session: Session
        do {
            session = try await sessions.open(principal: principal) { id in
                Session(id: id, principal: principal, channel: connection.channel.channel)
            }
        } catch {
            await refuse(connection, principal: principal, error: error)
            return
        }
        _ = try? await audit.append(sessionEvent(session, method: "session.open", detail: nil))
        // Answers go to the channel directly. A write is awaited only when the socket is backed
        // up (a client that does not read gets back-pressure, not unbounded buffers); otherwise
        // it completes on the event loop without a round trip back to this task. Before the
        // connection closes, one last empty write is awaited: writes complete in order, so then
        // every answer has left laloD and closing cannot drop one.
        let channel = connection.channel.channel
        let write: Writer = { bytes in
            // A closed connection must fail the write, so a streaming handler learns that its
            // client is gone (NIO's isWritable alone stays true after close).
            guard channel.isActive else { throw ChannelError.ioOnClosedChannel }
            let written: EventLoopFuture<Void> = channel.writeAndFlush(bytes)
            if !channel.isWritable { try await written.get() }
        }
        do {
            try await connection.channel.executeThenClose { inbound, _ in
                let sink = NotificationSink { notification in
                    try await write(ByteBuffer(bytes: JSONWriter.bytes(notification.json) + [0x0A]))
                }
                try await withThrowingTaskGroup(of: Void.self) { watchers in
                    watchers.addTask { try await self.watchIdle(session) }
                    await withDiscardingTaskGroup { requests in
                        do {
                            for try await frame in inbound {
                                self.accept(
                                    frame, session: session, dispatcher: dispatcher, sink: sink,
                                    write: write, into: &requests)
                            }
                        } catch {
                            // Connection reset or closed by terminate(): fall through to cleanup.
                        }
                        session.markInputClosed()
                    }
                    watchers.cancelAll()
                }
                try? await channel.writeAndFlush(ByteBuffer())
            }
        } catch {
            logger.debug("connection ended with error", error: error, metadata: ["lalo.session.id": "\(session.id)"])
        }
        let reason = session.endReason ?? "client closed"
        await sessions.close(session, reason: reason)
        _ = try? await audit.append(sessionEvent(session, method: "session.close", detail: ["reason": .string(reason)]))
    }

    typealias Writer = @Sendable (ByteBuffer) async throws -> Void

    private func accept(
        _ frame: Frame, session: Session, dispatcher: Dispatcher, sink: NotificationSink,
        write: @escaping Writer, into requests: inout DiscardingTaskGroup
    ) {
        let line: ByteBuffer
        switch frame {
        case .tooLong(let limit):
            let error = RPCError.invalidRequest("request line longer than \(limit) bytes; it was discarded")
            requests.addTask {
                await dispatcher.record(session: session, method: "", params: nil, outcome: .failure(error), micros: 0)
                try? await write(Self.line(RPCResponse(id: .null, outcome: .failure(error)).json))
            }
            return
        case .line(let bytes):
            line = bytes
        }
        // Blank lines are ignored: they are what a person typing into socat produces by accident.
        if line.readableBytesView.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { return }
        // Parsed here, in the connection's loop, so that a batch counts as the number of requests
        // it holds against the in-flight cap.
        let parsed = Result { () throws(JSONParser.Failure) -> JSONValue in
            try line.withUnsafeReadableBytes { raw throws(JSONParser.Failure) in try JSONParser.parse(raw) }
        }
        var cost = 1
        if case .success(.array(let batch)) = parsed { cost = max(batch.count, 1) }
        let limit = limits.withLock { $0.maxInFlightPerConnection }
        guard session.beginCalls(cost, limit: limit) else {
            let error: RPCError
            let id: RPCID?
            if cost > 1 {
                error = .rateLimited(
                    "a batch of \(cost) requests with those in flight exceeds the limit of \(limit) on this connection")
                id = .null
            } else {
                error = .rateLimited("more than \(limit) requests in flight on this connection; wait for answers")
                switch parsed {
                case .success(let value):
                    if case .success(let request) = RPCRequest.validate(value) { id = request.id } else { id = .null }
                case .failure:
                    id = .null
                }
            }
            requests.addTask {
                await dispatcher.record(session: session, method: "", params: nil, outcome: .failure(error), micros: 0)
                // A notification over the limit is audited but cannot be answered.
                if let id { try? await write(Self.line(RPCResponse(id: id, outcome: .failure(error)).json)) }
            }
            return
        }
        requests.addTask {
            let response = await dispatcher.handle(parsed: parsed, session: session, sink: sink)
            if let response {
                try? await write(ByteBuffer(bytes: response + [0x0A]))
            }
            session.endCalls(cost)
            if let reason = session.takeCloseAfterReply() { session.finish(reason: reason) }
        }
    }

    private func watchIdle(_ session: Session) async throws {
        while true {
            let idle = limits.withLock { $0.idleTimeoutSeconds }
            try await Task.sleep(for: .seconds(min(idle, 5)))
            guard session.inFlight == 0 else { continue }
            if Timestamp.nowMicroseconds() - session.lastActivityMicros >= Int64(idle) * 1_000_000 {
                session.terminate(reason: "idle timeout")
                return
            }
        }
    }

    private func refuse(_ connection: Connection, principal: Principal, error: any Error) async {
        let rpcError: RPCError
        if case SessionRegistry.Refusal.tooManySessions(let limit) = error {
            rpcError = .rateLimited("too many sessions: \(principal.user) already has \(limit) open")
        } else {
            logger.error("cannot open session", error: error)
            rpcError = .internalError()
        }
        _ = try? await audit.append(
            AuditEvent(
                kind: .session, uid: Int64(principal.uid), user: principal.user, pid: principal.pid, sessionId: 0,
                method: "session.open", outcome: .error, errorKind: rpcError.kind, durationMicros: 0,
                paramsDigest: digestOfParams(nil), detail: ["reason": .string(rpcError.message)]))
        let channel = connection.channel.channel
        try? await channel.writeAndFlush(Self.line(RPCResponse(id: .null, outcome: .failure(rpcError)).json)).get()
        try? await channel.close()
    }

    private func sessionEvent(_ session: Session, method: String, detail: JSONValue?) -> AuditEvent {
        AuditEvent(
            kind: .session, uid: Int64(session.principal.uid), user: session.principal.user,
            pid: session.principal.pid, sessionId: session.id, method: method, outcome: .ok, errorKind: nil,
            durationMicros: 0, paramsDigest: digestOfParams(nil), detail: detail)
    }

    private static func line(_ value: JSONValue) -> ByteBuffer {
        ByteBuffer(bytes: JSONWriter.bytes(value) + [0x0A])
    }
}

extension RPCServer {
    /// The path a listening Unix socket is bound to (for one systemd passed in).
    static func boundPath(of fd: Int32) -> String? {
        var address = sockaddr_un()
        var length = socklen_t(MemoryLayout<sockaddr_un>.size)
        let rc = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard rc == 0 else { return nil }
        let path = withUnsafeBytes(of: address.sun_path) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        return path.isEmpty ? nil : path
    }
}

/// A start-up failure with a message for the operator (exit status 1).
struct StartupError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
