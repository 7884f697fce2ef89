import Shared

/// One kind of step a tool offers a planner that decides a step at a time (a small model), and
/// what laloD's checks need to know about it: which arguments name files, which carry text, and
/// which words of a request ask for it. Tools declare their own (``Tool/planningActions``); the
/// planner and ``Grounding`` know no tool by name.
struct PlanningAction: Sendable {
    enum FieldKind: Sendable, Equatable {
        /// A workspace path the step creates or changes: it must be a file name the request gives.
        case writtenPath
        /// A workspace path the step reads: named in the request, already in the workspace, or
        /// written by an earlier step.
        case readPath
        /// A directory to list: the workspace itself, or a directory the request names.
        case directory
        /// Text the step writes: taken from the request, where the request gives it.
        case text
        /// A program: the file names in it must be ones the request gives.
        case code
        /// One of a fixed set of values (the grammar forces it).
        case choice([String])
    }

    struct Field: Sendable {
        var name: String
        var kind: FieldKind
        /// What the model is asked for, in a few words ("the file to write").
        var question: String
    }

    /// `tool.name`, as the planner's prompts show it ("file.write").
    var name: String
    var tool: String
    /// In a few words, for the model's choice of action ("write a file").
    var summary: String
    /// Arguments every step of this action has (`operation: write`).
    var fixed: [String: JSONValue]
    /// The arguments the model decides, one call each, in this order.
    var fields: [Field]
    /// Lowercase words of a request that ask for this action; a step of this action in a plan
    /// for a request with none of them is not what was asked.
    var verbs: Set<String>
    /// A request that uses one of `verbs` needs a step of this tool: asking for Python means
    /// running Python (a file write of a number the model worked out does not do).
    var neededWhenAsked = false

    /// Whether `arguments` are a step of this action.
    func matches(tool: String, arguments: JSONValue) -> Bool {
        tool == self.tool && fixed.allSatisfy { arguments[$0.key] == $0.value }
    }

    /// The tools the request asks for by name or verb whose steps the plan must have.
    static func neededTools(_ actions: [PlanningAction], words: [String]) -> Set<String> {
        Set(actions.filter { $0.neededWhenAsked && !$0.verbs.isDisjoint(with: words) }.map(\.tool))
    }

    /// How many of the request's words ask for this action.
    func asked(by words: [String]) -> Int { Set(words).intersection(verbs).count }

    func arguments(_ decided: [String: JSONValue]) -> JSONValue {
        .object(fixed.merging(decided) { fixed, _ in fixed })
    }
}

extension FileTool {
    var planningActions: [PlanningAction] {
        let writeVerbs: Set<String> = [
            "write", "create", "save", "put", "make", "store", "record", "note", "add", "new",
        ]
        return [
            PlanningAction(
                name: "file.write", tool: "file", summary: "write a file", fixed: ["operation": "write"],
                fields: [
                    .init(name: "path", kind: .writtenPath, question: "the file to write"),
                    .init(name: "content", kind: .text, question: "the text to write into it"),
                ], verbs: writeVerbs),
            PlanningAction(
                name: "file.append", tool: "file", summary: "add text to the end of a file",
                fixed: ["operation": "append"],
                fields: [
                    .init(name: "path", kind: .writtenPath, question: "the file to add to"),
                    .init(name: "content", kind: .text, question: "the text to add"),
                ], verbs: ["append", "add", "note", "log"]),
            PlanningAction(
                name: "file.read", tool: "file", summary: "read a file", fixed: ["operation": "read"],
                fields: [
                    .init(name: "path", kind: .readPath, question: "the file to read")
                ], verbs: ["read", "show", "print", "display", "open", "cat", "view", "contents", "content"]),
            PlanningAction(
                name: "file.list", tool: "file", summary: "list the files", fixed: ["operation": "list"],
                fields: [
                    .init(name: "path", kind: .directory, question: "the directory to list")
                ], verbs: ["list", "files", "ls", "directory", "folder", "contents", "workspace"]),
        ]
    }
}

extension CodeRunTool {
    var planningActions: [PlanningAction] {
        let codeVerbs: Set<String> = ["run", "execute", "compute", "calculate", "script", "program", "code"]
        return [
            PlanningAction(
                name: "code.run.python", tool: "code.run", summary: "run Python code", fixed: ["language": "python"],
                fields: [
                    .init(name: "code", kind: .code, question: "the Python program")
                ], verbs: codeVerbs.union(["python", "python3"]), neededWhenAsked: true),
            PlanningAction(
                name: "code.run.shell", tool: "code.run", summary: "run a shell command", fixed: ["language": "shell"],
                fields: [
                    .init(name: "code", kind: .code, question: "the shell command")
                ], verbs: codeVerbs.union(["shell", "command", "bash", "sh"]), neededWhenAsked: true),
        ]
    }
}
