/// One JSON-RPC method of the contract: its name, permission, parameter and result types and the
/// schemas that both validate requests and document them in `rpc.discover`.
public protocol RPCMethod: Sendable {
    associatedtype Params: Codable & Sendable
    associatedtype Result: Codable & Sendable

    static var name: String { get }
    static var summary: String { get }
    static var permission: Permission { get }
    static var paramsSchema: Schema { get }
    static var resultSchema: Schema { get }
    /// The notification method the call streams on the same connection before its result, if any.
    static var notification: String? { get }
    /// Top-level params whose values are secret: replaced by a placeholder before the params are
    /// digested for the audit log, so even a hash of a low-entropy secret never lands there.
    static var secretParams: [String] { get }
}

extension RPCMethod {
    public static var notification: String? { nil }
    public static var secretParams: [String] { [] }
    public static var descriptor: MethodDescriptor {
        MethodDescriptor(
            name: name, summary: summary, permission: permission, paramsSchema: paramsSchema,
            resultSchema: resultSchema, notification: notification,
            secretParams: secretParams)
    }
}

/// Parameters of a method that takes none.
public struct NoParams: Codable, Sendable, Equatable {
    public init() {}
}

/// The type-erased face of a method, for the registry and the OpenRPC generator.
public struct MethodDescriptor: Sendable {
    public var name: String
    public var summary: String
    public var permission: Permission
    public var paramsSchema: Schema
    public var resultSchema: Schema
    public var notification: String?
    public var secretParams: [String]
}
