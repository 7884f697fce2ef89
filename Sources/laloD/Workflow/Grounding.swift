import Foundation
import Shared

/// laloD's own checks of an interpretation and a plan against the request: checks that do not
/// depend on any model's judgement (docs/workflows.md#confidence). A small model's judge calls
/// nearly everything clear; these checks ask whether the names, texts and values the request gives
/// are the ones the plan uses, whether each step is one the request asks for, and whether the
/// steps cover what the request names. They never write an interpretation or a plan: a failed
/// check lowers the confidence, goes back to the planner as an objection, and becomes the
/// question the person is asked.
enum Grounding {
    struct Check: Sendable, Equatable, Codable {
        var name: String
        var passed: Bool
        /// A blocking check that fails means the plan is not what was asked: the confidence is
        /// cut to at most ``blockedCap``.
        var blocking: Bool
        /// What was found, for people and as the planner's objection when it failed.
        var detail: String
        /// What to ask the person when this check is why the workflow asks back.
        var question: String?
        /// How much of the check holds, 0 to 1, for a check that can hold in part (1 when it passed).
        var fraction: Double?
        /// Its share of the checks' score: 2 for a blocking check, 1 otherwise, unless said.
        var weight: Double = 1
        /// The highest confidence while this check fails (a blocking one: ``Grounding/blockedCap``).
        var cap: Double?

        var json: JSONValue {
            var object: [String: JSONValue] = [
                "name": .string(name), "passed": .bool(passed), "blocking": .bool(blocking),
                "detail": .string(detail),
            ]
            if let question { object["question"] = .string(question) }
            if let fraction { object["fraction"] = .double((fraction * 1000).rounded() / 1000) }
            return .object(object)
        }
    }

    struct Report: Sendable, Equatable, Codable {
        var checks: [Check] = []
        /// The share of checks passed, blocking ones counting twice; 1 with no checks.
        var score: Double {
            let weight = checks.reduce(0.0) { $0 + $1.weight }
            guard weight > 0 else { return 1 }
            return checks.reduce(0.0) { $0 + $1.weight * ($1.passed ? 1 : $1.fraction ?? 0) } / weight
        }
        /// The lowest cap of the checks that failed.
        var cap: Double? { failures.compactMap { $0.blocking ? blockedCap : $0.cap }.min() }
        var blocked: Bool { checks.contains { !$0.passed && $0.blocking } }
        var failures: [Check] { checks.filter { !$0.passed } }
        var objections: [String] { failures.map(\.detail) }
        var questions: [String] {
            var seen: [String] = []
            for question in failures.compactMap(\.question) where !seen.contains(question) { seen.append(question) }
            return seen
        }
        var json: JSONValue { .array(checks.map(\.json)) }

        mutating func add(
            _ name: String, _ passed: Bool, blocking: Bool, _ detail: String, question: String? = nil,
            fraction: Double? = nil, weight: Double? = nil, cap: Double? = nil
        ) {
            checks.append(
                Check(
                    name: name, passed: passed, blocking: blocking, detail: detail, question: passed ? nil : question,
                    fraction: passed ? nil : fraction, weight: weight ?? (blocking ? 2 : 1), cap: cap))
        }
    }

    /// Confidence never exceeds this while a blocking check fails.
    static let blockedCap = 0.3
    /// A plan whose text is the model's own words, not the request's, is at most this confident:
    /// below the threshold at which a workflow asks back, so a person reads it before it runs.
    static let ownWordsCap = 0.6
    /// laloD can check the names a program uses, not what it computes: a plan that runs code is
    /// at most this confident, below the auto-approval threshold, so a person sees its result.
    static let codeCap = 0.75
    /// How much of the confidence laloD's checks carry by default (`[workflow] checkWeight`); the
    /// models' scores carry the rest. Measured on the evaluation set (docs/eval.md): with the
    /// embedded 135M model the judge's score and the samples' agreement say little about
    /// whether a result is right, laloD's checks most of it.
    static let defaultCheckWeight = 0.8

    /// The confidence of the formula in docs/workflows.md: the checks' score and the models'
    /// score (judge or critic), weighted, and capped while a blocking check fails.
    static func confidence(checks: Report, modelScore: Double, checkWeight: Double = defaultCheckWeight) -> Double {
        let combined = checkWeight * checks.score + (1 - checkWeight) * min(max(modelScore, 0), 1)
        let capped = checks.cap.map { min(combined, $0) } ?? combined
        return (capped * 1000).rounded() / 1000
    }

    // MARK: What a request gives

