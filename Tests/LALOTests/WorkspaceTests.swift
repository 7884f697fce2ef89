import Foundation
import Shared
import Testing

@testable import laloD

/// The file tool's workspace: normal operations, and a table of escapes that must each be
/// refused with a clear error while nothing outside the workspace changes.
@Suite("Workspace files")
struct WorkspaceTests {
    /// base/ws is the workspace; base/outside holds what must never be read or touched.
    final class Fixture {
        let base = TemporaryDirectory("lalo-ws")
        let workspace: Workspace
        var outside: String { base.file("outside") }

        init() throws {
            try FileManager.default.createDirectory(atPath: base.file("outside"), withIntermediateDirectories: true)
            base.write("outside/secret.txt", "outside secret")
            workspace = try Workspace(root: base.file("ws"), limits: .init(maxFileBytes: 1024))
            try FileManager.default.createDirectory(atPath: base.file("ws/sub"), withIntermediateDirectories: true)
            base.write("ws/sub/ok.txt", "inside")
            symlink(base.file("outside"), base.file("ws/link-dir"))
            symlink(base.file("outside/secret.txt"), base.file("ws/link-file"))
            symlink("../outside/secret.txt", base.file("ws/relative-link"))
            link(base.file("outside/secret.txt"), base.file("ws/hard"))
        }

