import Foundation
import Shared

/// What a handler gets besides its params: the caller's session and a way to stream notifications.
struct MethodContext: Sendable {
    var session: Session
    var requestID: RPCID?
    var permissions: Set<Permission>
    var notifications: NotificationSink
}

/// Sends notifications to the caller's connection, waiting while the client is slow to read.
struct NotificationSink: Sendable {
    let send: @Sendable (RPCNotification) async throws -> Void
}

/// Method name → descriptor and handler. Built once at start-up from the catalogue.
struct MethodRegistry: Sendable {
    typealias Handler = @Sendable (JSONValue?, MethodContext) async throws -> JSONValue

    struct Entry: Sendable {
        var descriptor: MethodDescriptor
        var handler: Handler
    }

    private(set) var entries: [String: Entry] = [:]

    /// Registers a typed handler. Params are schema-checked by the dispatcher before this decodes them.
    mutating func register<M: RPCMethod>(
        _ method: M.Type, _ handler: @escaping @Sendable (M.Params, MethodContext) async throws -> M.Result
    ) {
        entries[M.name] = Entry(descriptor: M.descriptor) { params, context in
            let decoded: M.Params
            if M.Params.self == NoParams.self {
                decoded = NoParams() as! M.Params
            } else {
                do {
                    decoded = try JSONDecoder().decode(M.Params.self, from: Data(JSONWriter.bytes(params ?? [:])))
                } catch {
                    // The schema already matched, so this is a type the schema cannot express
                    // (an integer too large for Int32, say).
                    throw RPCError.invalidParams("params do not match the method's types", field: "params")
                }
            }
            return try JSONValueEncoder().encode(try await handler(decoded, context))
        }
    }

    func entry(_ name: String) -> Entry? { entries[name] }

    /// Names in the catalogue without a handler; the daemon refuses to start if there are any.
    var missing: [String] {
        MethodCatalogue.all.map(\.name).filter { entries[$0] == nil }
    }
}
