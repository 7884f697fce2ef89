import Logging
import Synchronization

/// The daemon-wide log level, changed by SIGHUP without rebuilding loggers: handlers read it on
/// every message instead of keeping their own copy.
enum LogLevelBox {
    private static let level = Mutex(Logger.Level.info)
    static var current: Logger.Level {
        get { level.withLock { $0 } }
        set { level.withLock { $0 = newValue } }
    }
}

/// Wraps the real handler so its level follows ``LogLevelBox``.
struct DynamicLevelHandler: LogHandler {
    var inner: any LogHandler

    var logLevel: Logger.Level {
        get { LogLevelBox.current }
        set { LogLevelBox.current = newValue }
    }

    var metadata: Logger.Metadata {
        get { inner.metadata }
        set { inner.metadata = newValue }
    }

    var metadataProvider: Logger.MetadataProvider? {
        get { inner.metadataProvider }
        set { inner.metadataProvider = newValue }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { inner[metadataKey: key] }
        set { inner[metadataKey: key] = newValue }
    }

    /// Secret values are removed from the message and metadata before any handler sees them.
    func log(event: LogEvent) {
        let redactor = Redactor.shared
        guard !redactor.isEmpty else { return inner.log(event: event) }
        var event = event
        event.message = "\(redactor.redact(event.message.description))"
        event.metadata = event.metadata.map { Self.redact($0, redactor) }
        inner.log(event: event)
    }

    private static func redact(_ metadata: Logger.Metadata, _ redactor: Redactor) -> Logger.Metadata {
        metadata.mapValues { value in
            switch value {
            case .string(let s): return .string(redactor.redact(s))
            case .stringConvertible(let c): return .string(redactor.redact(c.description))
            case .array(let items): return .array(items.map { .string(redactor.redact($0.description)) })
            case .dictionary(let inner): return .dictionary(redact(inner, redactor))
            }
        }
    }
}
