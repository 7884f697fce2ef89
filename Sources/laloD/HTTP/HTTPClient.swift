import CCurl
import Foundation
import Synchronization

/// One HTTP request for ``HTTPClient``.
struct HTTPRequest: Sendable {
    var method = "GET"
    var url: String
    var headers: [(name: String, value: String)] = []
    var body: [UInt8]?
    var connectTimeout: Duration = .seconds(10)
    /// The whole transfer, streaming included.
    var timeout: Duration = .seconds(120)
    /// Talk HTTP over this Unix socket instead of TCP (Docker's API).
    var unixSocketPath: String?

    init(
        method: String = "GET", url: String, headers: [(name: String, value: String)] = [], body: [UInt8]? = nil,
        connectTimeout: Duration = .seconds(10), timeout: Duration = .seconds(120), unixSocketPath: String? = nil
    ) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.connectTimeout = connectTimeout
        self.timeout = timeout
        self.unixSocketPath = unixSocketPath
    }
}

/// Status and headers of a response.
struct HTTPResponseHead: Sendable {
    var status: Int
    /// Names lowercased, in arrival order.
    var headers: [(name: String, value: String)]

    func header(_ name: String) -> String? {
        let lower = name.lowercased()
        return headers.last { $0.name == lower }?.value
    }
}

/// Why a transfer failed, classified the way callers decide on retries and error kinds.
struct HTTPError: Error, CustomStringConvertible, Sendable {
    enum Kind: Sendable, Equatable {
        /// Could not resolve or connect: nothing was sent.
        case connect
        /// The connect or total timeout ran out.
        case timeout
        /// The connection broke while sending or receiving (a stream cut mid-way, a reset).
        case transport
        /// The caller cancelled; the transfer was aborted.
        case cancelled
        /// The response was larger than the caller allows.
        case tooLarge
        /// A bad request (URL, option) — a bug or a misconfiguration, never retried.
        case invalid
    }

    var kind: Kind
    var message: String
    var curlCode: Int32?

    var description: String { message }
}

/// HTTP over libcurl: one easy handle per transfer (taken from a small pool so connections are
/// reused), driven by `curl_easy_perform` on a thread of its own — never on an event loop or the
/// cooperative pool, since it blocks. Bodies arrive as an `AsyncThrowingStream` of chunks;
/// cancelling the calling task, or dropping the stream, aborts the transfer from curl's own
/// callbacks (the write callback at once, the progress callback within a second when idle).
final class HTTPClient: Sendable {
    private struct Handle: @unchecked Sendable { var pointer: UnsafeMutableRawPointer }
    private let idle = Mutex<[Handle]>([])
    private let maxIdle: Int

    init(maxIdleHandles: Int = 8) {
        Self.globalInit
        maxIdle = maxIdleHandles
    }

    deinit {
        for handle in idle.withLock({ $0 }) { curl_easy_cleanup(handle.pointer) }
    }

    /// curl_global_init is not thread-safe in older libcurl; a static let runs it exactly once.
    private static let globalInit: Void = { curl_global_init(Int(CURL_GLOBAL_DEFAULT)) }()

    /// A response whose body is still arriving.
    struct Streaming: Sendable {
        var head: HTTPResponseHead
        var body: AsyncThrowingStream<[UInt8], any Error>
    }

    /// Starts a transfer and returns once the response head is in (or the transfer failed).
    func stream(_ request: HTTPRequest) async throws -> Streaming {
        let handle = idle.withLock { $0.popLast() } ?? Handle(pointer: curl_easy_init())
        let transfer: CurlTransfer
        do {
            transfer = try CurlTransfer(handle: handle.pointer, request: request)
        } catch {
            recycle(handle)
            throw error
        }
        let (body, continuation) = AsyncThrowingStream<[UInt8], any Error>.makeStream()
        continuation.onTermination = { reason in
            if case .cancelled = reason { transfer.abort() }
        }
        let head = try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation {
                (headContinuation: CheckedContinuation<HTTPResponseHead, any Error>) in
                transfer.start(head: headContinuation, body: continuation) { [weak self] in
                    self?.recycle(Handle(pointer: handle.pointer))
                }
            }
        } onCancel: {
            transfer.abort()
        }
        return Streaming(head: head, body: body)
    }

    /// The whole response, refusing bodies larger than `maxBytes`.
    func fetch(_ request: HTTPRequest, maxBytes: Int = 32 << 20) async throws -> (HTTPResponseHead, [UInt8]) {
        let response = try await stream(request)
        var bytes: [UInt8] = []
        for try await chunk in response.body {
            bytes += chunk
            if bytes.count > maxBytes {
                throw HTTPError(kind: .tooLarge, message: "response larger than \(maxBytes) bytes")
            }
        }
        if Task.isCancelled { throw HTTPError(kind: .cancelled, message: "cancelled") }
        return (response.head, bytes)
    }

    private func recycle(_ handle: Handle) {
        // curl_easy_reset keeps the handle's connection cache, which is the point of pooling.
        curl_easy_reset(handle.pointer)
        let kept = idle.withLock { handles -> Bool in
            guard handles.count < maxIdle else { return false }
            handles.append(handle)
            return true
        }
        if !kept { curl_easy_cleanup(handle.pointer) }
    }
}

