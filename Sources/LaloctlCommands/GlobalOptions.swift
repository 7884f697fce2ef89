import ArgumentParser
import Foundation
import Shared

enum OutputFormat: String, ExpressibleByArgument, CaseIterable, Sendable {
    case table, json
}

/// Options every command takes.
struct GlobalOptions: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp(
            "Daemon socket (default: $LALO_SOCKET, else \(DefaultPaths.socket)).", valueName: "path"))
    var socket: String?

    @Option(name: .shortAndLong, help: "Output format: table for people, json for scripts.")
    var output: OutputFormat = .table

    var socketPath: String { DefaultPaths.resolveSocket(explicit: socket) }

    /// Connects, runs `body`, and turns failures into the documented exit codes:
    /// 1 error, 3 daemon unreachable, 4 permission denied.
    func withClient<T>(_ body: (LaloClient) throws -> T) throws -> T {
        let client: LaloClient
        do {
            client = try LaloClient(socketPath: socketPath)
        } catch {
            Terminal.error(error.description)
            throw ExitCode(3)
        }
        defer { client.close() }
        do {
            return try body(client)
        } catch {
            guard let failure = CallFailure(error) else { throw error }
            Terminal.error(failure.description)
            throw ExitCode(failure.exitStatus)
        }
    }

    /// Calls `method` and prints its result as JSON (encoded from the typed result, as the daemon
    /// encodes it), or hands it to `table` for table output.
    /// `json` sees the result too, for commands whose exit status depends on it.
    func show<M: RPCMethod>(
        _ method: M.Type, _ params: M.Params, table: (M.Result) -> Void, json: (M.Result) -> Void = { _ in }
    ) throws {
        switch output {
        case .json:
            // As the daemon sent it, unknown fields and all; decoded only when the exit status
            // depends on it.
            let raw = try withClient { try $0.callForJSON(method, params) }
            Terminal.printJSON(raw)
            if let result = try? JSONDecoder().decode(M.Result.self, from: Data(JSONWriter.bytes(raw))) {
                json(result)
            }
        case .table:
            let result = try withClient { try $0.call(method, params) }
            table(result)
            json(result)
        }
    }

    /// A typed call whose result is also kept as the daemon sent it, for `-o json`.
    func call<M: RPCMethod>(_ method: M.Type, _ params: M.Params) throws -> (result: M.Result, raw: JSONValue) {
        let raw = try withClient { try $0.callForJSON(method, params) }
        do {
            return (try JSONDecoder().decode(M.Result.self, from: Data(JSONWriter.bytes(raw))), raw)
        } catch {
            Terminal.error("laloD answered \(M.name) with a result this laloctl does not understand: \(error)")
            throw ExitCode(1)
        }
    }

    func show<M: RPCMethod>(
        _ method: M.Type, table: (M.Result) -> Void, json: (M.Result) -> Void = { _ in }
    ) throws where M.Params == NoParams {
        try show(method, NoParams(), table: table, json: json)
    }
}
