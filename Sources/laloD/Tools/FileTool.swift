import Foundation
import Shared

/// `file`: read, write, append, list, move and delete inside the workflow's workspace, through
/// ``Workspace`` (kernel-enforced confinement, size and type limits).
struct FileTool: Tool {
    static let operations = ["read", "write", "append", "list", "move", "delete"]

    let descriptor = ToolDescriptor(
        name: "file",
        description:
            "Read, write, append, list, move and delete files inside the workflow's workspace. Paths are relative to the workspace; `..`, absolute paths and symbolic links are refused.",
        risk: .destructive, permission: .workflowRun,
        inputSchema: .object(
            "File operation",
            [
                .required("operation", .string(enum: FileTool.operations)),
                .required("path", .string("Path relative to the workspace", minLength: 1, maxLength: 1024)),
                .optional("content", .string("Text to write or append (UTF-8)", maxLength: 10 << 20)),
                .optional("to", .string("Destination path for move", minLength: 1, maxLength: 1024)),
            ]),
        outputSchema: .object(
            "Result",
            [
                .required("operation", .string()), .required("path", .string()),
                .optional("content", .string()), .optional("bytes", .integer()),
                .optional(
                    "entries",
                    .array(
                        .object(
                            "Entry",
                            [
                                .required("name", .string()), .required("type", .string()),
                                .required("size", .integer()),
                            ]))),
                .optional("to", .string()),
            ]),
        idempotent: false, canRollback: true, defaultTimeout: .seconds(10), defaultRateLimitPerMinute: 600)

    func problem(with arguments: JSONValue) -> String? {
        let operation = arguments["operation"]?.stringValue ?? ""
        if ["write", "append"].contains(operation), arguments["content"] == nil { return "\(operation) needs content" }
        if operation == "move", arguments["to"] == nil { return "move needs to" }
        return nil
    }

    /// One alternative per kind of operation, each with exactly the arguments it needs.
    var planningSchema: JSONValue {
        func variant(_ operations: [String], _ extra: [String]) -> JSONValue {
            var properties: [String: JSONValue] = [
                "operation": ["type": "string", "enum": .array(operations.map { .string($0) })],
                "path": ["type": "string"],
            ]
            for name in extra { properties[name] = ["type": "string"] }
            return [
                "type": "object", "properties": .object(properties),
                "required": .array((["operation", "path"] + extra).map { .string($0) }), "additionalProperties": false,
            ]
        }
        return [
            "anyOf": [
                variant(["write", "append"], ["content"]), variant(["read", "list", "delete"], []),
                variant(["move"], ["to"]),
            ]
        ]
    }

    /// Reading and listing change nothing; writing the same bytes again gives the same file.
    /// Appending twice, or moving or deleting what is already gone, does not.
    func isIdempotent(_ arguments: JSONValue) -> Bool {
        ["read", "list", "write"].contains(arguments["operation"]?.stringValue ?? "")
    }

    func risk(of arguments: JSONValue) -> ToolRisk {
        switch arguments["operation"]?.stringValue {
        case "read", "list": return .read
        case "delete": return .destructive
        default: return .write
        }
    }

    func run(_ arguments: JSONValue, context: ToolContext) async throws -> JSONValue {
        guard let workspace = context.workspace else {
            throw ToolFailure(kind: .conflict, message: "the file tool needs a workflow workspace")
        }
        let operation = arguments["operation"]?.stringValue ?? ""
        let path = arguments["path"]?.stringValue ?? ""
        var result: [String: JSONValue] = ["operation": .string(operation), "path": .string(path)]
        do {
            switch operation {
            case "read":
                let bytes = try workspace.read(path)
                guard let text = String(validating: bytes, as: UTF8.self) else {
                    throw ToolFailure(
                        kind: .validationFailed, message: "\(path) is not UTF-8 text", field: "arguments.path")
                }
                result["content"] = .string(text)
                result["bytes"] = .int(Int64(bytes.count))
            case "write", "append":
                guard let content = arguments["content"]?.stringValue else {
                    throw ToolFailure(
                        kind: .invalidParams, message: "\(operation) needs content", field: "arguments.content")
                }
                if operation == "write" {
                    try workspace.write(path, Array(content.utf8))
                } else {
                    try workspace.append(path, Array(content.utf8))
                }
                result["bytes"] = .int(Int64(content.utf8.count))
            case "list":
                result["entries"] = .array(
                    try workspace.list(path).map { entry in
                        ["name": .string(entry.name), "type": .string(entry.type), "size": .int(entry.size)]
                    })
            case "move":
                guard let destination = arguments["to"]?.stringValue else {
                    throw ToolFailure(kind: .invalidParams, message: "move needs to", field: "arguments.to")
                }
                try workspace.move(path, to: destination)
                result["to"] = .string(destination)
            case "delete":
                try workspace.delete(path)
            default:
                throw ToolFailure(
                    kind: .invalidParams, message: "unknown operation \(operation)", field: "arguments.operation")
            }
        } catch let failure as Workspace.Failure {
            throw ToolFailure(kind: .invalidParams, message: failure.description, field: "arguments.path")
        }
        return .object(result)
    }
}
