import Foundation
import Logging
import Shared

@testable import laloD

/// laloD's subsystems assembled in-process on a temporary state directory, for tests of one
/// component (a tool, the interpreter) without a daemon around it.
final class Subsystems: @unchecked Sendable {
    let directory: TemporaryDirectory
    let store: Store
    let audit: AuditLog
    let redactor: Redactor
    let secrets: SecretStore

    init(_ prefix: String, redactor: Redactor = Redactor()) throws {
        directory = TemporaryDirectory(prefix)
        store = try Store.open(directory: directory.file("state"), busyTimeoutMilliseconds: 5000)
        audit = try AuditLog(store: store, journal: nil, logger: Logger(label: "test"))
        self.redactor = redactor
        let root = try RootKey.load(
            credentialName: "none", keyFile: directory.file("state/master.key"), environment: [:])
        secrets = try SecretStore(store: store, root: root, audit: audit, redactor: redactor)
    }

    /// A model router sending each of `roles` (role → model name) to `server` as an
    /// OpenAI-compatible provider without retries; the local model is off.
    func models(_ server: ScriptedServer, roles: [ModelRole: String]) -> ModelRouter {
        var configuration = Configuration()
        configuration.localModel.mode = .off
        configuration.providers["scripted"] = Configuration.Provider(
            kind: .openai, baseURL: server.baseURL + "/v1", apiKey: nil,
            maxRetries: 0)
        for (role, model) in roles {
            configuration.models[role.rawValue] = Configuration.ModelBinding(provider: "scripted", model: model)
        }
        return ModelRouter(
            configuration: configuration, secrets: secrets, local: nil, store: store, redactor: redactor,
            logger: Logger(label: "test"))
    }
}
