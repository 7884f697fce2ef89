import Foundation
import Logging
import Shared

/// laloD's subsystems wired together from a configuration, with every method's handler: what
/// ``Daemon`` serves on its socket, and what the in-process test tier calls directly.
///
/// Built in dependency order: store → audit → access control → sessions → secrets → models →
/// sandbox → tools → workflows → handlers. Nothing here listens, forks or starts a task; the
/// services that run (server, audit writer, local model, workflow driver) are started by
/// ``Daemon`` as one service group.
struct DaemonAssembly: Sendable {
    let store: Store
    let audit: AuditLog
    let access: AccessControl
    let sessions: SessionRegistry
    let secrets: SecretStore
    let localModel: LocalModelServer?
    let models: ModelRouter
    let sandbox: Sandbox
    let tools: ToolRegistry
    let workflows: WorkflowEngine
    /// Filled last, from the subsystems above (``MethodRegistry/handlers(of:startedAt:socketPath:socketActivated:)``).
    private(set) var registry = MethodRegistry()

    init(
        configuration: Configuration, journal: JournalMirror?, socketPath: String, socketActivated: Bool,
        logger: Logger
    ) throws {
        do {
            store = try Store.open(
                directory: configuration.store.stateDirectory,
                busyTimeoutMilliseconds: configuration.store.busyTimeoutMilliseconds,
                durability: configuration.store.durability)
        } catch {
            throw StartupError("cannot open the store in \(configuration.store.stateDirectory): \(error)")
        }
        audit = try AuditLog(store: store, journal: journal, logger: Logger(label: "lalo.audit"))
        access = try AccessControl(store: store, mapping: configuration.roles)
        sessions = try SessionRegistry(store: store, maxPerUser: configuration.server.maxSessionsPerUser)
        let rootKey = try RootKey.load(
            credentialName: configuration.secrets.credentialName, keyFile: configuration.keyFilePath)
        logger.info(
            "master key loaded",
            metadata: [
                "lalo.key.source": "\(rootKey.source.rawValue)",
                "lalo.key.location": "\(rootKey.location)",
            ])
        secrets = try SecretStore(
            store: store, root: rootKey, audit: audit, redactor: Redactor.shared,
            rotationBatchSize: configuration.secrets.rotationBatchSize)
        localModel =
            configuration.localModel.mode == .off
            ? nil
            : LocalModelServer(
                configuration: configuration.localModel, python: configuration.localPython,
                stateDirectory: configuration.store.stateDirectory, enabled: configuration.localModelWanted,
                logger: Logger(label: "lalo.localmodel"))
        models = ModelRouter(
            configuration: configuration, secrets: secrets, local: localModel, store: store,
            redactor: Redactor.shared, logger: Logger(label: "lalo.models"))
        sandbox = Sandbox(configuration: configuration)
        tools = ToolRegistry(
            tools: [FileTool(), HTTPRequestTool(secrets: secrets), CodeRunTool(sandbox: sandbox)], store: store,
            audit: audit, redactor: Redactor.shared)
        workflows = WorkflowEngine.make(
            configuration: configuration, store: store, models: models, tools: tools,
            logger: Logger(label: "lalo.workflow"))
        registry = .handlers(of: self, startedAt: Date(), socketPath: socketPath, socketActivated: socketActivated)
        guard registry.missing.isEmpty else {
            throw StartupError("methods without handlers: \(registry.missing.joined(separator: ", "))")
        }
    }

    /// The dispatcher over these handlers: permission, schema, the audit record of every call.
    func dispatcher(isDraining: @escaping @Sendable () -> Bool = { false }) -> Dispatcher {
        Dispatcher(
            registry: registry, access: access, audit: audit, logger: Logger(label: "lalo.rpc"),
            isDraining: isDraining)
    }
}
