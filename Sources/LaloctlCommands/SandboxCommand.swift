import ArgumentParser
import Foundation
import Shared

struct SandboxCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sandbox",
        abstract: "Run commands in the sandbox and check what the host supports (needs sandbox.run).",
        subcommands: [Run.self, Doctor.self])

    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run a command in a fresh sandbox and print its output.",
            discussion: """
                The command runs with no network, a read-only system, an empty scratch workspace at
                /workspace, a tmpfs /tmp and the daemon's default limits; --limit NAME=N changes one
                (names: \(SandboxLimits.names.map(\.name).joined(separator: ", "))), up to the
                administrator's maximum. Standard input is passed on when it is not a terminal.

                The command's stdout and stderr are printed as they were kept; the exit status is the
                command's (128+N when signal N ended it). A note on stderr says which limit was hit.

                Examples:
                  laloctl sandbox run -- python3 -c 'print(6 * 7)'
                  laloctl sandbox run --backend docker --limit memoryBytes=268435456 -- sh -c 'id; ls /'
                  echo hello | laloctl sandbox run -- tr a-z A-Z
                """)
        @OptionGroup var global: GlobalOptions
        @Option(help: "native or docker (default: the daemon's).") var backend: String?
        @Option(name: .customLong("limit"), help: ArgumentHelp("A limit as NAME=N (repeatable).", valueName: "NAME=N"))
        var limits: [String] = []
        @Option(
            name: .customLong("env"),
            help: ArgumentHelp("An environment variable (repeatable).", valueName: "NAME=VALUE"))
        var environment: [String] = []
        @Option(help: "Wall-clock limit in milliseconds.") var timeoutMs: Int?
        @Argument(parsing: .captureForPassthrough, help: "The command and its arguments (after --).") var command:
            [String] = []

        func validate() throws {
            if let backend, SandboxBackendName(rawValue: backend) == nil {
                throw ValidationError("--backend must be native or docker")
            }
            if command.filter({ $0 != "--" }).isEmpty {
                throw ValidationError("give the command after --, e.g. laloctl sandbox run -- /bin/true")
            }
        }

        func run() throws {
            var argv = command
            if argv.first == "--" { argv.removeFirst() }
            var params = SandboxRun.Params(backend: backend, command: argv, timeoutMs: timeoutMs)
            var limitValues: [String: JSONValue] = [:]
            for pair in limits {
                let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
                guard parts.count == 2, SandboxLimits.names.contains(where: { $0.name == parts[0] }),
                    let value = Int(parts[1])
                else {
                    throw ValidationError(
                        "--limit takes NAME=N with NAME one of \(SandboxLimits.names.map(\.name).joined(separator: ", ")); got \(pair)"
                    )
                }
                limitValues[parts[0]] = .int(Int64(value))
            }
            if !limitValues.isEmpty {
                // The names were checked against SandboxLimits.names above.
                params.limits = try JSONDecoder().decode(
                    SandboxLimits.self, from: Data(JSONWriter.bytes(.object(limitValues))))
            }
            var env: [String: String] = [:]
            for pair in environment {
                guard let equals = pair.firstIndex(of: "=") else {
                    throw ValidationError("--env takes NAME=VALUE; got \(pair)")
                }
                env[String(pair[..<equals])] = String(pair[pair.index(after: equals)...])
            }
            if !env.isEmpty { params.env = env }
            if isatty(0) == 0 {
                let input = FileHandle.standardInput.readDataToEndOfFile()
                if !input.isEmpty { params.stdin = String(decoding: input, as: UTF8.self) }
            }
            let (result, raw) = try global.call(SandboxRun.self, params)
            if global.output == .json {
                Terminal.printJSON(raw)
            } else {
                Output.writeUnbuffered(result.stdout)
                FileHandle.standardError.write(Data(result.stderr.utf8))
                var notes: [String] = []
                if let limit = result.limit { notes.append("limit hit: \(limit)") }
                if result.stdoutTruncated { notes.append("stdout truncated (\(result.stdoutBytes) bytes written)") }
                if result.stderrTruncated { notes.append("stderr truncated (\(result.stderrBytes) bytes written)") }
                if let signal = result.signal { notes.append("killed by signal \(signal)") }
                if !notes.isEmpty { Terminal.error("sandbox: " + notes.joined(separator: "; ")) }
            }
            if let signal = result.signal { throw ExitCode(Int32(128 + signal)) }
            let code = Int32(result.exitCode ?? 1)
            if code != 0 { throw ExitCode(code) }
        }
    }

    struct Doctor: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "What the host supports for each backend and, for anything missing, the fix.",
            discussion: "Exits 0 when the default backend can run, 1 otherwise.")
        @OptionGroup var global: GlobalOptions

        func run() throws {
            let (result, raw) = try global.call(SandboxStatus.self, NoParams())
            if global.output == .json {
                Terminal.printJSON(raw)
            } else {
                for check in result.checks {
                    let mark = check.ok ? "ok  " : Terminal.bad("MISSING")
                    print("\(mark) \(check.name): \(check.detail)")
                    if let fix = check.fix { print("      fix: \(fix)") }
                }
                print(
                    "native backend: \(result.native ? "ready" : Terminal.bad("not ready"));  docker backend: \(result.docker ? "ready" : Terminal.bad("not ready"));  default: \(result.defaultBackend)"
                )
            }
            let ready = result.defaultBackend == SandboxBackendName.docker.rawValue ? result.docker : result.native
            if !ready { throw ExitCode(1) }
        }
    }
}
