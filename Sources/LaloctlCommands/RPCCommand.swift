import ArgumentParser
import Shared

struct RPCCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rpc", abstract: "Raw access: list methods, call any method with JSON params.",
        subcommands: [List.self, Call.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the daemon's methods (from rpc.discover).")
        @OptionGroup var global: GlobalOptions

        func run() throws {
            try global.show(RPCDiscover.self) { (doc: JSONValue) in
                let methods = doc["methods"]?.arrayValue ?? []
                let rows: [[String]] = methods.map { m in
                    [Terminal.text(m["name"]), Terminal.text(m["x-permission"]), Terminal.text(m["summary"])]
                }
                Terminal.table(["METHOD", "PERMISSION", "SUMMARY"], rows)
            }
        }
    }

    struct Call: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Call METHOD with PARAMS (a JSON object) and print the result as JSON.",
            discussion: "Notifications the call streams are printed as JSON lines before the result.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Method name, e.g. session.whoami.") var method: String
        @Argument(help: "Params as a JSON object (default {}).") var params: String?

        func validate() throws {
            if let params {
                guard let value = try? JSONParser.parse(params) else {
                    throw ValidationError("PARAMS is not valid JSON")
                }
                guard case .object = value else {
                    throw ValidationError("PARAMS must be a JSON object (by-name parameters)")
                }
            }
        }

        func run() throws {
            let value = try params.map { try JSONParser.parse($0) }
            let result = try global.withClient { client in
                try client.call(method, params: value) { method, params in
                    print(JSONWriter.string(["method": .string(method), "params": params]))
                }
            }
            Terminal.printJSON(result)
        }
    }
}
