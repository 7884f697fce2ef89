import Foundation
import Shared

/// Where and how a provider is reached: the part both clients share.
struct ProviderEndpoint: Sendable {
    var name: String
    /// Including the version prefix, e.g. `https://api.openai.com/v1`.
    var baseURL: String
    var connectTimeout: Duration = .seconds(10)
    var timeout: Duration = .seconds(120)
    var retry = RetryPolicy()
    /// Headers that carry the credential, resolved per request (reading the secret is audited).
    var authHeaders: @Sendable () async throws -> [(name: String, value: String)] = { [] }
    var extraHeaders: [(name: String, value: String)] = []
}

/// Sends provider requests with retries and turns every failure into a ``ProviderError``.
struct ProviderTransport: Sendable {
    let endpoint: ProviderEndpoint
    let http: HTTPClient
    let redactor: Redactor

    /// One attempt's failure: the error to report and whether another attempt may help.
    struct AttemptFailure: Error {
        var error: ProviderError
        var retryable: Bool
        var retryAfter: Duration?
    }

    /// Runs `operation` until it succeeds, fails for good, or the retries run out.
    func withRetries<T: Sendable>(_ operation: (_ attempt: Int) async throws -> T) async throws -> T {
        var attempt = 0
        while true {
            do {
                return try await operation(attempt)
            } catch let failure as AttemptFailure {
                var error = failure.error
                error.retries = attempt
                guard failure.retryable, attempt < endpoint.retry.maxRetries else { throw error }
                if let after = failure.retryAfter, after > endpoint.retry.maxRetryAfter { throw error }
                try await Task.sleep(for: endpoint.retry.delay(attempt: attempt, retryAfter: failure.retryAfter))
                attempt += 1
            }
        }
    }

    /// A chat call with retries, reporting how many attempts were retried.
    func chatWithRetries(_ attempt: () async throws -> ChatResult) async throws -> ChatResult {
        try await withRetries { number in
            var result = try await attempt()
            result.retries = number
            return result
        }
    }

    /// A transfer that failed while a stream was being read: retried only if nothing had been
    /// passed on yet (a retry would otherwise repeat text the caller has already shown).
    func streamBroke(_ error: HTTPError, afterDeltas deltas: Int) -> Error {
        let classified = classify(error)
        guard var failure = classified as? AttemptFailure else { return classified }
        failure.error.message = "provider \(endpoint.name): the stream broke after \(deltas) deltas: \(error.message)"
        failure.retryable = failure.retryable && deltas == 0
        return failure
    }

    /// Starts a request; a non-2xx status or a transport failure becomes an ``AttemptFailure``.
    func open(_ method: String, _ path: String, body: JSONValue?, accept: String = "application/json") async throws
        -> HTTPClient.Streaming
    {
        var headers: [(name: String, value: String)] = [("Accept", accept)]
        if body != nil { headers.append(("Content-Type", "application/json")) }
        headers += try await endpoint.authHeaders()
        headers += endpoint.extraHeaders
        let request = HTTPRequest(
            method: method, url: endpoint.baseURL + path, headers: headers,
            body: body.map(JSONWriter.bytes), connectTimeout: endpoint.connectTimeout,
            timeout: endpoint.timeout)
        let response: HTTPClient.Streaming
        do {
            response = try await http.stream(request)
        } catch let error as HTTPError {
            throw classify(error)
        }
        guard !(200..<300).contains(response.head.status) else { return response }
        var bytes: [UInt8] = []
        do {
            for try await chunk in response.body where bytes.count < 65536 { bytes += chunk }
        } catch {
            // The status already says what matters.
        }
        throw statusFailure(response.head, body: bytes)
    }

    /// A whole JSON response.
    func json(_ method: String, _ path: String, body: JSONValue?) async throws -> JSONValue {
        let response = try await open(method, path, body: body)
        var bytes: [UInt8] = []
        do {
            for try await chunk in response.body {
                bytes += chunk
                guard bytes.count <= 64 << 20 else { throw malformed("response larger than 64 MiB") }
            }
        } catch let error as HTTPError {
            throw classify(error)
        }
        try Task.checkCancellation()
        do {
            return try JSONParser.parse(bytes)
        } catch {
            throw malformed("the response is not valid JSON (\(error))")
        }
    }

    func classify(_ error: HTTPError) -> Error {
        switch error.kind {
        case .cancelled:
            return CancellationError()
        case .timeout:
            return AttemptFailure(
                error: ProviderError(kind: .timeout, message: "provider \(endpoint.name) timed out: \(error.message)"),
                retryable: false)
        case .connect, .transport:
            return AttemptFailure(
                error: ProviderError(
                    kind: .unavailable,
                    message: "provider \(endpoint.name) unreachable: \(redactor.redact(error.message))"),
                retryable: true)
        case .tooLarge, .invalid:
            return AttemptFailure(
                error: ProviderError(kind: .unavailable, message: "provider \(endpoint.name): \(error.message)"),
                retryable: false)
        }
    }

    func malformed(_ what: String) -> AttemptFailure {
        AttemptFailure(
            error: ProviderError(
                kind: .unavailable, message: "provider \(endpoint.name) sent a malformed answer: \(what)"),
            retryable: false)
    }

    private func statusFailure(_ head: HTTPResponseHead, body: [UInt8]) -> AttemptFailure {
        let status = head.status
        let text = providerMessage(body)
        let retryAfter = RetryPolicy.parseRetryAfter(head.header("retry-after"))
        func failure(_ kind: ErrorKind, _ summary: String, retryable: Bool) -> AttemptFailure {
            var error = ProviderError(
                kind: kind,
                message: "provider \(endpoint.name) \(summary) (HTTP \(status))\(text.isEmpty ? "" : ": \(text)")",
                status: status)
            error.retryAfterSeconds = retryAfter?.seconds
            return AttemptFailure(error: error, retryable: retryable, retryAfter: retryAfter)
        }
        switch status {
        case 429: return failure(.rateLimited, "is rate limiting", retryable: true)
        case 408: return failure(.timeout, "timed out", retryable: true)
        case 401, 403: return failure(.unavailable, "refused the credentials", retryable: false)
        case 500...599: return failure(.unavailable, "failed", retryable: true)
        default: return failure(.validationFailed, "refused the request", retryable: false)
        }
    }

    /// The provider's own error message (`error.message` in both APIs), redacted and shortened.
    private func providerMessage(_ body: [UInt8]) -> String {
        var text: String
        if let json = try? JSONParser.parse(body),
            let message = json["error"]?["message"]?.stringValue ?? json["message"]?.stringValue
        {
            text = message
        } else {
            text = String(decoding: body.prefix(300), as: UTF8.self)
        }
        text = text.replacingOccurrences(of: "\n", with: " ").trimmingCharacters(in: .whitespaces)
        if text.count > 300 { text = String(text.prefix(300)) + "…" }
        return redactor.redact(text)
    }
}
