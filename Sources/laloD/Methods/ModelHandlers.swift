import Foundation
import Shared

/// `model.*`: roles, provider health, test calls, completions and usage.
struct ModelHandlers: Sendable {
    let models: ModelRouter

    func register(_ registry: inout MethodRegistry) {
        registry.register(ModelList.self) { _, context in
            let actor = AuditActor(session: context.session)
            let roles = ModelRole.allCases.map { role in
                let binding = models.configuration.binding(for: role)
                let model = (try? models.resolve(role).model) ?? binding.model
                return ModelList.RoleInfo(role: role.rawValue, provider: binding.provider, model: model)
            }
            let names = Set(roles.map(\.provider)).union(models.providers.keys).sorted()
            // Providers are checked concurrently: one slow endpoint should not add up with the others.
            let providers = await withTaskGroup(of: ModelList.ProviderInfo.self) { group in
                for name in names {
                    group.addTask {
                        let health = await models.health(of: name, actor: actor)
                        let provider = models.providers[name]
                        return ModelList.ProviderInfo(
                            name: name, kind: provider?.kind ?? "openai", baseURL: provider?.baseURL ?? "",
                            apiKey: models.configuration.providers[name]?.apiKey, health: health.health,
                            detail: health.detail, latencyMicros: health.latency?.microseconds)
                    }
                }
                var all: [ModelList.ProviderInfo] = []
                for await info in group { all.append(info) }
                return all.sorted { $0.name < $1.name }
            }
            let local = models.local
            let status = local?.currentStatus
            return ModelList.Result(
                roles: roles, providers: providers,
                localModel: ModelList.LocalModelInfo(
                    state: status?.state.rawValue ?? "disabled", pid: status?.pid, port: local?.port,
                    restarts: status?.restarts ?? 0, modelFile: local?.modelFile ?? "", lastError: status?.lastError))
        }

        registry.register(ModelTest.self) { params, context in
            let role = ModelRole(rawValue: params.role ?? "chat")!
            let resolved = try models.resolve(role)
            let start = ContinuousClock.now
            let request = ChatRequest(
                model: resolved.model,
                messages: [ChatMessage(role: "user", content: "Reply with the single word: ready")],
                maxTokens: 16, temperature: 0)
            let result = try await models.complete(
                role: role, request: request, stream: true,
                actor: AuditActor(session: context.session))
            return ModelTest.Result(
                role: role.rawValue, provider: resolved.providerName, model: result.model,
                latencyMicros: (ContinuousClock.now - start).microseconds,
                timeToFirstTokenMicros: result.timeToFirstToken?.microseconds,
                reply: String(result.content.prefix(200)), usage: result.usage)
        }

        registry.register(ModelComplete.self) { params, context in
            let role = ModelRole(rawValue: params.role ?? "chat")!
            if let temperature = params.temperature, !(0...2).contains(temperature) {
                throw RPCError.invalidParams("temperature must be between 0 and 2", field: "params.temperature")
            }
            guard !params.messages.isEmpty else {
                throw RPCError.invalidParams("at least one message is needed", field: "params.messages")
            }
            if let schema = params.responseSchema, schema.objectValue == nil {
                throw RPCError.invalidParams(
                    "responseSchema must be a JSON Schema object", field: "params.responseSchema")
            }
            for (index, tool) in (params.tools ?? []).enumerated() where tool.parameters.objectValue == nil {
                throw RPCError.invalidParams(
                    "parameters must be a JSON Schema object", field: "params.tools[\(index)].parameters")
            }
            let request = ChatRequest(
                model: "", messages: params.messages, tools: params.tools ?? [],
                responseSchema: params.responseSchema, maxTokens: params.maxTokens,
                temperature: params.temperature)
            let requestID = context.requestID?.json ?? .null
            let sink = context.notifications
            let start = ContinuousClock.now
            let result: ChatResult
            do {
                result = try await models.complete(
                    role: role, request: request, stream: params.stream ?? true,
                    actor: AuditActor(session: context.session)
                ) { delta in
                    // A failed send means the client is gone: throwing stops the provider transfer
                    // instead of generating an answer nobody reads.
                    try await sink.send(
                        RPCNotification(
                            method: ModelComplete.notification!,
                            params: ["requestId": requestID, "delta": .string(delta)]))
                }
            } catch let error as any DaemonError {
                throw error
            } catch is CancellationError {
                throw RPCError(.unavailable, "the completion was cancelled")
            } catch {
                throw RPCError(
                    .unavailable, "the connection closed while the answer was streaming; the model call was stopped")
            }
            return ModelComplete.Result(
                content: result.content, toolCalls: result.toolCalls, finishReason: result.finishReason,
                usage: result.usage, provider: try models.resolve(role).providerName,
                model: result.model, timeToFirstTokenMicros: result.timeToFirstToken?.microseconds,
                durationMicros: (ContinuousClock.now - start).microseconds, retries: result.retries)
        }

        registry.register(ModelUsage.self) { params, context in
            await models.flushUsage()
            let me = context.session.principal
            var uid: Int64? = Int64(me.uid)
            if params.all == true || params.user != nil {
                guard context.permissions.contains(.modelManage) else {
                    throw RPCError.permissionDenied("seeing other users' usage needs model.manage")
                }
                if params.all == true {
                    uid = nil
                } else if let user = params.user {
                    guard let found = UserDatabase.userID(name: user) else {
                        throw RPCError.notFound("no such user \(user)", field: "params.user")
                    }
                    uid = Int64(found)
                }
            }
            let result = try models.usage(uid: uid, since: params.since, until: params.until)
            return ModelUsage.Result(
                rows: result,
                total: TokenUsage(
                    promptTokens: result.reduce(0) { $0 + $1.promptTokens },
                    completionTokens: result.reduce(0) { $0 + $1.completionTokens }))
        }
    }
}
