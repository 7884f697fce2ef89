import Logging
import Shared

/// Everything laloD reads from `laloD.toml` and its drop-ins, after defaults and flags.
///
/// Every key here is documented, with its default, in `etc/lalo/laloD.toml`; ``ConfigLoader``
/// refuses any key that is not.
struct Configuration: Sendable, Equatable {
    struct Server: Sendable, Equatable {
        var socket = DefaultPaths.socket
        var socketMode: UInt32 = 0o660
        var socketGroup = "lalo"
        var maxLineBytes = 16 * 1024 * 1024
        var maxInFlightPerConnection = 64
        var idleTimeoutSeconds = 900
        var maxSessionsPerUser = 32
        var shutdownTimeoutSeconds = 10
    }

    /// SQLite's `synchronous` setting for the store (see etc/lalo/laloD.toml).
    enum Durability: String, Sendable, Equatable, CaseIterable {
        case normal, full
    }

    struct Store: Sendable, Equatable {
        var stateDirectory = DefaultPaths.stateDirectory
        var busyTimeoutMilliseconds = 5000
        var durability = Durability.full
    }

    enum JournalMode: String, Sendable, Equatable, CaseIterable {
        case auto, on, off
    }

    struct Audit: Sendable, Equatable {
        var journal = JournalMode.auto
    }

    /// The default role mapping; database grants override it (SPEC §4).
    struct Roles: Sendable, Equatable {
        var adminUsers = ["root"]
        var adminGroups = ["lalo-admin"]
        var userUsers: [String] = []
        var userGroups = ["lalo"]
        var viewerUsers: [String] = []
        var viewerGroups: [String] = []
        /// Role for everyone not matched above; nil means no access.
        var everyone: String? = nil
    }

    var server = Server()
    var store = Store()
    var logLevel = Logger.Level.info
    var audit = Audit()
    var roles = Roles()

    /// Files that made up this configuration, in the order they were applied.
    var sources: [String] = []
}
