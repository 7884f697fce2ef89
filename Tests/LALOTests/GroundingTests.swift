import Foundation
import Shared
import Testing

@testable import laloD

/// laloD's own checks of interpretations and plans against the request (docs/workflows.md#confidence):
/// tables of requests and plans, each with the checks that must fail. None of these requests is
/// one of the evaluation set's.
@Suite("Grounding checks")
struct GroundingTests {
    static let actions =
        FileTool().planningActions + CodeRunTool(sandbox: Sandbox(configuration: Configuration())).planningActions

    static func write(_ path: String, _ content: String) -> Planner.Step {
        Planner.Step(
            tool: "file", arguments: ["operation": "write", "path": .string(path), "content": .string(content)],
            expectedOutcome: "", dependsOn: [])
    }
    static func list(_ path: String = ".") -> Planner.Step {
        Planner.Step(
            tool: "file", arguments: ["operation": "list", "path": .string(path)], expectedOutcome: "", dependsOn: [])
    }
    static func read(_ path: String) -> Planner.Step {
        Planner.Step(
            tool: "file", arguments: ["operation": "read", "path": .string(path)], expectedOutcome: "", dependsOn: [])
    }
    static func delete(_ path: String) -> Planner.Step {
        Planner.Step(
            tool: "file", arguments: ["operation": "delete", "path": .string(path)], expectedOutcome: "", dependsOn: [])
    }
    static func python(_ code: String) -> Planner.Step {
        Planner.Step(
            tool: "code.run", arguments: ["language": "python", "code": .string(code)], expectedOutcome: "",
            dependsOn: [])
    }