    /// The concrete things a request names, read from its text.
    struct Anchors: Sendable, Equatable {
        /// Tokens that are file names: a name with an extension (`notes.txt`) or a path (`logs/app`).
        var files: [String] = []
        /// Text in quotes.
        var quoted: [String] = []
        /// Text after a colon to the end of its sentence (`containing the words: remember the milk`).
        var tails: [String] = []
        var numbers: [String] = []
        /// Lowercase words.
        var words: [String] = []
        /// Words and phrases that refer to something the request does not say (`it`, `that file`,
        /// `the usual`).
        var unresolved: [String] = []
        /// Values the request gives for a step to write: quoted text and colon tails.
        var values: [String] { quoted + tails }
    }

    /// Words that point at something outside the request. "that" and "this" only count before
    /// a noun they would point with, since "a file that says hello" uses "that" otherwise.
    static let referringWords: Set<String> = [
        "it", "them", "they", "something", "somewhere", "anything", "stuff", "whatever",
        "usual", "thing", "things",
    ]
    static let referringPhrases = [
        "like we said", "as we said", "as discussed", "as before", "like before", "the same as",
        "that file", "this file", "that one", "this one", "those files", "these files",
        "the other", "you know",
    ]

    /// Words of a request that say how to do something rather than what: a text made only of these
    /// is part of the instruction, not a value to write.
    static let instructionWords: Set<String> = [
        "a", "an", "the", "to", "in", "into", "of", "on", "with", "and", "or", "for", "at", "as", "it", "that", "this",
        "is", "be",
        "file", "files", "called", "named", "containing", "contains", "content", "contents", "text", "word", "words",
        "line",
        "lines", "number", "numbers", "says", "say", "saying", "reads", "value", "result", "string", "workspace",
        "phrase",
    ]

    static func anchors(of request: String) -> Anchors {
        var anchors = Anchors()
        // Quoted text: "…", '…' (not an apostrophe inside a word), “…”, `…`.
        let scalars = Array(request)
        let pairs: [Character: Character] = ["\"": "\"", "“": "”", "`": "`", "'": "'", "‘": "’"]
        var index = 0
        while index < scalars.count {
            let open = scalars[index]
            if let close = pairs[open], open != "'" || index == 0 || !scalars[index - 1].isLetter,
                let end = scalars[(index + 1)...].firstIndex(of: close)
            {
                let text = String(scalars[(index + 1)..<end])
                if !text.trimmingCharacters(in: .whitespaces).isEmpty { anchors.quoted.append(text) }
                index = end + 1
            } else {
                index += 1
            }
        }
        // After a colon, to the end of the sentence.
        var rest = Substring(request)
        while let colon = rest.firstIndex(of: ":") {
            let after = rest[rest.index(after: colon)...]
            let end = after.firstIndex(where: { ".!?\n".contains($0) }) ?? after.endIndex
            var tail = after[..<end].trimmingCharacters(in: .whitespaces)
            // A file name ends its sentence with a dot of its own ("to: notes.txt"): keep it whole.
            if end < after.endIndex, after[end] == ".", let next = after[after.index(after: end)...].first,
                next.isLetter || next.isNumber
            {
                tail = String(after.prefix { $0 != "\n" }).trimmingCharacters(in: .whitespaces)
            }
            // "…: blue skies ahead in weather.log": the file the text goes to is not part of it.
            let parts = tail.split(separator: " ").map(String.init)
            if parts.count >= 3, ["in", "to", "into", "inside", "as"].contains(parts[parts.count - 2].lowercased()),
                isFileName(parts[parts.count - 1].trimmingCharacters(in: CharacterSet(charactersIn: ".,;!?")))
            {
                tail = parts.dropLast(2).joined(separator: " ")
            }
            if !tail.isEmpty, !tail.hasPrefix("//") { anchors.tails.append(tail) }
            rest = after
        }
        for raw in request.split(whereSeparator: { $0.isWhitespace }) {
            let token = String(raw).trimmingCharacters(in: CharacterSet(charactersIn: "\"'“”‘’`,;:!?()[]{}<>"))
            let trimmed = token.hasSuffix(".") ? String(token.dropLast()) : token
            if isFileName(trimmed), !anchors.files.contains(trimmed) { anchors.files.append(trimmed) }
        }
        anchors.words = words(request)
        anchors.numbers = request.split(whereSeparator: { !($0.isNumber || $0 == ".") }).map {
            String($0).trimmingCharacters(in: CharacterSet(charactersIn: "."))
        }
        .filter { !$0.isEmpty && $0.allSatisfy { $0.isNumber || $0 == "." } }
        let lower = " " + anchors.words.joined(separator: " ") + " "
        anchors.unresolved = anchors.words.filter { referringWords.contains($0) }
        for phrase in referringPhrases where lower.contains(" \(phrase) ") { anchors.unresolved.append(phrase) }
        // "that"/"this" right before a noun-like word that is not a file name: "that report".
        for (index, word) in anchors.words.enumerated() where ["that", "this", "those", "these"].contains(word) {
            if index + 1 < anchors.words.count,
                ["file", "report", "document", "thing", "data", "one", "list", "page"].contains(
                    anchors.words[index + 1]),
                !anchors.unresolved.contains("\(word) \(anchors.words[index + 1])")
            {
                anchors.unresolved.append("\(word) \(anchors.words[index + 1])")
            }
        }
        return anchors
    }

