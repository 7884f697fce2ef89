import ArgumentParser
import Foundation
import Shared

/// `laloctl`: the command-line client for laloD.
@main
struct Laloctl: ParsableCommand {
    static let configuration = CommandConfiguration(
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

    /// Like the default entry point, but usage errors exit with 2 (the README's exit statuses) rather than 64.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            let code = exitCode(for: error)
            if code == .validationFailure {
                FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
                Foundation.exit(2)
            }
            exit(withError: error)
        }
    }
}
