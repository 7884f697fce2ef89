import ArgumentParser
import Foundation
import Shared

/// `laloctl ask`: one question to a role's model, the answer streamed to the terminal.
struct AskCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ask", abstract: "Ask a model a question and stream the answer (needs model.use).",
        discussion: """
            The prompt is the argument, or stdin when the argument is -. With -o json the whole \
            result (content, usage, timings) is printed at the end instead of the stream.
            """)
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The prompt, or - to read it from stdin.") var prompt: String
    @Option(help: "Model role (default chat).") var role: String = "chat"
    @Option(help: "A system message.") var system: String?
    @Option(help: "Most tokens to generate.") var maxTokens: Int?
    @Option(help: "Sampling temperature, 0 to 2.") var temperature: Double?
    @Option(help: "A file holding a JSON Schema the answer must match.") var schema: String?

    func validate() throws {
        guard ModelRole(rawValue: role) != nil else {
            throw ValidationError(
                "unknown role \(role) (roles: \(ModelRole.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
    }

    func run() throws {
        var text = prompt
        if prompt == "-" {
            text = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
        }
        var messages: [ChatMessage] = []
        if let system { messages.append(ChatMessage(role: "system", content: system)) }
        messages.append(ChatMessage(role: "user", content: text))
        var params = ModelComplete.Params(
            role: role, messages: messages, maxTokens: maxTokens, temperature: temperature)
        if let schema {
            guard let data = FileManager.default.contents(atPath: schema), let json = try? JSONParser.parse(Array(data))
            else {
                Terminal.error("\(schema): not a readable JSON file")
                throw ExitCode(2)
            }
            params.responseSchema = json
        }
        let streaming = global.output == .table
        guard streaming else {
            Terminal.printJSON(try global.withClient { try $0.callForJSON(ModelComplete.self, params) })
            return
        }
        let result = try global.withClient { client in
            try client.call(ModelComplete.self, params) { method, notification in
                guard method == ModelComplete.notification, let delta = notification["delta"]?.stringValue
                else { return }
                Output.writeUnbuffered(delta)
            }
        }
        print("")
        if isatty(STDERR_FILENO) == 1 {
            let usage = result.usage
            FileHandle.standardError.write(
                Data(
                    Terminal.paint(
                        "[\(result.provider)/\(result.model), \(usage.promptTokens) + \(usage.completionTokens) tokens, \(String(format: "%.0f ms", Double(result.durationMicros) / 1000))]\n",
                        "2"
                    ).utf8))
        }
    }
}
