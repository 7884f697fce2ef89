import Foundation
import Shared
import Synchronization

/// `http.request`: one HTTP call over libcurl, with retries on 429/5xx/transport errors
/// (honouring `Retry-After`), a rate limit per host, credentials injected from the secret store by
/// reference (never passed as text), a response size cap, and optional validation of a JSON
/// response against a schema. The registry redacts the secret from everything it stores.
struct HTTPRequestTool: Tool {
    let http: HTTPClient
    let secrets: SecretStore?
    private let hosts = RateLimiter()

    init(http: HTTPClient = HTTPClient(), secrets: SecretStore?) {
        self.http = http
        self.secrets = secrets
    }

    /// Defaults, overridable with `tool.configure` settings of the same names.
    static let defaults: [String: Int64] = [
        "maxResponseBytes": 1 << 20, "maxRetries": 2, "retryBaseMilliseconds": 200, "rateLimitPerHostPerMinute": 60,
    ]
    var defaultSettings: [String: Int64] { Self.defaults }

    let descriptor = ToolDescriptor(
        name: "http.request",
        description:
            "Call an HTTP API. Credentials come from the secret store by name (auth.secret); responses are capped in size and may be checked against a JSON Schema.",
        risk: .external, permission: .workflowRun,
        inputSchema: .object(
            "HTTP request",
            [
                .required(
                    "url",
                    .string(
                        "http:// or https:// URL", minLength: 8, maxLength: 8192,
                        check: { $0.hasPrefix("http://") || $0.hasPrefix("https://") })),
                .optional("method", .string(enum: ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"])),
                .optional("headers", .map("Request headers", values: .string(maxLength: 8192))),
                .optional("body", .string("Request body (text)", maxLength: 10 << 20)),
                .optional("json", .any(description: "Request body as JSON (sets Content-Type)")),
                .optional(
                    "auth",
                    .object(
                        "Credentials from the secret store",
                        [
                            .required(
                                "secret", .string("Secret name", pattern: secretNamePattern, check: isValidSecretName)),
                            .optional("scheme", .string(enum: ["bearer", "basic", "header"])),
                            .optional("username", .string("For basic", maxLength: 256)),
                            .optional("header", .string("Header name for scheme header", minLength: 1, maxLength: 128)),
                        ])),
                .optional("timeoutMs", .integer(minimum: 1, maximum: 600_000)),
                .optional("responseSchema", .any(description: "JSON Schema the JSON response must match")),
            ]),
        outputSchema: .object(
            "Response",
            [
                .required("status", .integer()), .required("headers", .map(values: .string())),
                .required("body", .string()), .optional("json", .any(description: "The parsed JSON body")),
                .required("bytes", .integer()), .required("attempts", .integer()),
            ]),
        idempotent: false, canRollback: false, defaultTimeout: .seconds(60), defaultRateLimitPerMinute: 600)

    func risk(of arguments: JSONValue) -> ToolRisk {
        Self.method(arguments) == "DELETE" ? .destructive : .external
    }

    /// The methods RFC 9110 §9.2.2 calls idempotent may be sent again after an interruption.
    func isIdempotent(_ arguments: JSONValue) -> Bool {
        ["GET", "HEAD", "PUT", "DELETE"].contains(Self.method(arguments))
    }

    /// The method sent: as given, else POST when there is a body, else GET.
    static func method(_ arguments: JSONValue) -> String {
        arguments["method"]?.stringValue ?? (arguments["body"] != nil || arguments["json"] != nil ? "POST" : "GET")
    }

    func run(_ arguments: JSONValue, context: ToolContext) async throws -> JSONValue {
        func setting(_ name: String) -> Int {
            Int(context.settings[name]?.intValue ?? Self.defaults[name] ?? 0)
        }
        let url = arguments["url"]!.stringValue!
        guard let host = URLComponents(string: url)?.host, !host.isEmpty else {
            throw ToolFailure(kind: .invalidParams, message: "\(url) has no host", field: "arguments.url")
        }
        let method = Self.method(arguments)
        var headers: [(name: String, value: String)] = (arguments["headers"]?.objectValue ?? [:]).sorted {
            $0.key < $1.key
        }
        .compactMap { key, value in value.stringValue.map { (key, $0) } }
        var body = arguments["body"]?.stringValue.map { Array($0.utf8) }
        // Headers the tool sets itself replace the caller's, so a request never carries two.
        func set(_ header: (name: String, value: String)) {
            headers.removeAll { $0.name.lowercased() == header.name.lowercased() }
            headers.append(header)
        }
        if let json = arguments["json"] {
            body = JSONWriter.bytes(json)
            set(("Content-Type", "application/json"))
        }
        if let auth = arguments["auth"] {
            set(try await credential(auth, context: context))
        }
        let timeout = Duration.milliseconds(arguments["timeoutMs"]?.intValue ?? 30_000)
        let request = HTTPRequest(
            method: method, url: url, headers: headers, body: body, connectTimeout: .seconds(10),
            timeout: timeout)
        let policy = RetryPolicy(
            maxRetries: setting("maxRetries"), baseDelay: .milliseconds(setting("retryBaseMilliseconds")))
        let cap = setting("maxResponseBytes")
        var attempt = 0
        while true {
            guard hosts.take(host, perMinute: setting("rateLimitPerHostPerMinute")) else {
                throw ToolFailure(
                    kind: .rateLimited,
                    message: "requests to \(host) are limited to \(setting("rateLimitPerHostPerMinute")) a minute")
            }
            let head: HTTPResponseHead
            let bytes: [UInt8]
            do {
                (head, bytes) = try await http.fetch(request, maxBytes: cap)
            } catch let error as HTTPError {
                switch error.kind {
                case .tooLarge:
                    throw ToolFailure(
                        kind: .validationFailed, message: "the response from \(host) is larger than \(cap) bytes")
                case .cancelled: throw CancellationError()
                case .timeout: throw ToolFailure(kind: .timeout, message: "\(host) did not answer within \(timeout)")
                case .invalid: throw ToolFailure(kind: .invalidParams, message: error.message, field: "arguments.url")
                case .connect, .transport:
                    if attempt < policy.maxRetries {
                        try await Task.sleep(for: policy.delay(attempt: attempt, retryAfter: nil))
                        attempt += 1
                        continue
                    }
                    throw ToolFailure(
                        kind: .unavailable, message: "\(host): \(error.message) (after \(attempt + 1) attempts)")
                }
            }
            if head.status == 429 || (500...599).contains(head.status), attempt < policy.maxRetries {
                let retryAfter = RetryPolicy.parseRetryAfter(head.header("retry-after"))
                if retryAfter.map({ $0 <= policy.maxRetryAfter }) ?? true {
                    try await Task.sleep(for: policy.delay(attempt: attempt, retryAfter: retryAfter))
                    attempt += 1
                    continue
                }
            }
            return try result(head, bytes, attempts: attempt + 1, schema: arguments["responseSchema"])
        }
    }

    private func result(_ head: HTTPResponseHead, _ bytes: [UInt8], attempts: Int, schema: JSONValue?) throws
        -> JSONValue
    {
        var headerMap: [String: JSONValue] = [:]
        for (name, value) in head.headers where name != "set-cookie" { headerMap[name] = .string(value) }
        var output: [String: JSONValue] = [
            "status": .int(Int64(head.status)), "headers": .object(headerMap),
            "body": .string(String(decoding: bytes, as: UTF8.self)), "bytes": .int(Int64(bytes.count)),
            "attempts": .int(Int64(attempts)),
        ]
        let isJSON = head.header("content-type")?.contains("json") == true
        if isJSON, let json = try? JSONParser.parse(bytes) { output["json"] = json }
        if let schema {
            guard let json = output["json"] else {
                throw ToolFailure(
                    kind: .validationFailed, message: "the response is not JSON, but a responseSchema was given")
            }
            if let problem = JSONSchemaValidator.firstProblem(json, schema: schema, path: "response") {
                throw ToolFailure(
                    kind: .validationFailed, message: "the response does not match responseSchema: \(problem)")
            }
        }
        return .object(output)
    }

    /// The header carrying the credential, read from the secret store (an audited read).
    private func credential(_ auth: JSONValue, context: ToolContext) async throws -> (name: String, value: String) {
        guard let secrets else { throw ToolFailure(kind: .unavailable, message: "no secret store") }
        let name = auth["secret"]!.stringValue!
        let value: String
        do {
            value = try await secrets.reveal(name, purpose: "tool http.request", by: context.actor)
        } catch let error as any DaemonError {
            throw ToolFailure(kind: error.kind, message: error.message, field: "arguments.auth.secret")
        }
        switch auth["scheme"]?.stringValue ?? "bearer" {
        case "basic":
            let username = auth["username"]?.stringValue ?? ""
            return ("Authorization", "Basic " + Data("\(username):\(value)".utf8).base64EncodedString())
        case "header":
            guard let header = auth["header"]?.stringValue else {
                throw ToolFailure(
                    kind: .invalidParams, message: "scheme header needs header", field: "arguments.auth.header")
            }
            return (header, value)
        default:
            return ("Authorization", "Bearer \(value)")
        }
    }
}
