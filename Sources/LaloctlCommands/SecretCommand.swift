import ArgumentParser
import Foundation
import Shared

struct SecretCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "secret", abstract: "Store, list, delete and rotate secrets (needs secret.manage).",
        discussion:
            "Values are encrypted at rest and never shown again: not by list, not in logs, not in the audit log.",
        subcommands: [Set.self, List.self, Delete.self, Rotate.self])

    struct Set: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create or replace a secret, reading its value from stdin or a prompt.",
            discussion: """
                The value is never taken from the command line, where other users could see it in \
                the process list and it would land in shell history. On a terminal laloctl asks for it \
                twice without echo; otherwise it reads stdin to the end (one trailing newline is \
                dropped): printf %s "$KEY" | laloctl secret set openai
                """)
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Secret name (letters, digits, '.', '_', '-').") var name: String
        @Option(help: "What the secret is for.") var description: String?

        func run() throws {
            let value = try Self.readValue(name: name)
            try global.show(SecretSet.self, .init(name: name, value: value, description: description)) { r in
                print(
                    "\(r.created ? "created" : "replaced") secret \(name) (version \(r.secret.version), key version \(r.secret.keyVersion))"
                )
            }
        }

        static func readValue(name: String) throws -> String {
            if isatty(STDIN_FILENO) == 1 {
                let first = try prompt("Value for \(name): ")
                let second = try prompt("Again: ")
                guard first == second else {
                    Terminal.error("the two values differ; nothing was changed")
                    throw ExitCode(1)
                }
                return first
            }
            var data = FileHandle.standardInput.readDataToEndOfFile()
            if data.last == UInt8(ascii: "\n") { data.removeLast() }
            if data.last == UInt8(ascii: "\r") { data.removeLast() }
            guard let text = String(data: data, encoding: .utf8) else {
                Terminal.error("the value on stdin is not UTF-8 text")
                throw ExitCode(1)
            }
            guard !text.isEmpty else {
                Terminal.error("no value on stdin")
                throw ExitCode(2)
            }
            return text
        }

        /// Reads one line from the terminal with echo off, restoring the terminal however it ends.
        static func prompt(_ text: String) throws -> String {
            FileHandle.standardError.write(Data(text.utf8))
            var saved = termios()
            tcgetattr(STDIN_FILENO, &saved)
            var silent = saved
            silent.c_lflag &= ~tcflag_t(ECHO)
            tcsetattr(STDIN_FILENO, TCSAFLUSH, &silent)
            defer {
                tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved)
                FileHandle.standardError.write(Data("\n".utf8))
            }
            guard let line = readLine(strippingNewline: true) else { throw ExitCode(1) }
            return line
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List secrets (names and metadata, never values).")
        @OptionGroup var global: GlobalOptions

        func run() throws {
            try global.show(SecretList.self) { r in
                Terminal.table(
                    ["NAME", "VERSION", "KEY", "UPDATED", "BY", "DESCRIPTION"],
                    r.secrets.map { s in
                        [s.name, "\(s.version)", "v\(s.keyVersion)", s.updatedAt, s.updatedBy, s.description]
                    })
                let key = r.masterKey
                print(
                    "\nmaster key: \(key.source) \(key.location), active version \(key.activeVersion), in use \(Terminal.text(key.versionsInUse))"
                )
            }
        }
    }

    struct Delete: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a secret.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Secret name.") var name: String

        func run() throws {
            try global.show(SecretDelete.self, .init(name: name)) { _ in print("deleted secret \(name)") }
        }
    }

    struct Rotate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Re-wrap every secret under a new master key version.",
            discussion:
                "Crash-safe: if laloD is killed half-way, every secret stays readable and the next start finishes the rotation."
        )
        @OptionGroup var global: GlobalOptions

        func run() throws {
            try global.show(SecretRotate.self) { r in
                print(
                    "master key now at version \(r.keyVersion); re-wrapped \(r.rewrapped) secrets; retired versions \(Terminal.text(r.retiredVersions))"
                )
            }
        }
    }
}