    /// A token that names a file: `name.ext` with a short alphanumeric extension, or a relative
    /// path with a slash, and no scheme.
    static func isFileName(_ token: String) -> Bool {
        guard !token.isEmpty, token.count <= 255, !token.contains("://"), !token.hasPrefix("/"),
            token.allSatisfy({ $0.isLetter || $0.isNumber || "._-/".contains($0) }),
            token.contains(where: { $0.isLetter || $0.isNumber })
        else { return false }
        if token.contains("/") { return !token.hasSuffix("/") || token.count > 1 }
        guard let dot = token.lastIndex(of: "."), dot != token.startIndex else { return false }
        let ext = token[token.index(after: dot)...]
        return (1...8).contains(ext.count) && ext.allSatisfy { $0.isLetter || $0.isNumber }
            && ext.contains(where: \.isLetter)
    }

    static func words(_ text: String) -> [String] {
        text.lowercased().split(whereSeparator: { !($0.isLetter || $0.isNumber || $0 == "'") }).map(String.init)
    }

    // MARK: Checks of an interpretation

    /// The request alone, and the intent against it. `actions` are the planning actions of the
    /// tools the workflow may use (their verbs say which requests ask for something they do).
    static func check(
        request: String, answers: [String], intent: Interpreter.Intent?,
        actions: [PlanningAction]
    ) -> Report {
        let text = ([request] + answers).joined(separator: "\n")
        let anchors = anchors(of: text)
        var report = Report()
        // Answers to questions resolve what the request left open.
        let unresolved = answers.isEmpty ? anchors.unresolved : []
        report.add(
            "references-resolved", unresolved.isEmpty, blocking: true,
            unresolved.isEmpty
                ? "the request says what it refers to"
                : "the request refers to something it does not name: "
                    + unresolved.map { "“\($0)”" }.joined(separator: ", "),
            question: "What do you mean by " + unresolved.map { "“\($0)”" }.joined(separator: " and ")
                + "? Name the file, and the text or result you want.")
        if !actions.isEmpty {
            let asked = actions.filter { !$0.verbs.isDisjoint(with: anchors.words) }
            report.add(
                "action-asked", !asked.isEmpty, blocking: true,
                asked.isEmpty
                    ? "the request asks for nothing the allowed tools do (\(Set(actions.map(\.summary)).sorted().joined(separator: ", ")))"
                    : "the request asks to " + asked.map(\.summary).joined(separator: " or "),
                question:
                    "What should be done? For example: write a file (which one, with what text), read or list files, or run code."
            )
        }
        if let intent {
            // What the interpreter says the request is about must be in the request.
            let lower = text.lowercased()
            let entities = intent.entities.map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            let foreign = entities.filter { !lower.contains($0.lowercased()) }
            report.add(
                "intent-grounded", foreign.isEmpty, blocking: false,
                foreign.isEmpty
                    ? "the intent's entities are in the request"
                    : "the intent names what the request does not: "
                        + foreign.map { "“\($0)”" }.joined(separator: ", "),
                fraction: entities.isEmpty ? 0 : Double(entities.count - foreign.count) / Double(entities.count),
                // Half a check: a stepwise planner plans from the request, not from the intent.
                weight: 0.5)
        }
        return report
    }

    // MARK: Checks of a plan

