import Logging
import NIOCore
import Shared

/// Turns one request line into at most one response line: parse, validate, check permission,
/// validate params, run the handler, audit, answer — in that order, for every call.
struct Dispatcher: Sendable {
    let registry: MethodRegistry
    let access: AccessControl
    let audit: AuditLog
    let logger: Logger
    let isDraining: @Sendable () -> Bool

    /// Handles one parsed line. Returns the bytes to send (without newline) or nil for no reply.
    func handle(parsed: Result<JSONValue, JSONParser.Failure>, session: Session, sink: NotificationSink) async
        -> [UInt8]?
    {
        switch parsed {
        case .success(let value):
            return await handle(parsed: value, session: session, sink: sink)
        case .failure(let failure):
            let rpcError = RPCError.parseError(failure.description)
            await record(session: session, method: "", params: nil, outcome: .failure(rpcError), micros: 0)
            return JSONWriter.bytes(RPCResponse(id: .null, outcome: .failure(rpcError)).json)
        }
    }

    func handle(parsed: JSONValue, session: Session, sink: NotificationSink) async -> [UInt8]? {
        guard case .array(let batch) = parsed else {
            return await handleOne(parsed, session: session, sink: sink).map { JSONWriter.bytes($0.json) }
        }
        if batch.isEmpty {
            let error = RPCError.invalidRequest("empty batch")
            await record(session: session, method: "", params: nil, outcome: .failure(error), micros: 0)
            return JSONWriter.bytes(RPCResponse(id: .null, outcome: .failure(error)).json)
        }
        // Batch members run concurrently; responses keep the batch order (the spec allows any
        // order, but a stable one is kinder to people reading socat output).
        let responses = await withTaskGroup(of: (Int, RPCResponse?).self) { group in
            for (index, element) in batch.enumerated() {
                group.addTask { (index, await handleOne(element, session: session, sink: sink)) }
            }
            var collected = [RPCResponse?](repeating: nil, count: batch.count)
            for await (index, response) in group { collected[index] = response }
            return collected.compactMap { $0 }
        }
        // A batch of notifications only gets no reply at all (JSON-RPC 2.0 §6).
        if responses.isEmpty { return nil }
        return JSONWriter.bytes(.array(responses.map(\.json)))
    }

    /// One request object of a line or batch.
    func handleOne(_ value: JSONValue, session: Session, sink: NotificationSink) async -> RPCResponse? {
        let request: RPCRequest
        switch RPCRequest.validate(value) {
        case .success(let valid):
            request = valid
        case .failure(let invalid):
            await record(
                session: session, method: value["method"]?.stringValue ?? "", params: nil,
                outcome: .failure(invalid.error), micros: 0)
            return RPCResponse(id: invalid.id, outcome: .failure(invalid.error))
        }
        let start = ContinuousClock.now
        let outcome = await run(request, session: session, sink: sink)
        let elapsed = ContinuousClock.now - start
        let micros = elapsed.components.seconds * 1_000_000 + elapsed.components.attoseconds / 1_000_000_000_000
        let audited = await record(
            session: session, method: request.method, params: request.params, outcome: outcome,
            micros: micros)
        guard let id = request.id else { return nil }
        guard audited else {
            return RPCResponse(
                id: id, outcome: .failure(.internalError("the audit log is unavailable; see the daemon log")))
        }
        return RPCResponse(id: id, outcome: outcome)
    }

    private func run(_ request: RPCRequest, session: Session, sink: NotificationSink) async -> Result<
        JSONValue, RPCError
    > {
        guard let entry = registry.entry(request.method) else {
            return .failure(.methodNotFound(request.method))
        }
        let (roles, permissions) = session.access(access)
        guard permissions.contains(entry.descriptor.permission) else {
            let who = "uid \(session.principal.uid) (\(session.principal.user))"
            let has = roles.isEmpty ? "has no role on this daemon" : "has roles \(roles.joined(separator: ", "))"
            return .failure(
                .permissionDenied(
                    "permission denied: \(request.method) needs \(entry.descriptor.permission); \(who) \(has)"))
        }
        if isDraining() {
            return .failure(.unavailable("laloD is shutting down; retry after it restarts"))
        }
        if case .array = request.params {
            return .failure(.invalidParams("params must be an object (by-name parameters)", field: "params"))
        }
        do {
            try entry.descriptor.paramsSchema.validate(request.params ?? [:])
        } catch {
            return .failure(error)
        }
        let context = MethodContext(
            session: session, requestID: request.id, permissions: permissions, notifications: sink)
        do {
            return .success(try await entry.handler(request.params, context))
        } catch let error as any DaemonError {
            // The one place a subsystem's error becomes the wire's (Server/DaemonError+RPC.swift).
            return .failure(RPCError(error))
        } catch {
            // Never forward an arbitrary error: it may carry paths, SQL or worse.
            logger.error(
                "method failed", error: error,
                metadata: [
                    "lalo.rpc.method": "\(request.method)",
                    "lalo.session.id": "\(session.id)",
                ])
            return .failure(.internalError())
        }
    }

    /// Params with the method's secret fields (`secret.set`'s value) replaced by a placeholder, so
    /// not even a hash of a secret reaches the audit log.
    static func withoutSecrets(_ params: JSONValue?, method: String) -> JSONValue? {
        guard let secretFields = MethodCatalogue.descriptor(named: method)?.secretParams, !secretFields.isEmpty,
            case .object(var object)? = params
        else { return params }
        for field in secretFields where object[field] != nil { object[field] = .string("[REDACTED]") }
        return .object(object)
    }

    /// Appends the call's audit entry; false when the audit log could not take it.
    @discardableResult
    func record(
        session: Session, method: String, params: JSONValue?, outcome: Result<JSONValue, RPCError>,
        micros: Int64
    ) async -> Bool {
        let errorKind: ErrorKind?
        if case .failure(let error) = outcome { errorKind = error.kind } else { errorKind = nil }
        let denied = errorKind == .permissionDenied
        let event = AuditEvent(
            kind: denied ? .denial : .call, uid: Int64(session.principal.uid), user: session.principal.user,
            pid: session.principal.pid, sessionId: session.id, method: String(method.prefix(128)),
            outcome: denied ? .denied : (errorKind == nil ? .ok : .error), errorKind: errorKind,
            durationMicros: micros, paramsDigest: digestOfParams(Self.withoutSecrets(params, method: method)),
            detail: nil)
        do {
            try await audit.append(event)
            return true
        } catch {
            logger.error("audit append failed", error: error, metadata: ["lalo.rpc.method": "\(method)"])
            return false
        }
    }
}