/// One transfer's state, shared between the async caller and curl's thread and callbacks.
private final class CurlTransfer: @unchecked Sendable {
    private let handle: UnsafeMutableRawPointer
    private var headerList: UnsafeMutablePointer<curl_slist>?
    private let errorBuffer = UnsafeMutablePointer<CChar>.allocate(capacity: Int(CURL_ERROR_SIZE) + 1)
    private let aborted = Atomic<Bool>(false)

    private struct State {
        var head: CheckedContinuation<HTTPResponseHead, any Error>?
        var body: AsyncThrowingStream<[UInt8], any Error>.Continuation?
        var headers: [(name: String, value: String)] = []
    }
    private let state = Mutex(State())

    init(handle: UnsafeMutableRawPointer, request: HTTPRequest) throws {
        self.handle = handle
        errorBuffer.initialize(to: 0)
        func check(_ code: CURLcode, _ what: String) throws {
            guard code == CURLE_OK else {
                throw HTTPError(
                    kind: .invalid, message: "\(what): \(String(cString: curl_easy_strerror(code)))",
                    curlCode: Int32(code.rawValue))
            }
        }
        try check(lalo_curl_setopt_string(handle, CURLOPT_URL, request.url), "bad URL")
        try check(lalo_curl_setopt_long(handle, CURLOPT_NOSIGNAL, 1), "NOSIGNAL")
        try check(lalo_curl_setopt_long(handle, CURLOPT_FOLLOWLOCATION, 0), "FOLLOWLOCATION")
        try check(lalo_curl_setopt_string(handle, CURLOPT_PROTOCOLS_STR, "http,https"), "PROTOCOLS")
        // Loopback (the local model, test servers) never goes through a proxy.
        try check(lalo_curl_setopt_string(handle, CURLOPT_NOPROXY, "localhost,127.0.0.1,::1"), "NOPROXY")
        try check(
            lalo_curl_setopt_long(handle, CURLOPT_CONNECTTIMEOUT_MS, Self.milliseconds(request.connectTimeout)),
            "timeout")
        try check(lalo_curl_setopt_long(handle, CURLOPT_TIMEOUT_MS, Self.milliseconds(request.timeout)), "timeout")
        try check(lalo_curl_setopt_long(handle, CURLOPT_TCP_NODELAY, 1), "NODELAY")
        try check(lalo_curl_setopt_pointer(handle, CURLOPT_ERRORBUFFER, errorBuffer), "ERRORBUFFER")
        try check(lalo_curl_setopt_string(handle, CURLOPT_ACCEPT_ENCODING, ""), "ACCEPT_ENCODING")
        if let socket = request.unixSocketPath {
            try check(lalo_curl_setopt_string(handle, CURLOPT_UNIX_SOCKET_PATH, socket), "UNIX_SOCKET_PATH")
        }
        switch request.method {
        case "GET": break
        case "POST":
            try check(lalo_curl_setopt_long(handle, CURLOPT_POST, 1), "POST")
        default:
            try check(lalo_curl_setopt_string(handle, CURLOPT_CUSTOMREQUEST, request.method), "method")
        }
        if let body = request.body {
            try check(lalo_curl_setopt_off(handle, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body.count)), "body size")
            try body.withUnsafeBytes { raw in
                // COPYPOSTFIELDS copies, so the array need not outlive this call.
                let base = UnsafeMutableRawPointer(mutating: raw.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!)
                try check(lalo_curl_setopt_pointer(handle, CURLOPT_COPYPOSTFIELDS, base), "body")
            }
        }
        var list: UnsafeMutablePointer<curl_slist>? = nil
        // "Expect:" disables curl's 100-continue wait (up to a second) on larger bodies.
        for line in request.headers.map({ "\($0.name): \($0.value)" }) + ["Expect:"] {
            list = curl_slist_append(list, line)
        }
        headerList = list
        try check(lalo_curl_setopt_slist(handle, CURLOPT_HTTPHEADER, list), "headers")
        try check(lalo_curl_setopt_write_function(handle, curlWrite), "write callback")
        try check(lalo_curl_setopt_header_function(handle, curlHeader), "header callback")
        try check(lalo_curl_setopt_progress_function(handle, curlProgress), "progress callback")
        try check(lalo_curl_setopt_long(handle, CURLOPT_NOPROGRESS, 0), "NOPROGRESS")
    }

    deinit {
        curl_slist_free_all(headerList)
        errorBuffer.deallocate()
    }

    private static func milliseconds(_ duration: Duration) -> Int {
        let (seconds, attoseconds) = duration.components
        return max(1, Int(seconds) * 1000 + Int(attoseconds / 1_000_000_000_000_000))
    }

    func abort() { aborted.store(true, ordering: .relaxed) }
    var isAborted: Bool { aborted.load(ordering: .relaxed) }

    func start(
        head: CheckedContinuation<HTTPResponseHead, any Error>,
        body: AsyncThrowingStream<[UInt8], any Error>.Continuation, done: @escaping @Sendable () -> Void
    ) {
        state.withLock {
            $0.head = head
            $0.body = body
        }
        let context = Unmanaged.passRetained(self)
        for option in [CURLOPT_WRITEDATA, CURLOPT_HEADERDATA, CURLOPT_XFERINFODATA] {
            _ = lalo_curl_setopt_pointer(handle, option, context.toOpaque())
        }
        let thread = Thread { [self] in
            let code = curl_easy_perform(handle)
            finish(code)
            context.release()
            done()
        }
        thread.name = "lalo.curl"
        thread.start()
    }

    private func finish(_ code: CURLcode) {
        let error: HTTPError?
        if code == CURLE_OK {
            error = nil
        } else {
            let detail = String(cString: errorBuffer)
            let message = detail.isEmpty ? String(cString: curl_easy_strerror(code)) : detail
            let kind: HTTPError.Kind
            switch code {
            case _ where isAborted: kind = .cancelled
            case CURLE_OPERATION_TIMEDOUT: kind = .timeout
            case CURLE_COULDNT_CONNECT, CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY: kind = .connect
            case CURLE_URL_MALFORMAT, CURLE_UNSUPPORTED_PROTOCOL: kind = .invalid
            default: kind = .transport
            }
            error = HTTPError(
                kind: kind, message: kind == .cancelled ? "cancelled" : message, curlCode: Int32(code.rawValue))
        }
        deliverHead()
        let (head, body) = state.withLock { state in
            defer {
                state.head = nil
                state.body = nil
            }
            return (state.head, state.body)
        }
        if let head {
            // Failed before any response arrived.
            head.resume(throwing: error ?? HTTPError(kind: .transport, message: "no response"))
        }
        if let error { body?.finish(throwing: error) } else { body?.finish() }
    }

    /// Resumes the caller with status and headers, once: at the end of a final response's headers,
    /// or at the first body byte or the end of the transfer. (A response whose body starts much
    /// later — Docker's attach stream — is then in the caller's hands before it arrives.)
    func deliverHead() {
        var status = 0
        _ = lalo_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
        guard status >= 200 else { return }
        let (continuation, headers) = state.withLock { state in
            defer { state.head = nil }
            return (state.head, state.headers)
        }
        continuation?.resume(returning: HTTPResponseHead(status: status, headers: headers))
    }

    func receive(_ bytes: UnsafeRawBufferPointer) -> Bool {
        if isAborted { return false }
        deliverHead()
        let body = state.withLock { $0.body }
        body?.yield(Array(bytes))
        return true
    }

    func receiveHeader(_ line: String) {
        let trimmed = line.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.isEmpty {
            deliverHead()
            return
        }
        state.withLock { state in
            if trimmed.hasPrefix("HTTP/") {
                state.headers = []  // a new response (after 100 Continue or a redirect)
            } else if let colon = trimmed.firstIndex(of: ":") {
                let name = trimmed[..<colon].lowercased()
                let value = trimmed[trimmed.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                state.headers.append((name: name, value: value))
            }
        }
    }
}

