import Foundation
import Shared

/// A chat request in LALO's terms; each client turns it into its provider's wire format.
struct ChatRequest: Sendable {
    var model: String
    var messages: [ChatMessage]
    var tools: [ToolSpec] = []
    /// JSON Schema the answer must match.
    var responseSchema: JSONValue?
    var maxTokens: Int?
    var temperature: Double?
}

struct ChatResult: Sendable {
    var content: String
    var toolCalls: [ToolCall]
    /// `stop`, `length`, `toolCalls`, or the provider's own word for anything else.
    var finishReason: String
    var usage: TokenUsage
    var model: String
    /// Attempts retried after 429, 5xx or transport errors.
    var retries = 0
    /// From sending the request to the first content delta (streamed calls only).
    var timeToFirstToken: Duration?
}

struct EmbeddingResult: Sendable {
    var vectors: [[Double]]
    var usage: TokenUsage
    var model: String
}

/// One model provider (docs/models.md#providers). Both clients are real HTTP clients over ``HTTPClient``.
protocol ModelProvider: Sendable {
    var name: String { get }
    /// `openai` or `anthropic`.
    var kind: String { get }
    var baseURL: String { get }

    /// A chat completion. With `stream`, content deltas are passed to `onDelta` as they arrive.
    func chat(_ request: ChatRequest, stream: Bool, onDelta: @escaping @Sendable (String) async throws -> Void)
        async throws -> ChatResult
    func embed(_ inputs: [String], model: String) async throws -> EmbeddingResult
    func models() async throws -> [String]
}

/// A provider failure, already classified into the error kind the caller sees.
struct ProviderError: Error, CustomStringConvertible, Sendable {
    var kind: ErrorKind
    /// Safe to show: provider error text is redacted and shortened before it gets here.
    var message: String
    var status: Int?
    var retries: Int = 0
    var retryAfterSeconds: Double?

    var description: String { message }

    /// As the caller sees it: the kind and message, with the retries and the provider's status.
    var modelError: ModelError {
        var detail: [String: JSONValue] = ["retries": .int(Int64(retries))]
        if let status { detail["providerStatus"] = .int(Int64(status)) }
        if let retryAfterSeconds { detail["retryAfterSeconds"] = .double(retryAfterSeconds) }
        return ModelError(kind, message, detail: detail)
    }
}

/// Jittered exponential backoff (docs/models.md#calls): retries on 429, 5xx and transport errors, waiting what
/// `Retry-After` asks when the provider says.
struct RetryPolicy: Sendable, Equatable {
    var maxRetries = 3
    var baseDelay: Duration = .milliseconds(500)
    var maxDelay: Duration = .seconds(20)
    /// A `Retry-After` longer than this is not waited for: the call fails at once with the
    /// kind of its status (`rateLimited` for 429, `unavailable` for 5xx, `timeout` for 408).
    var maxRetryAfter: Duration = .seconds(60)

    /// The wait before retry number `attempt` (0-based): half the exponential step plus a random
    /// part of the other half, so clients that failed together do not retry together.
    func delay(attempt: Int, retryAfter: Duration?) -> Duration {
        if let retryAfter { return retryAfter }
        let exponential = min(maxDelay, baseDelay * Int(1 << min(attempt, 20)))
        return exponential / 2 + exponential / 2 * Double.random(in: 0...1)
    }

    /// Parses `Retry-After`: delay-seconds or an HTTP-date.
    static func parseRetryAfter(_ value: String?, now: Date = Date()) -> Duration? {
        guard let value = value?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return nil }
        if let seconds = Double(value), seconds >= 0 { return .milliseconds(Int64(seconds * 1000)) }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = formatter.date(from: value) else { return nil }
        return .milliseconds(Int64(max(0, date.timeIntervalSince(now)) * 1000))
    }
}

extension Duration {
    var seconds: Double {
        let (s, a) = components
        return Double(s) + Double(a) / 1e18
    }
    var microseconds: Int64 {
        let (s, a) = components
        return s * 1_000_000 + a / 1_000_000_000_000
    }
}
