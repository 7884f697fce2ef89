import Foundation
import GRDB
import Logging
import Shared
import Synchronization

/// Maps each model role to its provider and model (docs/models.md#roles), builds the provider clients, and
/// runs calls for the rest of the daemon: redacting what comes back and recording token usage
/// per call, user and workflow.
final class ModelRouter: Sendable {
    /// Who a model call is for; the provider's API key read is audited under this actor.
    @TaskLocal static var actor: AuditActor = .daemon

    let configuration: Configuration
    let providers: [String: any ModelProvider]
    let local: LocalModelServer?
    let store: Store
    /// Usage rows (and the interpreter's cache rows) are written off the calls' path.
    let deferred: DeferredWriter
    private let redactor: Redactor
    private let logger: Logger

    init(
        configuration: Configuration, secrets: SecretStore, local: LocalModelServer?, store: Store, redactor: Redactor,
        logger: Logger
    ) {
        self.configuration = configuration
        self.local = local
        self.store = store
        self.redactor = redactor
        self.logger = logger
        deferred = DeferredWriter(store: store, logger: logger)
        let http = HTTPClient(maxIdleHandles: 16)
        var providers: [String: any ModelProvider] = [:]
        for (name, provider) in configuration.providers {
            var endpoint = ProviderEndpoint(name: name, baseURL: provider.baseURL)
            endpoint.connectTimeout = .seconds(provider.connectTimeoutSeconds)
            endpoint.timeout = .seconds(provider.timeoutSeconds)
            endpoint.retry = RetryPolicy(
                maxRetries: provider.maxRetries, baseDelay: .milliseconds(provider.retryBaseMilliseconds))
            if let reference = provider.apiKey {
                let secretName = String(reference.dropFirst("secret:".count))
                let kind = provider.kind
                endpoint.authHeaders = {
                    let key = try await secrets.reveal(
                        secretName, purpose: "model provider \(name)", by: ModelRouter.actor)
                    switch kind {
                    case .openai: return [("Authorization", "Bearer \(key)")]
                    case .anthropic: return [("x-api-key", key)]
                    }
                }
            }
            if provider.kind == .anthropic {
                endpoint.extraHeaders = [("anthropic-version", AnthropicClient.apiVersion)]
            }
            let transport = ProviderTransport(endpoint: endpoint, http: http, redactor: redactor)
            switch provider.kind {
            case .openai: providers[name] = OpenAIClient(transport: transport, schemaStyle: provider.schemaStyle)
            case .anthropic: providers[name] = AnthropicClient(transport: transport)
            }
        }
        if let local {
            var endpoint = ProviderEndpoint(
                name: Configuration.LocalModelConfiguration.providerName, baseURL: local.baseURL)
            endpoint.connectTimeout = .seconds(2)
            endpoint.timeout = .seconds(configuration.localModel.requestTimeoutSeconds)
            endpoint.retry = RetryPolicy(maxRetries: 2, baseDelay: .milliseconds(200))
            let key = local.apiKey
            endpoint.authHeaders = { [("Authorization", "Bearer \(key)")] }
            // llama-cpp-python's server takes a schema as {type: json_object, schema}, not json_schema.
            providers[endpoint.name] = OpenAIClient(
                transport: ProviderTransport(endpoint: endpoint, http: http, redactor: redactor),
                schemaStyle: .jsonObject)
        }
        self.providers = providers
    }

    struct Resolved: Sendable {
        var role: ModelRole
        var providerName: String
        var model: String
        var binding: Configuration.ModelBinding
        var provider: any ModelProvider
    }

    func resolve(_ role: ModelRole) throws(ModelError) -> Resolved {
        let binding = configuration.binding(for: role)
        let isLocal = binding.provider == Configuration.LocalModelConfiguration.providerName
        guard let provider = providers[binding.provider] else {
            throw ModelError(
                .unavailable,
                isLocal
                    ? "role \(role.rawValue) uses the local model, which is disabled ([localModel] mode = \"off\")"
                    : "role \(role.rawValue) uses provider \(binding.provider), which is not configured")
        }
        let model = binding.model.isEmpty && isLocal ? configuration.localModel.modelName : binding.model
        return Resolved(role: role, providerName: binding.provider, model: model, binding: binding, provider: provider)
    }