    @Test(
        "what a request names",
        arguments: [
            (
                "Store the phrase: blue skies ahead in weather.log", ["weather.log"], [String](), ["blue skies ahead"],
                [String]()
            ),
            ("Copy data/in.csv to out.json", ["data/in.csv", "out.json"], [], [], []),
            ("Write \"ship it\" to deploy.md", ["deploy.md"], ["ship it"], [], []),
            ("Set the limit to 250 in limits.conf.", ["limits.conf"], [], [], ["250"]),
            ("Open https://example.com/a.html and tell me", [], [], [], []),
            ("Mr. Smith's notes", [], [], [], []),
        ])
    func anchors(request: String, files: [String], quoted: [String], tails: [String], numbers: [String]) {
        let anchors = Grounding.anchors(of: request)
        #expect(anchors.files == files)
        #expect(anchors.quoted == quoted)
        #expect(anchors.tails == tails)
        if !numbers.isEmpty { #expect(anchors.numbers == numbers) }
    }

    @Test(
        "requests that refer to what they do not say",
        arguments: [
            ("tidy it up", true), ("do the same as before with the logs", true), ("send that report to Bob", true),
            ("put these files somewhere", true), ("whatever you think", true),
            ("Write a file called plan.txt that says go", false), ("List what is in the workspace", false),
            ("Save 12 to count.txt", false),
        ])
    func references(request: String, unresolved: Bool) {
        let report = Grounding.check(request: request, answers: [], intent: nil, actions: Self.actions)
        let check = report.checks.first { $0.name == "references-resolved" }
        #expect(check?.passed == !unresolved, "\(request): \(check?.detail ?? "")")
        if unresolved { #expect(report.blocked && !report.questions.isEmpty) }
    }

    @Test("an answer to the question resolves the reference")
    func answersResolve() {
        let report = Grounding.check(
            request: "tidy it up", answers: ["remove empty lines from draft.txt"], intent: nil, actions: Self.actions)
        #expect(report.checks.first { $0.name == "references-resolved" }?.passed == true)
    }

    @Test("a request that asks for nothing the tools do")
    func nothingAsked() {
        let report = Grounding.check(request: "qwfp arst 42 zxcv", answers: [], intent: nil, actions: Self.actions)
        #expect(report.checks.first { $0.name == "action-asked" }?.passed == false)
        #expect(report.blocked)
    }

    /// Plans for one request, right and wrong; each wrong one names the checks that must fail.
    @Test(
        "plans against their request",
        arguments: [
            ("right", [write("weather.log", "blue skies ahead")], [String]()),
            ("another name", [write("forecast.txt", "blue skies ahead")], ["paths-named", "names-covered"]),
            ("other text", [write("weather.log", "The file is not found.")], ["text-from-request", "values-used"]),
            (
                "instruction words as text", [write("weather.log", "the phrase")],
                ["text-not-instruction", "values-used"]
            ),
            // Deleting is no planning action (only whole plans have it), so only its path is checked.
            (
                "a delete nobody asked for", [write("weather.log", "blue skies ahead"), delete("other.txt")],
                ["paths-named"]
            ),
            ("an unasked list first", [list(), write("weather.log", "blue skies ahead")], ["action-asked"]),
            (
                "code writing elsewhere", [python("open('x.out', 'w').write('blue skies ahead')")],
                ["action-asked", "code-names", "names-covered", "code-unverified"]
            ),
            (
                "written twice", [write("weather.log", "blue skies ahead"), write("weather.log", "blue skies ahead")],
                ["steps-necessary"]
            ),
        ])
    func plans(name: String, steps: [Planner.Step], failing: [String]) {
        let report = Grounding.check(
            steps: steps, request: "Store the phrase: blue skies ahead in weather.log", actions: Self.actions)
        #expect(Set(report.failures.map(\.name)) == Set(failing), "\(name): \(report.objections)")
        let confidence = Grounding.confidence(checks: report, modelScore: 1)
        if failing.contains(where: {
            ["paths-named", "text-from-request", "text-not-instruction", "action-asked", "code-names"].contains($0)
        }) {
            #expect(confidence <= Grounding.blockedCap, "\(name)")
        }
        if failing.isEmpty { #expect(confidence == 1) }
        if failing == ["steps-necessary"] { #expect(confidence > 0.9) }
    }

    @Test("reads: of a named file, of a workspace file, of a file an earlier step wrote; not of an invented one")
    func reads() {
        let request = "Show me what is in settings.yaml"
        #expect(
            Grounding.check(steps: [Self.read("settings.yaml")], request: request, actions: Self.actions).failures
                .isEmpty)
        let invented = Grounding.check(steps: [Self.read("secrets.txt")], request: request, actions: Self.actions)
        #expect(invented.failures.map(\.name).contains("paths-named"))
        let existing = Grounding.check(
            steps: [Self.read("secrets.txt")], request: "Show me what is in the file I left",
            actions: Self.actions, workspace: ["secrets.txt"])
        #expect(!existing.failures.map(\.name).contains("paths-named"))
    }

    @Test("code: the files it names must be the request's, and the request's files must be in it")
    func code() {
        let request = "Use Python to square 11 and save it in sq.txt"
        let right = Grounding.check(
            steps: [Self.python("with open(\"sq.txt\", \"w\") as f:\n    f.write(str(11 ** 2))\n")],
            request: request, actions: Self.actions)
        // What the code computes no check can say: that caps the confidence, nothing else fails.
        #expect(right.failures.map(\.name) == ["code-unverified"], "\(right.objections)")
        #expect(Grounding.confidence(checks: right, modelScore: 1) == Grounding.codeCap)
        let wrong = Grounding.check(steps: [Self.python("print(11 ** 2)")], request: request, actions: Self.actions)
        #expect(wrong.failures.map(\.name).contains("names-covered"))
    }

    @Test("a plan that writes data and runs code over it")
    func dataAndCode() {
        let code =
            "import csv\nrows = list(csv.reader(open('data.csv')))\nopen('total.txt', 'w').write(str(sum(int(r[1]) for r in rows)) + '\\n')\nimport os; os.remove('stale.txt')\nprint(len(rows))"
        var run = Self.python(code)
        run.arguments["outputs"] = ["total.txt"]
        let report = Grounding.check(
            steps: [Self.write("data.csv", "a,2\nb,40\n"), run],
            request: "write data.csv, add up its second column with Python into total.txt and remove stale.txt",
            actions: Self.actions)
        #expect(!report.blocked, "\(report.objections)")
        #expect(Set(report.failures.map(\.name)) == ["text-from-request", "code-unverified"])
    }

    @Test("the formula: checks and the models' score, capped while a blocking check fails")
    func formula() {
        var passing = Grounding.Report()
        passing.add("a", true, blocking: true, "")
        passing.add("b", true, blocking: false, "")
        #expect(Grounding.confidence(checks: passing, modelScore: 0.5) == 0.9)
        #expect(Grounding.confidence(checks: passing, modelScore: 0.5, checkWeight: 0.5) == 0.75)
        var warning = passing
        warning.add("c", false, blocking: false, "")
        #expect(Grounding.confidence(checks: warning, modelScore: 1) == 0.8)
        var partly = passing
        partly.add("e", false, blocking: false, "", fraction: 0.5)
        #expect(Grounding.confidence(checks: partly, modelScore: 1) == 0.9)
        var capped = passing
        capped.add("f", false, blocking: false, "", weight: 0, cap: 0.6)
        #expect(Grounding.confidence(checks: capped, modelScore: 1) == 0.6)
        var blocked = passing
        blocked.add("d", false, blocking: true, "")
        #expect(Grounding.confidence(checks: blocked, modelScore: 1) == Grounding.blockedCap)
    }
}