    /// The steps against the request: names, texts, actions, coverage. `workspace` lists the
    /// files already in the workflow's workspace (a read of one of them needs no name in the request).
    static func check(
        steps: [Planner.Step], request: String, answers: [String] = [], actions: [PlanningAction],
        workspace: Set<String> = []
    ) -> Report {
        let text = ([request] + answers).joined(separator: "\n")
        let anchors = anchors(of: text)
        let named = Set(anchors.files.map(normalised))
        var report = Report()
        var written: Set<String> = []
        var used: Set<String> = []
        var usedText = ""
        var ungroundedPaths: [String] = []
        var unaskedActions: [String] = []
        var ungroundedText: [String] = []
        var instructionText: [String] = []
        var codeNames: [String] = []
        var repeated: [String] = []

        for (index, step) in steps.enumerated() {
            let action = actions.first { $0.matches(tool: step.tool, arguments: step.arguments) }
            if let action, action.verbs.isDisjoint(with: anchors.words) {
                unaskedActions.append("step \(index + 1) (\(action.summary))")
            }
            for (name, value) in Self.paths(of: step, action: action) {
                let path = normalised(value.path)
                switch value.kind {
                case .directory:
                    if !(path.isEmpty || path == "." || named.contains(path)
                        || anchors.words.contains(path.lowercased()))
                    {
                        ungroundedPaths.append("\(name) “\(value.path)”")
                    }
                case .readPath:
                    if !(named.contains(path) || workspace.contains(path) || written.contains(path)) {
                        ungroundedPaths.append("\(name) “\(value.path)”")
                    }
                    used.insert(path)
                default:
                    if !named.contains(path) { ungroundedPaths.append("\(name) “\(value.path)”") }
                    if written.contains(path) { repeated.append(value.path) }
                    written.insert(path)
                    used.insert(path)
                }
            }
            if let content = step.arguments["content"]?.stringValue,
                action?.fields.contains(where: { $0.kind == .text }) ?? true
            {
                usedText += "\n" + content
                let trimmed = content.trimmingCharacters(in: .whitespacesAndNewlines)
                if !trimmed.isEmpty,
                    words(trimmed).allSatisfy({ instructionWords.contains($0) || named.contains($0) })
                        || named.contains(trimmed)
                {
                    instructionText.append("“\(trimmed)”")
                } else if !anchors.values.isEmpty {
                    if !anchors.values.contains(where: {
                        content.contains($0)
                            || $0.contains(trimmed) && !trimmed.isEmpty && trimmed.count * 2 >= $0.count
                    }) {
                        ungroundedText.append("“\(trimmed.prefix(60))”")
                    }
                } else if !text.contains(trimmed) {
                    ungroundedText.append("“\(trimmed.prefix(60))”")
                }
            }
            if let code = step.arguments["code"]?.stringValue {
                usedText += "\n" + code
                for literal in fileNamesIn(code: code) {
                    let path = normalised(literal)
                    if named.contains(path) {
                        used.insert(path)
                    } else if !workspace.contains(path) && !written.contains(path) {
                        codeNames.append("“\(literal)”")
                    }
                }
            }
        }

        report.add(
            "paths-named", ungroundedPaths.isEmpty, blocking: true,
            ungroundedPaths.isEmpty
                ? "every path is one the request names (or one already there)"
                : "the plan uses paths the request does not name: \(ungroundedPaths.joined(separator: ", "))"
                    + (named.isEmpty
                        ? "; the request names no file"
                        : "; the request names \(anchors.files.joined(separator: ", "))"),
            question: named.isEmpty
                ? "Which file should this be done with? Please give its name (for example notes.txt)."
                : "Should the work touch only \(anchors.files.joined(separator: ", "))? Name any other file it needs.")
        report.add(
            "action-asked", unaskedActions.isEmpty, blocking: true,
            unaskedActions.isEmpty
                ? "every step does something the request asks for"
                : "the request does not ask for \(unaskedActions.joined(separator: ", "))",
            question: "What should be done: write, read or list files, or run code?")
        report.add(
            "text-not-instruction", instructionText.isEmpty, blocking: true,
            instructionText.isEmpty
                ? "no step writes the request's instruction words as its text"
                : "the plan writes words of the instruction instead of a value: \(instructionText.joined(separator: ", "))",
            question: "What exactly should the file contain?")
        report.add(
            "text-from-request", ungroundedText.isEmpty, blocking: !anchors.values.isEmpty,
            ungroundedText.isEmpty
                ? "the text written is taken from the request"
                : anchors.values.isEmpty
                    ? "the plan writes text the request does not give (the model's own): \(ungroundedText.joined(separator: ", "))"
                    : "the request gives the text \(anchors.values.map { "“\($0)”" }.joined(separator: ", ")), but the plan writes \(ungroundedText.joined(separator: ", "))",
            question: "What exactly should the file contain?", cap: ownWordsCap)
        report.add(
            "code-names", codeNames.isEmpty, blocking: true,
            codeNames.isEmpty
                ? "the code uses only files the request names"
                : "the code uses files the request does not name: \(codeNames.joined(separator: ", "))",
            question: "Which files should the code read and write?")
        let missingTools = PlanningAction.neededTools(actions, words: anchors.words).subtracting(steps.map(\.tool))
        report.add(
            "tools-asked", missingTools.isEmpty, blocking: true,
            missingTools.isEmpty
                ? "every tool the request asks for has a step"
                : "the request asks for \(missingTools.sorted().joined(separator: ", ")), but no step uses it",
            question: "Should this run code, and which program?")
        let uncovered = anchors.files.filter { !used.contains(normalised($0)) }
        report.add(
            "names-covered", uncovered.isEmpty, blocking: true,
            uncovered.isEmpty
                ? "every file the request names is used"
                : "the plan leaves out \(uncovered.joined(separator: ", ")), which the request names",
            question: "Should \(uncovered.joined(separator: " and ")) be part of this?")
        let missingValues = (anchors.values + anchors.numbers.filter { !anchors.files.joined().contains($0) })
            .filter { !usedText.contains($0) }
        report.add(
            "values-used", missingValues.isEmpty, blocking: false,
            missingValues.isEmpty
                ? "every value the request gives appears in the plan"
                : "the plan does not use \(missingValues.map { "“\($0)”" }.joined(separator: ", ")) from the request")
        let programs = steps.filter { $0.arguments["code"] != nil }.count
        report.add(
            "code-unverified", programs == 0, blocking: false,
            programs == 0
                ? "no step runs code" : "laloD cannot check what the code computes; a person should look at its result",
            weight: 0, cap: codeCap)
        report.add(
            "steps-necessary", repeated.isEmpty, blocking: false,
            repeated.isEmpty
                ? "no step is undone by a later one"
                : "the plan writes \(repeated.joined(separator: ", ")) more than once")
        return report
    }