private func curlWrite(
    _ data: UnsafeMutablePointer<CChar>?, _ size: Int, _ count: Int,
    _ context: UnsafeMutableRawPointer?
) -> Int {
    guard let context else { return 0 }
    let transfer = Unmanaged<CurlTransfer>.fromOpaque(context).takeUnretainedValue()
    let total = size * count
    guard transfer.receive(UnsafeRawBufferPointer(start: data, count: total)) else { return 0 }
    return total
}

private func curlHeader(
    _ data: UnsafeMutablePointer<CChar>?, _ size: Int, _ count: Int,
    _ context: UnsafeMutableRawPointer?
) -> Int {
    guard let context, let data else { return 0 }
    let transfer = Unmanaged<CurlTransfer>.fromOpaque(context).takeUnretainedValue()
    let total = size * count
    let line = String(decoding: UnsafeRawBufferPointer(start: data, count: total), as: UTF8.self)
    transfer.receiveHeader(line)
    return total
}

private func curlProgress(
    _ context: UnsafeMutableRawPointer?, _ dltotal: curl_off_t, _ dlnow: curl_off_t,
    _ ultotal: curl_off_t, _ ulnow: curl_off_t
) -> Int32 {
    guard let context else { return 0 }
    return Unmanaged<CurlTransfer>.fromOpaque(context).takeUnretainedValue().isAborted ? 1 : 0
}
