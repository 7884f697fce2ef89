import Foundation
import Shared
import Testing

@testable import laloD

/// `code.run` with the real launcher: the sandbox and the `file` tool share one stage, rollback
/// leaves the workspace byte for byte as it was, commit applies what the review showed, and code
/// cannot make laloD collect a file from outside the workspace.
@Suite("code.run tool", .serialized, .timeLimit(.minutes(5)))
struct CodeRunTests {
    static let uidBase = 260_000

    final class Fixture: @unchecked Sendable {
        let directory = TemporaryDirectory("lalo-code")
        let tool: CodeRunTool
        let lower: Workspace
        let stage: Stage
        let staged: StagedWorkspace

        init(_ files: [String: String] = [:], stage name: String = "1") throws {
            var configuration = Configuration()
            configuration.store.stateDirectory = directory.file("state")
            configuration.sandbox.launcher = Binaries.directory.appendingPathComponent("lalo-sandbox").path
            configuration.sandbox.hostUidBase = CodeRunTests.uidBase
            configuration.sandbox.slots = 2
            tool = CodeRunTool(sandbox: Sandbox(configuration: configuration))
            lower = try Workspace(root: directory.file("state/workspaces/wf"))
            for (path, content) in files { try lower.write(path, Array(content.utf8)) }
            stage = try Stage(directory: directory.file("state/stages/wf/\(name)"))
            staged = try StagedWorkspace(lower: lower, stage: stage)
        }

        func run(_ arguments: JSONValue) async throws -> JSONValue {
            let context = ToolContext(
                actor: AuditActor(uid: 0, user: "root", pid: 1, sessionId: 1), permissions: [.workflowRun],
                workspace: staged, workflowId: "wf", step: 0, idempotencyKey: "k",
                settings: ["maxOutputFileBytes": .int(Int64(tool.defaultSettings["maxOutputFileBytes"]!))])
            let result = try await tool.run(arguments, context: context)
            try tool.descriptor.outputSchema.validate(result, at: "result")
            return result
        }
    }

    static let script = """
        import os
        plan = open("plan.txt").read()
        with open("notes.txt", "a") as f: f.write("two\\n")
        with open("result.csv", "w") as f: f.write("step,done\\n1,yes\\n")
        os.remove("old/x"); os.rmdir("old")
        print(sorted(os.listdir(".")), plan.strip(), os.getuid())
        """

