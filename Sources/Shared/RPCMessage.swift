/// A request id: string, number or null, echoed back exactly (JSON-RPC 2.0 §4).
public enum RPCID: Sendable, Hashable, CustomStringConvertible {
    case string(String)
    case int(Int64)
    case double(Double)
    case null

    public var json: JSONValue {
        switch self {
        case .string(let s): return .string(s)
        case .int(let i): return .int(i)
        case .double(let d): return .double(d)
        case .null: return .null
        }
    }

    public var description: String { JSONWriter.string(json) }
}

/// One validated request object. `id == nil` means a notification: it is processed, never answered.
public struct RPCRequest: Sendable {
    public var id: RPCID?
    public var method: String
    public var params: JSONValue?

    public init(id: RPCID?, method: String, params: JSONValue?) {
        self.id = id
        self.method = method
        self.params = params
    }

    public var isNotification: Bool { id == nil }

    /// Validates a parsed JSON value as a request object.
    ///
    /// - Returns: the request, or the error to answer with and the id to answer it under
    ///   (null when the id itself could not be read, as the spec requires).
    public static func validate(_ value: JSONValue) -> Result<RPCRequest, InvalidRequest> {
        guard case .object(let object) = value else {
            return .failure(.init(id: .null, error: .invalidRequest("a request must be a JSON object")))
        }
        var id: RPCID? = nil
        if let rawID = object["id"] {
            switch rawID {
            case .string(let s): id = .string(s)
            case .int(let i): id = .int(i)
            case .double(let d): id = .double(d)
            case .null: id = .null
            default:
                return .failure(.init(id: .null, error: .invalidRequest("\"id\" must be a string, a number or null")))
            }
        }
        let answerID = id ?? .null
        guard object["jsonrpc"] == .string("2.0") else {
            return .failure(.init(id: answerID, error: .invalidRequest("\"jsonrpc\" must be exactly \"2.0\"")))
        }
        guard case .string(let method)? = object["method"] else {
            return .failure(.init(id: answerID, error: .invalidRequest("\"method\" must be a string")))
        }
        let params = object["params"]
        switch params {
        case nil, .object?, .array?: break
        default:
            return .failure(.init(id: answerID, error: .invalidRequest("\"params\" must be an object or an array")))
        }
        for key in object.keys where !["jsonrpc", "id", "method", "params"].contains(key) {
            return .failure(.init(id: answerID, error: .invalidRequest("unknown member \"\(key)\"")))
        }
        return .success(RPCRequest(id: id, method: method, params: params))
    }

    public struct InvalidRequest: Error, Sendable {
        public var id: RPCID
        public var error: RPCError
    }

    public var json: JSONValue {
        var object: [String: JSONValue] = ["jsonrpc": "2.0", "method": .string(method)]
        if let id { object["id"] = id.json }
        if let params { object["params"] = params }
        return .object(object)
    }
}

/// A response: exactly one of result or error.
public struct RPCResponse: Sendable {
    public var id: RPCID
    public var outcome: Result<JSONValue, RPCError>

    public init(id: RPCID, outcome: Result<JSONValue, RPCError>) {
        self.id = id
        self.outcome = outcome
    }

    public var json: JSONValue {
        switch outcome {
        case .success(let result): return ["jsonrpc": "2.0", "id": id.json, "result": result]
        case .failure(let error): return ["jsonrpc": "2.0", "id": id.json, "error": error.json]
        }
    }
}

/// A server-to-client notification carrying a stream item (export chunk, event, progress).
public struct RPCNotification: Sendable {
    public var method: String
    public var params: JSONValue

    public init(method: String, params: JSONValue) {
        self.method = method
        self.params = params
    }

    public var json: JSONValue { ["jsonrpc": "2.0", "method": .string(method), "params": params] }
}
