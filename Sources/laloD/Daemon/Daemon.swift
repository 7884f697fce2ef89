import Foundation
import Logging
import ServiceLifecycle
import Shared

/// Assembles laloD from its subsystems and runs them as one service group.
///
/// Start-up order is store → audit → access control → sessions → server; shutdown runs the
/// group in reverse, so the server drains before the audit writer flushes its last batch.
enum Daemon {
    static func run(loader: ConfigLoader) async -> Int32 {
        let configuration: Configuration
        do {
            configuration = try loader.load()
        } catch {
            FileHandle.standardError.write(Data("laloD: configuration error: \(error)\n".utf8))
            return 78  // EX_CONFIG: systemd shows it as a configuration problem
        }
        umask(0o077)
        bootstrapLogging(configuration)
        var logger = Logger(label: "lalo.daemon")
        logger[metadataKey: "lalo.pid"] = "\(getpid())"
        do {
            try await start(configuration, loader: loader, logger: logger)
            return 0
        } catch {
            logger.critical("laloD cannot start", metadata: ["lalo.error": "\(error)"])
            FileHandle.standardError.write(Data("laloD: \(error)\n".utf8))
            Systemd.notify("STATUS=failed: \(error)")
            return 1
        }
    }

    private static func start(_ configuration: Configuration, loader: ConfigLoader, logger: Logger) async throws {
        try Store.lockStateDirectory(configuration.store.stateDirectory)
        let listen = Systemd.listenDescriptors()
        var serverConfiguration = configuration.server
        if let fd = listen.first, let path = RPCServer.boundPath(of: fd) { serverConfiguration.socket = path }
        let journal: JournalMirror?
        switch configuration.audit.journal {
        case .on: journal = JournalMirror()
        case .off: journal = nil
        case .auto: journal = Systemd.underSystemd ? JournalMirror() : nil
        }
        let parts = try DaemonAssembly(
            configuration: configuration, journal: journal, socketPath: serverConfiguration.socket,
            socketActivated: !listen.isEmpty, logger: logger)
        let (audit, access, sessions, secrets) = (parts.audit, parts.access, parts.sessions, parts.secrets)
        let (localModel, workflows) = (parts.localModel, parts.workflows)
        let server = RPCServer(
            server: serverConfiguration, listenDescriptor: listen.first, sessions: sessions, audit: audit,
            logger: Logger(label: "lalo.rpc")
        ) {
            Systemd.notify("READY=1\nSTATUS=listening")
        }
        server.attach(parts.dispatcher(isDraining: { [server] in server.isDraining }))
        let reload = ReloadService(
            loader: loader, initial: configuration, access: access, sessions: sessions,
            server: server, audit: audit, logger: logger)
        let status = StatusService(sessions: sessions, audit: audit)
        let group = ServiceGroup(
            configuration: .init(
                services: [
                    .init(service: audit),
                    .init(
                        service: server, successTerminationBehavior: .gracefullyShutdownGroup,
                        failureTerminationBehavior: .gracefullyShutdownGroup),
                    .init(service: reload),
                    .init(service: status),
                ] + (localModel.map { [ServiceGroupConfiguration.ServiceConfiguration(service: $0)] } ?? []) + [
                    // Last, so it shuts down first: subscriptions end before the server drains, and
                    // running steps finish while the local model still answers.
                    .init(
                        service: WorkflowService(
                            engine: workflows,
                            grace: .seconds(max(configuration.server.shutdownTimeoutSeconds, 1))))
                ],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        // Committed inline (no writer needed yet), so these are the first things in this run's trail.
        if let anomaly = audit.startupAnomaly {
            try await audit.append(
                .system("audit.headMismatch", outcome: .error, errorKind: .conflict, detail: anomaly))
        }
        try await audit.append(
            .system(
                "daemon.start",
                detail: [
                    "version": .string(LaloVersion.current),
                    "socketActivated": .bool(!listen.isEmpty),
                ]))
        if try secrets.rotationUnfinished() {
            // A rotation was interrupted (crash, kill): every secret is still readable, but the
            // old key version stays in use until the re-wrap is finished, so finish it now.
            logger.warning("finishing an interrupted master key rotation")
            _ = try await secrets.rotate(by: nil, newVersion: false)
        }
        try await group.run()
        logger.info("stopped")
    }

    private static func bootstrapLogging(_ configuration: Configuration) {
        LogLevelBox.current = configuration.logLevel
        let useJournal = Systemd.isJournalStream
        LoggingSystem.bootstrap { label in
            let inner: any LogHandler =
                useJournal ? JournaldLogHandler(label: label) : StreamLogHandler.standardError(label: label)
            return DynamicLevelHandler(inner: inner)
        }
    }
}
