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

    func log(event: LogEvent) { inner.log(event: event) }
}
