import ArgumentParser
import Foundation
import Shared

/// `laloctl`: the command-line client for laloD.
public struct Laloctl: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "laloctl",
        abstract: "Talk to the LALO daemon (laloD) over its Unix socket.",
        discussion: """
            Every command takes --socket PATH (default: $LALO_SOCKET, else /run/lalo/laloD.sock) and \
            -o table|json, after the command name: laloctl status -o json.
            Exit status: 0 ok, 1 error, 2 usage, 3 daemon not reachable, 4 permission denied.
            Shell completions: laloctl --generate-completion-script bash|zsh|fish.
            """,
        version: LaloVersion.current,
        subcommands: [
            StatusCommand.self, WhoamiCommand.self, SessionCommand.self, RoleCommand.self,
            AuditCommand.self, SecretCommand.self, ModelCommand.self, AskCommand.self, ToolCommand.self,
            RunCommand.self, WorkflowCommand.self, SandboxCommand.self,
            RPCCommand.self,
        ])

    public init() {}

    /// Like the default entry point, but usage errors exit with 2 (the README's exit statuses) rather than 64.
    public static func main() {
        let code = run(Array(CommandLine.arguments.dropFirst()))
        fflush(nil)
        Foundation.exit(code)
    }

    /// Parses and runs one command line; the exit status it ends with. Help and version go to
    /// stdout, errors to stderr, as ArgumentParser's own entry point does.
    static func run(_ arguments: [String]) -> Int32 {
        do {
            var command = try parseAsRoot(arguments)
            try command.run()
            return 0
        } catch {
            let code = exitCode(for: error)
            let message = fullMessage(for: error)
            if code == .validationFailure {
                FileHandle.standardError.write(Data((message + "\n").utf8))
                return 2
            }
            if code == .success {
                if !message.isEmpty { print(message) }
            } else if !message.isEmpty {
                FileHandle.standardError.write(Data((message + "\n").utf8))
            }
            return code.rawValue
        }
    }
}