        /// Every file outside the workspace with its contents and mode.
        func outsideSnapshot() throws -> [String: String] {
            var snapshot: [String: String] = [:]
            for name in try FileManager.default.contentsOfDirectory(atPath: outside) {
                let path = outside + "/" + name
                var info = stat()
                lstat(path, &info)
                snapshot[name] =
                    "\(info.st_mode) \(info.st_nlink) " + ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "")
            }
            return snapshot
        }
    }

    @Test func normalOperations() throws {
        let fixture = try Fixture()
        let ws = fixture.workspace
        try ws.write("notes/today.txt", Array("hello".utf8))
        try ws.append("notes/today.txt", Array(" world".utf8))
        #expect(String(decoding: try ws.read("notes/today.txt"), as: UTF8.self) == "hello world")
        try ws.write("notes/today.txt", Array("replaced".utf8))
        #expect(String(decoding: try ws.read("./notes//today.txt"), as: UTF8.self) == "replaced")
        try ws.move("notes/today.txt", to: "archive/2026.txt")
        #expect(try ws.list("archive") == [Workspace.Entry(name: "2026.txt", type: "file", size: 8)])
        #expect(try ws.list("notes").isEmpty)
        try ws.delete("notes")
        let names = try ws.list().map(\.name)
        #expect(names.contains("archive") && !names.contains("notes"))
        #expect(try ws.list().first { $0.name == "link-dir" }?.type == "symlink")
        // Limits: size, and no replacing a directory with a file.
        #expect(throws: Workspace.Failure.self) { try ws.write("big.bin", [UInt8](repeating: 0, count: 1025)) }
        #expect(throws: Workspace.Failure.self) { try ws.write("archive", Array("x".utf8)) }
        try ws.write("a.txt", [UInt8](repeating: 1, count: 1000))
        #expect(throws: Workspace.Failure.self) { try ws.append("a.txt", [UInt8](repeating: 1, count: 100)) }
        #expect(throws: Workspace.Failure.self) { try ws.move("a.txt", to: "archive/2026.txt") }  // no overwrite
    }

    struct Escape: Sendable, CustomTestStringConvertible {
        var name: String
        var operation: @Sendable (Workspace) throws -> Void
        /// Words the error must contain.
        var expected: String
        var testDescription: String { name }
    }

    static let escapes: [Escape] = [
        Escape(name: "read ..", operation: { _ = try $0.read("../outside/secret.txt") }, expected: "`..`"),
        Escape(
            name: "read sub/../..", operation: { _ = try $0.read("sub/../../outside/secret.txt") }, expected: "`..`"),
        Escape(name: "read absolute", operation: { _ = try $0.read("/etc/passwd") }, expected: "absolute"),
        Escape(
            name: "read through dir symlink", operation: { _ = try $0.read("link-dir/secret.txt") },
            expected: "symbolic link"),
        Escape(name: "read file symlink", operation: { _ = try $0.read("link-file") }, expected: "symbolic link"),
        Escape(
            name: "read relative symlink", operation: { _ = try $0.read("relative-link") }, expected: "symbolic link"),
        Escape(name: "read hard link", operation: { _ = try $0.read("hard") }, expected: "hard links"),
        Escape(
            name: "append hard link", operation: { try $0.append("hard", Array("pwned".utf8)) }, expected: "hard links"),
        Escape(
            name: "append file symlink", operation: { try $0.append("link-file", Array("pwned".utf8)) },
            expected: "symbolic link"),
        Escape(
            name: "write through dir symlink", operation: { try $0.write("link-dir/new.txt", Array("x".utf8)) },
            expected: "symbolic link"),
        Escape(name: "write ..", operation: { try $0.write("../outside/new.txt", Array("x".utf8)) }, expected: "`..`"),
        Escape(
            name: "write absolute", operation: { try $0.write("/tmp/lalo-escape.txt", Array("x".utf8)) },
            expected: "absolute"),
        Escape(name: "list through symlink", operation: { _ = try $0.list("link-dir") }, expected: "symbolic link"),
        Escape(
            name: "move out with ..", operation: { try $0.move("sub/ok.txt", to: "../outside/moved.txt") },
            expected: "`..`"),
        Escape(
            name: "move into symlinked dir", operation: { try $0.move("sub/ok.txt", to: "link-dir/moved.txt") },
            expected: "symbolic link"),
        Escape(name: "move a hard link", operation: { try $0.move("hard", to: "sub/hard") }, expected: "hard links"),
        Escape(
            name: "delete through symlink", operation: { try $0.delete("link-dir/secret.txt") },
            expected: "symbolic link"),
        Escape(name: "delete ..", operation: { try $0.delete("../outside/secret.txt") }, expected: "`..`"),
        Escape(name: "NUL byte", operation: { _ = try $0.read("sub/ok.txt\u{0}../../x") }, expected: "NUL"),
        Escape(name: "empty path", operation: { _ = try $0.read("") }, expected: "empty"),
    ]

    @Test(arguments: escapes)
    func escapeIsRefused(_ escape: Escape) throws {
        let fixture = try Fixture()
        let before = try fixture.outsideSnapshot()
        do {
            try escape.operation(fixture.workspace)
            Issue.record("\(escape.name) was allowed")
        } catch let failure as Workspace.Failure {
            #expect(failure.description.contains(escape.expected), "\(escape.name): \(failure)")
            #expect(failure.description.hasPrefix(failure.path), "the failure names the path")
        }
        #expect(try fixture.outsideSnapshot() == before, "\(escape.name) changed something outside")
        #expect(!FileManager.default.fileExists(atPath: "/tmp/lalo-escape.txt"))
        // Deleting a symlink removes the link, never its target.
        try fixture.workspace.delete("link-file")
        #expect(try fixture.outsideSnapshot() == before)
    }

    /// A directory swapped for a symlink to the outside while files are being written through it:
    /// every write either lands inside or is refused; nothing ever appears outside.
    @Test func symlinkSwappedInDuringOperations() async throws {
        let fixture = try Fixture()
        let ws = fixture.workspace
        let swapped = fixture.base.file("ws/swap")
        let real = fixture.base.file("ws/swap-real")
        try FileManager.default.createDirectory(atPath: real, withIntermediateDirectories: true)
        let stop = ManagedAtomicFlag()
        let outside = fixture.outside
        let swapper = Thread {
            while !stop.isSet {
                unlink(swapped)
                symlink(real, swapped)  // a symlink to a directory inside…
                unlink(swapped)
                symlink(outside, swapped)  // …then to the outside
                rmdir(swapped)
                unlink(swapped)
                mkdir(swapped, 0o700)  // …then a real directory
                rmdir(swapped)
            }
        }
        swapper.start()
        var landed = 0
        var refused = 0
        for i in 0..<2000 {
            do {
                try ws.write("swap/f\(i).txt", Array("x".utf8), createDirectories: false)
                landed += 1
            } catch {
                refused += 1
            }
        }
        stop.set()
        try await Task.sleep(for: .milliseconds(50))
        let outsideNames = try FileManager.default.contentsOfDirectory(atPath: fixture.outside)
        #expect(outsideNames == ["secret.txt"], "files escaped: \(outsideNames)")
        #expect(landed + refused == 2000)
        #expect(refused > 0, "the swap never raced the writes; the test proved nothing")
    }
}

/// A flag shared with a plain thread.
final class ManagedAtomicFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.withLock { value } }
    func set() { lock.withLock { value = true } }
}
