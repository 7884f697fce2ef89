import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// Why a client could not talk to the daemon at all (as opposed to an ``RPCError`` answer).
public enum ClientError: Error, Sendable, CustomStringConvertible {
    /// Nothing listens at the path, or the path does not exist.
    case daemonNotRunning(path: String, reason: String)
    /// The socket exists but the caller may not open it (mode 0660, group `lalo`).
    case socketNotAccessible(path: String, reason: String)
    /// The connection broke or the daemon closed it.
    case connectionClosed(String)
    /// The daemon sent something that is not a JSON-RPC response.
    case protocolViolation(String)

    public var description: String {
        switch self {
        case .daemonNotRunning(let path, let reason):
            return
                "laloD is not running (no daemon at \(path): \(reason)). Start it with 'systemctl start laloD.socket' or pass --socket."
        case .socketNotAccessible(let path, let reason):
            return "cannot open \(path): \(reason). Ask an admin to add you to the 'lalo' group."
        case .connectionClosed(let reason):
            return "connection to laloD closed: \(reason)"
        case .protocolViolation(let reason):
            return "laloD sent an invalid reply: \(reason)"
        }
    }
}

/// A small blocking JSON-RPC client over the daemon's Unix socket.
///
/// Used by `laloctl`, the tests and the benchmark. It is deliberately synchronous: a CLI makes one
/// call at a time, and a blocking socket is the easiest thing to reason about when a test needs
/// exact control over what bytes go out. Not thread-safe; use one client per thread.
public final class LaloClient {
    public let socketPath: String
    private var fd: Int32
    private var buffer: [UInt8] = []
    private var bufferStart = 0
    private var chunk = [UInt8](repeating: 0, count: 65536)
    private var nextID: Int64 = 1

    public init(socketPath: String) throws(ClientError) {
        self.socketPath = socketPath
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw .daemonNotRunning(path: socketPath, reason: String(cString: strerror(errno))) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let pathBytes = Array(socketPath.utf8)
        guard pathBytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            Glibc.close(fd)
            fd = -1  // deinit runs after a throwing init too: never close the number twice
            throw .daemonNotRunning(path: socketPath, reason: "socket path too long")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: pathBytes)
            raw[pathBytes.count] = 0
        }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        if result != 0 {
            let code = errno
            Glibc.close(fd)
            // deinit runs after this throwing init too; closing again could close a descriptor
            // another thread has just been given the same number for.
            fd = -1
            let reason = String(cString: strerror(code))
            if code == EACCES || code == EPERM { throw .socketNotAccessible(path: socketPath, reason: reason) }
            throw .daemonNotRunning(path: socketPath, reason: reason)
        }
        buffer.reserveCapacity(64 * 1024)
    }

    deinit { if fd >= 0 { Glibc.close(fd) } }

    public func close() {
        if fd >= 0 {
            Glibc.close(fd)
            fd = -1
        }
    }

    /// Sets a receive timeout so a test never hangs on a daemon that does not answer.
    public func setReceiveTimeout(seconds: Double) {
        var tv = timeval(tv_sec: Int(seconds), tv_usec: Int((seconds - Double(Int(seconds))) * 1_000_000))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    // MARK: Raw lines

    /// Sends bytes exactly as given (tests use this for malformed input). Adds no newline.
    public func sendRaw(_ bytes: [UInt8]) throws(ClientError) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { raw in
                send(fd, raw.baseAddress! + offset, raw.count - offset, Int32(MSG_NOSIGNAL))
            }
            if written < 0 {
                if errno == EINTR { continue }
                throw .connectionClosed(String(cString: strerror(errno)))
            }
            offset += written
        }
    }

    public func sendLine(_ text: String) throws(ClientError) {
        try sendRaw(Array(text.utf8) + [0x0A])
    }

    /// Reads one newline-terminated line (without the newline), or nil at end of stream.
    public func readLine() throws(ClientError) -> [UInt8]? {
        while true {
            if let newline = buffer[bufferStart...].firstIndex(of: 0x0A) {
                let line = Array(buffer[bufferStart..<newline])
                bufferStart = newline + 1
                if bufferStart > 65536, bufferStart * 2 > buffer.count {
                    buffer.removeFirst(bufferStart)
                    bufferStart = 0
                }
                return line
            }
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN || errno == EWOULDBLOCK { throw .connectionClosed("timed out waiting for laloD") }
                throw .connectionClosed(String(cString: strerror(errno)))
            }
            if n == 0 {
                if bufferStart < buffer.count { throw .connectionClosed("daemon closed the connection mid-line") }
                return nil
            }
            buffer.append(contentsOf: chunk[0..<n])
        }
    }

    /// Reads one line and parses it as JSON.
    public func readJSON() throws(ClientError) -> JSONValue? {
        guard let line = try readLine() else { return nil }
        do {
            return try JSONParser.parse(line, maximumDepth: 512)
        } catch {
            throw .protocolViolation(error.description)
        }
    }

    // MARK: Calls

    /// Calls a method and returns its result, delivering any notifications that arrive first.
    ///
    /// - Throws: ``RPCError`` when the daemon answers with an error, ``ClientError`` when the
    ///   connection fails.
    public func call(
        _ method: String, params: JSONValue? = nil,
        onNotification: ((String, JSONValue) -> Void)? = nil
    ) throws -> JSONValue {
        let id = nextID
        nextID += 1
        try sendRaw(JSONWriter.bytes(RPCRequest(id: .int(id), method: method, params: params).json) + [0x0A])
        while true {
            guard let message = try readJSON() else {
                throw ClientError.connectionClosed("daemon closed the connection before answering")
            }
            if message["id"] == nil, let notified = message["method"]?.stringValue {
                onNotification?(notified, message["params"] ?? .null)
                continue
            }
            if let error = message["error"] {
                if message["id"] == .int(id) || message["id"] == .null { throw RPCError(json: error) }
            }
            guard message["id"] == .int(id) else { continue }
            guard let result = message["result"] else {
                throw ClientError.protocolViolation("response has neither result nor error")
            }
            return result
        }
    }

    /// Typed call through the method catalogue.
    public func call<M: RPCMethod>(
        _ method: M.Type, _ params: M.Params,
        onNotification: ((String, JSONValue) -> Void)? = nil
    ) throws -> M.Result {
        let result = try callForJSON(method, params, onNotification: onNotification)
        return try JSONDecoder().decode(M.Result.self, from: Data(JSONWriter.bytes(result)))
    }

    /// A typed call whose result is handed back as the daemon sent it: for output that must
    /// pass the daemon's JSON through unchanged (`laloctl -o json`), fields this client's
    /// types do not know included. A method without params is sent without `params`.
    public func callForJSON<M: RPCMethod>(
        _ method: M.Type, _ params: M.Params,
        onNotification: ((String, JSONValue) -> Void)? = nil
    ) throws -> JSONValue {
        // `.none`, not the literal nil, which JSONValue would take as `.null`.
        let encodedParams: JSONValue? =
            M.Params.self == NoParams.self ? .none : try JSONParser.parse(try JSONEncoder().encode(params))
        return try call(M.name, params: encodedParams, onNotification: onNotification)
    }
}

extension LaloClient {
    public func call<M: RPCMethod>(_ method: M.Type) throws -> M.Result where M.Params == NoParams {
        try call(method, NoParams())
    }
}
