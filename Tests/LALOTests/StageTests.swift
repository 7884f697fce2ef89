import Crypto
import Foundation
import Shared
import Testing

@testable import laloD

/// Staged workspaces: overlayfs's rules as the `file` tool applies them, the review's diff, the
/// atomic commit, and rollback that leaves the workspace byte for byte as it was.
@Suite("Staged workspace")
struct StageTests {
    /// Every entry under `root`: kind, mode, modification time and a digest of the content. Two
    /// equal trees are equal byte for byte.
    static func tree(_ root: String) -> [String: String] {
        var result: [String: String] = [:]
        func walk(_ directory: String, _ prefix: String) {
            for name in ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted() {
                let path = directory + "/" + name
                var info = stat()
                guard lstat(path, &info) == 0 else { continue }
                let meta = "\(String(info.st_mode, radix: 8)) \(info.st_mtim.tv_sec).\(info.st_mtim.tv_nsec)"
                switch info.st_mode & S_IFMT {
                case S_IFDIR:
                    result[prefix + name + "/"] = meta
                    walk(path, prefix + name + "/")
                case S_IFREG:
                    let digest = SHA256.hash(data: FileManager.default.contents(atPath: path) ?? Data())
                    result[prefix + name] = meta + " " + digest.map { String(format: "%02x", $0) }.joined()
                default:
                    result[prefix + name] = meta + " special"
                }
            }
        }
        walk(root, "")
        return result
    }

    /// The files a view shows, with their text.
    static func files(_ view: any WorkspaceFiles, _ path: String = ".") throws -> [String: String] {
        var result: [String: String] = [:]
        for entry in try view.list(path) {
            let child = path == "." ? entry.name : path + "/" + entry.name
            if entry.type == "directory" {
                result.merge(try files(view, child)) { a, _ in a }
            } else {
                result[child] = String(decoding: try view.read(child), as: UTF8.self)
            }
        }
        return result
    }

    struct Layers {
        let directory = TemporaryDirectory("lalo-stage")
        let lower: Workspace
        let stage: Stage
        let staged: StagedWorkspace

