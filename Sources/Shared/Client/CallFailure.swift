/// A failed call as a client reports it to a person or a script: the daemon's JSON-RPC error or the
/// transport's, with one line of text and the exit status laloctl documents (1 error, 3 daemon
/// unreachable, 4 permission denied). Clients read failures through this type so that only the
/// contract knows the shape of the wire's errors.
public struct CallFailure: Error, Sendable, CustomStringConvertible {
    public enum Reason: Sendable, Equatable {
        /// The daemon answered with an error of this kind.
        case daemon(ErrorKind)
        /// No daemon could be reached, or the connection broke.
        case unreachable
    }

    public var reason: Reason
    public var description: String

    /// The status a command-line client exits with.
    public var exitStatus: Int32 {
        switch reason {
        case .daemon(.permissionDenied): return 4
        case .daemon: return 1
        case .unreachable: return 3
        }
    }

    /// `nil` when `error` did not come from a call (a local failure the caller reports itself).
    public init?(_ error: any Error) {
        switch error {
        case let error as RPCError:
            var text = error.message
            if let field = error.field, !text.contains(field) { text += " (\(field))" }
            self.reason = .daemon(error.kind)
            self.description = "\(text) [\(error.kind.rawValue)]"
        case let error as ClientError:
            self.reason = .unreachable
            self.description = error.description
        default:
            return nil
        }
    }
}