    /// The paths a step touches, with how: from its action's fields, or (for a step no action
    /// describes, as in a whole plan from a large model) from the common argument names.
    static func paths(of step: Planner.Step, action: PlanningAction?) -> [(
        String, (path: String, kind: PlanningAction.FieldKind)
    )] {
        var found: [(String, (path: String, kind: PlanningAction.FieldKind))] = []
        if let action {
            for field in action.fields where [.writtenPath, .readPath, .directory].contains(field.kind) {
                if let value = step.arguments[field.name]?.stringValue {
                    found.append((field.name, (value, field.kind)))
                }
            }
        } else {
            let operation = step.arguments["operation"]?.stringValue ?? ""
            if let path = step.arguments["path"]?.stringValue {
                found.append(
                    ("path", (path, operation == "read" ? .readPath : operation == "list" ? .directory : .writtenPath)))
            }
            if let to = step.arguments["to"]?.stringValue { found.append(("to", (to, .writtenPath))) }
        }
        for file in step.arguments["files"]?.arrayValue ?? [] {
            if let path = file["path"]?.stringValue { found.append(("files", (path, .writtenPath))) }
        }
        for output in step.arguments["outputs"]?.arrayValue ?? [] {
            if let path = output.stringValue { found.append(("outputs", (path, .readPath))) }
        }
        return found
    }

    /// String literals in a program (or words of a shell command) that look like file names.
    static func fileNamesIn(code: String) -> [String] {
        var names: [String] = []
        for raw in code.split(whereSeparator: { $0.isWhitespace || "\"'`()[]{},;=<>|&+*%".contains($0) }) {
            let token = String(raw)
            if isFileName(token), !names.contains(token), !token.hasPrefix("."),
                // Attribute access (`os.path`, `f.write`) is not a file: it has no extension-like tail of letters only
                // after a name that is a Python identifier followed by a call.
                !isAttributeAccess(token, in: code)
            {
                names.append(token)
            }
        }
        return names
    }

    private static func isAttributeAccess(_ token: String, in code: String) -> Bool {
        // `f.write(`, `os.getcwd(`, `sys.stdout`: followed by "(" or used without quotes.
        if code.contains(token + "(") { return true }
        let quoted = ["\"", "'"].contains { code.contains($0 + token + $0) }
        let shellArgument =
            code.contains("> " + token) || code.contains(">" + token) || code.contains("< " + token)
            || code.contains(" " + token + " ") || code.hasSuffix(" " + token)
        return !(quoted || shellArgument)
            || ["os.path", "sys.argv", "sys.stdout", "sys.stdin", "sys.stderr"].contains(token)
    }

    static func normalised(_ path: String) -> String {
        var path = path.trimmingCharacters(in: .whitespaces)
        while path.hasPrefix("./") { path.removeFirst(2) }
        if path.hasPrefix("/workspace/") { path.removeFirst("/workspace/".count) }
        return path
    }
}