        init(_ files: [String: String], stage name: String = "stage") throws {
            lower = try Workspace(root: directory.file("workspaces/wf"))
            for (path, content) in files { try lower.write(path, Array(content.utf8)) }
            stage = try Stage(directory: directory.file("stages/wf/\(name)"))
            staged = try StagedWorkspace(lower: lower, stage: stage)
        }
    }

    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var lower: [String: String]
        var operations: @Sendable (StagedWorkspace) throws -> Void
        var view: [String: String]
        var changes: [String]
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(
            name: "a new file", lower: ["a": "1"], operations: { try $0.write("b", Array("2".utf8)) },
            view: ["a": "1", "b": "2"], changes: ["added b"]),
        Case(
            name: "a changed file", lower: ["a": "1"], operations: { try $0.write("a", Array("x".utf8)) },
            view: ["a": "x"], changes: ["changed a"]),
        Case(
            name: "an append copies the file up", lower: ["d/a": "1"],
            operations: { try $0.append("d/a", Array("+".utf8)) },
            view: ["d/a": "1+"], changes: ["changed d/a"]),
        Case(
            name: "a deleted file", lower: ["a": "1", "b": "2"], operations: { try $0.delete("a") },
            view: ["b": "2"], changes: ["deleted a"]),
        Case(
            name: "deleted and written again", lower: ["a": "1"],
            operations: {
                try $0.delete("a")
                try $0.write("a", Array("new".utf8))
            },
            view: ["a": "new"], changes: ["changed a"]),
        Case(
            name: "a directory deleted and made again hides the old entries", lower: ["d/x": "1", "d/y": "2"],
            operations: {
                try $0.delete("d/x")
                try $0.delete("d/y")
                try $0.delete("d")
                try $0.write("d/z", Array("3".utf8))
            }, view: ["d/z": "3"], changes: ["deleted d/x", "deleted d/y", "added d/z"]),
        Case(
            name: "a moved file", lower: ["a": "1"], operations: { try $0.move("a", to: "sub/b") },
            view: ["sub/b": "1"], changes: ["deleted a", "added sub/b"]),
        Case(
            name: "a moved directory", lower: ["d/x": "1", "d/e/y": "2"], operations: { try $0.move("d", to: "m") },
            view: ["m/x": "1", "m/e/y": "2"], changes: ["deleted d/e/y", "deleted d/x", "added m/e/y", "added m/x"]),
        Case(
            name: "a new file deleted again is no change", lower: ["a": "1"],
            operations: {
                try $0.write("n", Array("1".utf8))
                try $0.delete("n")
            }, view: ["a": "1"], changes: []),
        Case(
            name: "the same bytes written again are no change", lower: ["a": "1"],
            operations: { try $0.write("a", Array("1".utf8)) },
            view: ["a": "1"], changes: []),
    ]

    @Test("overlay rules, diff, commit and discard", arguments: cases)
    func overlayRules(_ c: Case) throws {
        let layers = try Layers(c.lower)
        let before = Self.tree(layers.lower.root)
        try c.operations(layers.staged)
        #expect(try Self.files(layers.staged) == c.view, "what the stage shows")
        #expect(Self.tree(layers.lower.root) == before, "the workspace is not touched before the commit")
        let changes = try layers.stage.changes(over: layers.lower)
        #expect(changes.map { "\($0.kind.rawValue) \($0.path)" } == c.changes)
        // A commit that could not be recorded is swapped back: the workspace as it was.
        try layers.stage.apply(to: layers.lower).undo()
        #expect(Self.tree(layers.lower.root) == before, "undone byte for byte")
        // Commit: the workspace becomes what the stage showed; applying again changes nothing.
        try layers.stage.apply(to: Workspace(root: layers.lower.root)).finish()
        let committed = try Workspace(root: layers.lower.root)
        #expect(try Self.files(committed) == c.view, "the committed workspace")
        try layers.stage.apply(to: committed).finish()
        #expect(try Self.files(Workspace(root: layers.lower.root)) == c.view, "applying twice")
        #expect(try layers.stage.changes(over: Workspace(root: layers.lower.root)).isEmpty, "nothing left to change")
        #expect(
            try FileManager.default.contentsOfDirectory(atPath: layers.directory.file("workspaces")) == ["wf"],
            "the old trees are removed")
        try layers.stage.discard()
        #expect(!FileManager.default.fileExists(atPath: layers.stage.directory))
    }

    @Test func refusedOperationsChangeNothing() throws {
        let layers = try Layers(["a": "1", "d/x": "2", "b": "3"])
        let attempts: [(String, (StagedWorkspace) throws -> Void, String)] = [
            ("a non-empty directory", { try $0.delete("d") }, "not empty"),
            ("a move onto a file", { try $0.move("a", to: "b") }, "already exists"),
            ("a directory into itself", { try $0.move("d", to: "d/e") }, "into itself"),
            (
                "reading a deleted file",
                {
                    try $0.delete("b")
                    _ = try $0.read("b")
                }, "no such file"
            ),
            ("a path through ..", { _ = try $0.read("d/../../x") }, "`..`"),
            ("an absolute path", { try $0.write("/etc/passwd", []) }, "absolute"),
            ("writing over a directory", { try $0.write("d", []) }, "is a directory"),
        ]
        for (name, attempt, expected) in attempts {
            do {
                try attempt(layers.staged)
                Issue.record("\(name) was allowed")
            } catch {
                #expect("\(error)".contains(expected), "\(name): \(error)")
            }
        }
        #expect(try Self.files(layers.staged) == ["a": "1", "d/x": "2"])
    }

    /// The diff carries text diffs and sizes; the lines a discard reports name every change.
    @Test func theReviewDiff() throws {
        let layers = try Layers(["notes.txt": "one\ntwo\n", "old.txt": "gone\n"])
        try layers.staged.write("notes.txt", Array("one\n2\n".utf8))
        try layers.staged.delete("old.txt")
        try layers.staged.write("new/file.txt", Array("fresh\n".utf8))
        let changes = try layers.stage.changes(over: layers.lower)
        let json = changes.map(\.json)
        #expect(json.map { $0["change"]?.stringValue } == ["added", "changed", "deleted"])
        #expect(json[1]["diff"]?.stringValue?.contains("-two\n+2\n") == true, "\(json[1])")
        #expect(json[0]["bytesAfter"] == 6 && json[2]["bytesBefore"] == 5)
        #expect(
            Stage.undoneLines(changes) == [
                "discarded new file new/file.txt", "discarded change to notes.txt", "discarded deletion of old.txt",
            ])
    }
}