    /// One chat completion for `actor`. Deltas are redacted before `onDelta` sees them; the usage
    /// row is written whether the call succeeded or not.
    func complete(
        role: ModelRole, request: ChatRequest, stream: Bool, actor: AuditActor, workflowId: String? = nil,
        onDelta: @escaping @Sendable (String) async throws -> Void = { _ in }
    ) async throws -> ChatResult {
        let resolved = try resolve(role)
        var request = request
        request.model = resolved.model
        if request.maxTokens == nil { request.maxTokens = resolved.binding.maxTokens }
        if request.temperature == nil { request.temperature = resolved.binding.temperature }
        let onLocal = resolved.providerName == Configuration.LocalModelConfiguration.providerName ? local : nil
        if let local = onLocal {
            try await waitForLocal(local)
        }
        let delivered = Atomic<Bool>(false)
        let pidBefore = onLocal?.currentStatus.pid
        do {
            return try await attempt(resolved, request: request, stream: stream, actor: actor, workflowId: workflowId) {
                delta in
                delivered.store(true, ordering: .relaxed)
                try await onDelta(delta)
            }
        } catch let error as any DaemonError where error.kind == .unavailable {
            // The local server died under this request (a crash, not a refusal): once it is back,
            // the request is asked again, once. A server that crashes on every request ends
            // `failed` in its supervisor after a few of these, and then this says why.
            guard let local = onLocal, !delivered.load(ordering: .relaxed) else { throw error }
            try? await Task.sleep(for: .milliseconds(300))
            let now = local.currentStatus
            guard now.state != .running || now.pid != pidBefore else { throw error }
            try await waitForLocal(local)
            return try await attempt(
                resolved, request: request, stream: stream, actor: actor, workflowId: workflowId, onDelta: onDelta)
        }
    }

    /// Waits up to the start timeout for the local server to run; `unavailable` with its state
    /// and last error otherwise.
    private func waitForLocal(_ local: LocalModelServer) async throws {
        guard await local.waitUntilReady(timeout: .seconds(configuration.localModel.startTimeoutSeconds)) else {
            let status = local.currentStatus
            throw ModelError(
                .unavailable,
                "the local model server is \(status.state.rawValue)"
                    + (status.lastError.map { ": \($0)" } ?? ""))
        }
    }

    private func attempt(
        _ resolved: Resolved, request: ChatRequest, stream: Bool, actor: AuditActor, workflowId: String?,
        onDelta: @escaping @Sendable (String) async throws -> Void
    ) async throws -> ChatResult {
        let start = ContinuousClock.now
        let redactor = self.redactor
        let pending = StreamBuffer(redactor: redactor)
        do {
            var result = try await ModelRouter.$actor.withValue(actor) {
                try await resolved.provider.chat(request, stream: stream) { delta in
                    let safe = pending.feed(delta)
                    if !safe.isEmpty { try await onDelta(safe) }
                }
            }
            let rest = pending.finish()
            if !rest.isEmpty { try await onDelta(rest) }
            result.content = redactor.redact(result.content)
            result.toolCalls = result.toolCalls.map { call in
                ToolCall(id: call.id, name: call.name, arguments: redactor.redact(call.arguments))
            }
            await recordUsage(
                resolved, actor: actor, workflowId: workflowId, usage: result.usage,
                duration: ContinuousClock.now - start, outcome: "ok")
            return result
        } catch let error as ProviderError {
            await recordUsage(
                resolved, actor: actor, workflowId: workflowId, usage: TokenUsage(),
                duration: ContinuousClock.now - start, outcome: error.kind.rawValue)
            throw error.modelError
        } catch {
            // An RPC error (a missing API key secret), cancellation, or a delta handler that gave
            // up because its client went away.
            let outcome = (error as? any DaemonError)?.kind.rawValue ?? "cancelled"
            await recordUsage(
                resolved, actor: actor, workflowId: workflowId, usage: TokenUsage(),
                duration: ContinuousClock.now - start, outcome: outcome)
            throw error
        }
    }