    /// Files in, the file tool's writes and the code's writes all land in one stage; the
    /// workspace is untouched until the commit, and a discard leaves it byte for byte as it was.
    @Test func theSandboxAndTheFileToolShareOneStage() async throws {
        let f = try Fixture(["notes.txt": "one\n", "old/x": "x", "data/keep.bin": "\u{0}\u{1}"])
        let before = StageTests.tree(f.lower.root)
        try f.staged.write("plan.txt", Array("step 1\n".utf8))  // as the file tool would
        let result = try await f.run([
            "language": "python", "code": .string(Self.script),
            "files": [["path": "input/args.txt", "content": "--fast"]],
            "outputs": ["result.csv", "notes.txt", "input/args.txt"],
        ])
        #expect(result["exitCode"] == 0, "\(result)")
        #expect(
            result["stdout"]?.stringValue?.hasPrefix("['data', 'input', 'notes.txt', 'plan.txt', 'result.csv'] step 1")
                == true,
            "the code sees the workspace with the stage on top: \(result["stdout"] ?? .null) \(result["stderr"] ?? .null)"
        )
        #expect(result["stdout"]?.stringValue?.hasSuffix(" 1000\n") == true, "an unprivileged user inside")
        #expect(result["files"]?.arrayValue?.map { $0["content"] } == ["step,done\n1,yes\n", "one\ntwo\n", "--fast"])
        // Laloctl's view of the stage is the code's view.
        #expect(
            try StageTests.files(f.staged) == [
                "data/keep.bin": "\u{0}\u{1}", "input/args.txt": "--fast", "notes.txt": "one\ntwo\n",
                "plan.txt": "step 1\n", "result.csv": "step,done\n1,yes\n",
            ])
        let changes = try f.stage.changes(over: f.lower)
        #expect(
            changes.map { "\($0.kind.rawValue) \($0.path)" } == [
                "added input/args.txt", "changed notes.txt", "deleted old/x",
                "added plan.txt", "added result.csv",
            ])
        #expect(changes[1].json["diff"]?.stringValue?.contains(" one\n+two\n") == true)
        #expect(StageTests.tree(f.lower.root) == before, "nothing reaches the workspace before the commit")

        // A second run, in the other slot, sees and changes what the first left.
        let again = try await f.run(["language": "shell", "code": "cat result.csv >> notes.txt && id -u"])
        #expect(again["exitCode"] == 0, "\(again)")
        #expect(try f.staged.read("notes.txt") == Array("one\ntwo\nstep,done\n1,yes\n".utf8))

        // Rollback: the workspace is byte for byte what it was, modes and times included.
        try f.stage.discard()
        #expect(StageTests.tree(f.lower.root) == before)
        #expect(!FileManager.default.fileExists(atPath: f.stage.directory))
    }

    @Test func aCommitAppliesWhatTheReviewShowed() async throws {
        let f = try Fixture(["notes.txt": "one\n", "old/x": "x"])
        let result = try await f.run([
            "language": "python",
            "code": .string(
                """
                import os
                open("notes.txt", "a").write("two\\n")
                os.makedirs("out/deep"); open("out/deep/r.txt", "w").write("r")
                open("run.sh", "w").write("#!/bin/sh\\n"); os.chmod("run.sh", 0o755)
                os.remove("old/x")
                """),
        ])
        #expect(result["exitCode"] == 0, "\(result)")
        let shown = try StageTests.files(f.staged)
        try f.stage.apply(to: f.lower).finish()
        let committed = try Workspace(root: f.lower.root)
        #expect(try StageTests.files(committed) == shown)
        #expect(shown == ["notes.txt": "one\ntwo\n", "out/deep/r.txt": "r", "run.sh": "#!/bin/sh\n"])
        // Owner-only modes, the execute bit kept; owned by laloD.
        var info = stat()
        #expect(
            lstat(f.lower.root + "/run.sh", &info) == 0 && info.st_mode & 0o7777 == 0o700 && info.st_uid == getuid())
        #expect(
            lstat(f.lower.root + "/notes.txt", &info) == 0 && info.st_mode & 0o7777 == 0o600 && info.st_uid == getuid())
    }

    struct Escape: Sendable, CustomTestStringConvertible {
        var name: String
        var code: String
        var output: String
        var refusal: String
        var testDescription: String { name }
    }

    /// Code that tries to make laloD collect, or commit, something from outside the workspace.
    static let escapes: [Escape] = [
        Escape(
            name: "symlink to /etc/shadow", code: "ln -s /etc/shadow out.txt", output: "out.txt",
            refusal: "symbolic link"),
        Escape(
            name: "symlink to the daemon's environment", code: "ln -s /proc/1/environ env.txt", output: "env.txt",
            refusal: "symbolic link"),
        Escape(name: "symlinked directory", code: "ln -s / root", output: "root/etc/shadow", refusal: "symbolic link"),
        Escape(
            name: "symlink deeper in the path", code: "mkdir -p a && ln -s /etc a/b", output: "a/b/shadow",
            refusal: "symbolic link"),
        Escape(name: "hard link", code: "echo s > a.txt && ln a.txt b.txt", output: "b.txt", refusal: "hard links"),
        Escape(
            name: "hard link to a workspace file", code: "ln notes.txt copy.txt", output: "copy.txt",
            refusal: "hard links"),
        Escape(name: "FIFO", code: "mkfifo pipe", output: "pipe", refusal: "not a regular file"),
        Escape(name: "directory", code: "mkdir d", output: "d", refusal: "is a directory"),
        Escape(name: "climbing out", code: "true", output: "../../../etc/shadow", refusal: "`..` is not allowed"),
        Escape(name: "absolute path", code: "true", output: "/etc/shadow", refusal: "absolute paths"),
        Escape(
            name: "larger than the tool returns", code: "head -c 2000000 /dev/zero > big", output: "big",
            refusal: "more than the 1048576"),
    ]

    @Test("collecting output files", arguments: escapes)
    func outputFilesStayInTheWorkspace(_ escape: Escape) async throws {
        let f = try Fixture(["notes.txt": "one\n"])
        let result = try await f.run([
            "language": "shell", "code": .string(escape.code), "outputs": [.string(escape.output)],
        ])
        #expect(result["exitCode"] == 0, "\(result)")
        let file = result["files"]?.arrayValue?.first
        #expect(file?["content"] == nil && file?["base64"] == nil, "\(escape.name) was collected: \(file ?? .null)")
        #expect(file?["error"]?.stringValue?.contains(escape.refusal) == true, "\(escape.name): \(file ?? .null)")
        let text = JSONWriter.string(result)
        #expect(!text.contains("root:") && !text.contains("LALO_"), "\(escape.name) leaked host content")
        // Committing the stage carries no link or special file into the workspace.
        let changes = try f.stage.changes(over: f.lower)
        for change in changes where change.kind == .refused { #expect(change.reason != nil) }
        try f.stage.apply(to: f.lower).finish()
        let committed = StageTests.tree(f.lower.root)
        #expect(!committed.values.contains { $0.hasSuffix("special") }, "\(committed)")
        #expect(
            !committed.keys.contains { name in
                var info = stat()
                return lstat(f.lower.root + "/" + name, &info) == 0 && info.st_mode & S_IFMT == S_IFLNK
            }, "a symbolic link was committed: \(committed)")
        #expect(try Workspace(root: f.lower.root).read("notes.txt") == Array("one\n".utf8))
    }

    /// Names no workspace path can spell (not UTF-8), a name with a line break, a 0000 directory,
    /// a link in a replaced directory: the review lists what the commit does, the commit leaves out
    /// what it cannot name, and discarding removes everything.
    @Test func hostileNamesInTheStage() async throws {
        let f = try Fixture(["notes.txt": "one\n", "d/kept": "k"])
        let result = try await f.run([
            "language": "shell",
            "code": .string(
                """
                touch "$(printf 'bad\\377name')"; printf 'x' > "$(printf 'two\\nlines')"
                mkdir -p locked/inner && touch locked/inner/f && chmod 000 locked
                rm -r d && mkdir d && ln -s /etc/shadow d/kept
                """),
        ])
        #expect(result["exitCode"] == 0, "\(result)")
        let changes = try f.stage.changes(over: f.lower)
        #expect(
            changes.contains { $0.kind == .deleted && $0.path == "d/kept" },
            "the replaced directory's file is gone: \(changes)")
        #expect(changes.contains { $0.kind == .refused && $0.path == "d/kept" })
        let json = JSONWriter.string(.array(changes.map(\.json)))
        #expect(json.contains("two\\\\nlines"), "a line break in a name is escaped in the diff: \(json)")
        let applied = try f.stage.apply(to: f.lower)
        applied.finish()
        let names = try FileManager.default.contentsOfDirectory(atPath: f.lower.root).sorted()
        #expect(names == ["d", "locked", "notes.txt", "two\nlines"], "\(names)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: f.lower.root + "/d").isEmpty)
        try f.stage.discard()
        #expect(!FileManager.default.fileExists(atPath: f.stage.directory))
    }

    @Test func argumentsAreCheckedAtTheBoundary() async throws {
        let f = try Fixture()
        let cases: [(JSONValue, String)] = [
            (["language": "ruby", "code": "1"], "arguments.language"),
            (
                ["language": "shell", "code": "true", "limits": ["memoryBytes": .int(1 << 50)]],
                "arguments.limits.memoryBytes"
            ),
            (["language": "shell", "code": "true", "env": ["1BAD": "x"]], "arguments.env.1BAD"),
            (
                ["language": "shell", "code": "true", "files": [["path": "../x", "content": "x"]]],
                "arguments.files[0].path"
            ),
        ]
        for (arguments, field) in cases {
            do {
                _ = try await f.run(arguments)
                Issue.record("\(arguments) was accepted")
            } catch let failure as ToolFailure {
                #expect(failure.field == field, "\(arguments): \(failure)")
            }
        }
        #expect(try f.stage.changes(over: f.lower).isEmpty, "a refused call stages nothing")
    }
}
