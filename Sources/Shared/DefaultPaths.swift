import Foundation

/// Paths both programs agree on (docs/protocol.md, docs/operations.md).
public enum DefaultPaths {
    public static let socket = "/run/lalo/laloD.sock"
    public static let configFile = "/etc/lalo/laloD.toml"
    public static let stateDirectory = "/var/lib/lalo"
    public static let socketEnvironmentVariable = "LALO_SOCKET"

    /// The socket a client should use: an explicit flag, then `$LALO_SOCKET`, then the default.
    public static func resolveSocket(explicit: String?) -> String {
        if let explicit, !explicit.isEmpty { return explicit }
        if let fromEnvironment = ProcessInfo.processInfo.environment[socketEnvironmentVariable],
            !fromEnvironment.isEmpty
        {
            return fromEnvironment
        }
        return socket
    }
}