    /// An answer that must be JSON matching `schema` (JSON-schema output where the provider has
    /// it, checked here regardless, since model output is never trusted). Asks up to `attempts`
    /// times; returns the first valid answer, or nil, and how many calls were made.
    func structured(
        role: ModelRole, messages: [ChatMessage], schema: JSONValue, maxTokens: Int, temperature: Double,
        attempts: Int, actor: AuditActor, workflowId: String? = nil
    ) async throws -> (answer: JSONValue?, calls: Int) {
        var calls = 0
        for _ in 0..<attempts {
            calls += 1
            let result = try await complete(
                role: role,
                request: ChatRequest(
                    model: "", messages: messages, responseSchema: schema, maxTokens: maxTokens,
                    temperature: temperature),
                stream: false, actor: actor, workflowId: workflowId)
            if let json = try? JSONParser.parse(result.content),
                JSONSchemaValidator.firstProblem(json, schema: schema) == nil
            {
                return (json, calls)
            }
        }
        return (nil, calls)
    }

    func embed(_ inputs: [String], actor: AuditActor, workflowId: String? = nil) async throws -> EmbeddingResult {
        let resolved = try resolve(.embedder)
        let start = ContinuousClock.now
        do {
            let result = try await ModelRouter.$actor.withValue(actor) {
                try await resolved.provider.embed(inputs, model: resolved.model)
            }
            await recordUsage(
                resolved, actor: actor, workflowId: workflowId, usage: result.usage,
                duration: ContinuousClock.now - start, outcome: "ok")
            return result
        } catch let error as ProviderError {
            throw error.modelError
        }
    }

    /// Health of one provider: the local server's own state, or a quick `models` listing.
    func health(of name: String, actor: AuditActor) async -> (health: String, detail: String?, latency: Duration?) {
        if name == Configuration.LocalModelConfiguration.providerName, let local {
            let status = local.currentStatus
            switch status.state {
            case .running: return ("ok", "pid \(status.pid.map(String.init) ?? "?"), port \(local.port)", nil)
            case .starting, .restarting: return ("starting", status.lastError, nil)
            case .disabled, .failed: return ("down", status.lastError, nil)
            }
        }
        guard let provider = providers[name] else { return ("down", "not configured", nil) }
        let start = ContinuousClock.now
        do {
            _ = try await ModelRouter.$actor.withValue(actor) {
                try await withTimeout(.seconds(5)) { try await provider.models() }
            }
            return ("ok", nil, ContinuousClock.now - start)
        } catch let error as ProviderError {
            return ("down", error.message, nil)
        } catch let error as any DaemonError {
            return ("down", error.message, nil)
        } catch {
            return ("down", "\(error)", nil)
        }
    }

    private func recordUsage(
        _ resolved: Resolved, actor: AuditActor, workflowId: String?, usage: TokenUsage,
        duration: Duration, outcome: String
    ) async {
        let micros = Timestamp.nowMicroseconds()
        let day = String(Timestamp.format(microsecondsSinceEpoch: micros).prefix(10))
        deferred.add(
            DeferredWriter.Statement(
                sql: """
                    INSERT INTO modelUsage (timeMicros, day, uid, user, workflowId, role, provider, model, promptTokens,
                        completionTokens, durationMicros, outcome) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    micros, day, actor.uid, actor.user, workflowId, resolved.role.rawValue, resolved.providerName,
                    resolved.model,
                    usage.promptTokens, usage.completionTokens, duration.microseconds, outcome,
                ]))
    }

    /// Every usage row recorded so far is in the store.
    func flushUsage() async { await deferred.flush() }
}

/// A ``StreamRedactor`` shared with a provider's delta callback.
final class StreamBuffer: Sendable {
    private let state: Mutex<StreamRedactor>
    init(redactor: Redactor) { state = Mutex(StreamRedactor(redactor: redactor)) }
    func feed(_ text: String) -> String { state.withLock { $0.feed(text) } }
    func finish() -> String { state.withLock { $0.finish() } }
}
