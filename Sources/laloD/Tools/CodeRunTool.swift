import Foundation
import Shared

/// `code.run`: Python or shell code in the sandbox (docs/tools.md#the-coderun-tool), with the workflow's workspace at
/// /workspace. In a workflow the workspace is the execution's stage, so what the code writes,
/// changes or deletes waits for the review like the `file` tool's changes. Files go in through
/// the same staged workspace before the run; files come out after it through ``Workspace``'s
/// reader, which refuses symbolic links anywhere in the path, hard-linked files, special files
/// and anything beneath the workspace, so code cannot make laloD hand out a host file.
struct CodeRunTool: Tool {
    let sandbox: Sandbox

    static let maxFilesIn = 100
    static let maxFilesOut = 50

    private static var outputProperties: [Schema.Property] {
        guard case .object(let rules) = SandboxRunResult.schema else { return [] }
        return rules.properties + [
            .required(
                "files",
                .array(
                    .object(
                        "A file the code left in the workspace",
                        [
                            .required("path", .string()),
                            .optional("content", .string("The file's text (UTF-8)")),
                            .optional("base64", .string("The file's bytes, when they are not UTF-8 text")),
                            .optional("bytes", .integer()),
                            .optional("error", .string("Why the file was not collected")),
                        ])))
        ]
    }

    let descriptor = ToolDescriptor(
        name: "code.run",
        description:
            "Run Python or shell code in the sandbox with the workflow's workspace at /workspace (no network, limited memory, processes and time). `files` are written into the workspace first; `outputs` are workspace files returned after the run. Changes to the workspace are staged for review.",
        risk: .write, permission: .workflowRun,
        inputSchema: .object(
            "Code to run",
            [
                .required("language", .string(enum: sandboxLanguages)),
                .required(
                    "code",
                    .string(
                        "Program text; runs with /workspace as the working directory", minLength: 1, maxLength: 119_999)
                ),
                .optional("stdin", .string("Standard input", maxLength: 1 << 20)),
                .optional(
                    "files",
                    .array(
                        .object(
                            "A file to put in the workspace before the run",
                            [
                                .required(
                                    "path", .string("Path relative to the workspace", minLength: 1, maxLength: 1024)),
                                .required("content", .string("Text (UTF-8)", maxLength: 10 << 20)),
                            ]), "Files in", maxItems: CodeRunTool.maxFilesIn)),
                .optional(
                    "outputs",
                    .array(
                        .string("Path relative to the workspace", minLength: 1, maxLength: 1024),
                        "Workspace files to return after the run", maxItems: CodeRunTool.maxFilesOut)),
                .optional("env", .map("Environment variables", values: .string(maxLength: 4096))),
                .optional("limits", SandboxLimits.schema),
            ]),
        outputSchema: .object("What the code did", CodeRunTool.outputProperties),
        idempotent: false, canRollback: true, defaultTimeout: .seconds(660), defaultRateLimitPerMinute: 120)

    /// The largest output file returned, in bytes (each).
    var defaultSettings: [String: Int64] { ["maxOutputFileBytes": 1 << 20] }

    func run(_ arguments: JSONValue, context: ToolContext) async throws -> JSONValue {
        let language = arguments["language"]?.stringValue ?? ""
        let code = arguments["code"]?.stringValue ?? ""
        let files = arguments["files"]?.arrayValue ?? []
        let outputs = (arguments["outputs"]?.arrayValue ?? []).compactMap(\.stringValue)
        if context.workspace == nil, !files.isEmpty || !outputs.isEmpty {
            throw ToolFailure(
                kind: .invalidParams, message: "files and outputs need a workflow workspace",
                field: files.isEmpty ? "arguments.outputs" : "arguments.files")
        }
        var requested = SandboxLimits()
        for (name, value) in arguments["limits"]?.objectValue ?? [:] {
            requested.set(name, value.intValue.map { Int($0) })
        }
        let environment = (arguments["env"]?.objectValue ?? [:]).compactMapValues(\.stringValue)
        let job: SandboxJob
        do {
            try Sandbox.check(environment: environment, field: "arguments.env")
            job = SandboxJob(
                argv: try Sandbox.argv(
                    language: language, code: code, python: sandbox.settings.python, field: "arguments"),
                stdin: Array((arguments["stdin"]?.stringValue ?? "").utf8), environment: environment,
                limits: try requested.resolved(
                    defaults: sandbox.settings.defaults, maxima: sandbox.settings.maxima, field: "arguments.limits"),
                workspace: context.workspace?.root, stage: context.workspace?.stage?.directory)
        } catch let error as any DaemonError {
            throw ToolFailure(kind: error.kind, message: error.message, field: error.field)
        }
        if let workspace = context.workspace {
            for (index, file) in files.enumerated() {
                let path = file["path"]?.stringValue ?? ""
                do {
                    try workspace.write(path, Array((file["content"]?.stringValue ?? "").utf8))
                } catch {
                    throw ToolFailure(
                        kind: .invalidParams, message: error.description, field: "arguments.files[\(index)].path")
                }
            }
        }
        let result = try await sandbox.backend(nil).run(job)
        guard case .object(var object) = try JSONParser.parse(Array(JSONEncoder().encode(result))) else {
            throw ToolFailure(kind: .internalError, message: "the sandbox result could not be encoded")
        }
        let limit = Int(context.settings["maxOutputFileBytes"]?.intValue ?? (1 << 20))
        object["files"] = .array(outputs.map { path in collect(path, from: context.workspace, limit: limit) })
        return .object(object)
    }

    /// One output file, or why it was not collected.
    private func collect(_ path: String, from workspace: (any WorkspaceFiles)?, limit: Int) -> JSONValue {
        guard let workspace else { return ["path": .string(path), "error": "no workspace"] }
        do {
            let bytes = try workspace.read(path)
            guard bytes.count <= limit else {
                return [
                    "path": .string(path), "bytes": .int(Int64(bytes.count)),
                    "error": .string("\(bytes.count) bytes is more than the \(limit) this tool returns"),
                ]
            }
            if let text = String(validating: bytes, as: UTF8.self) {
                return ["path": .string(path), "content": .string(text), "bytes": .int(Int64(bytes.count))]
            }
            return [
                "path": .string(path), "base64": .string(Data(bytes).base64EncodedString()),
                "bytes": .int(Int64(bytes.count)),
            ]
        } catch {
            return ["path": .string(path), "error": .string(error.description)]
        }
    }
}
