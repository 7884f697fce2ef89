import CLinux
import Foundation
import Shared

/// One execution's changes to a workspace, kept apart until a person accepts them (docs/sandbox.md#staged-workspaces).
///
/// The stage is a directory with `upper` and `work`: `upper` is an overlayfs upper layer over the
/// workspace (files written, whiteouts for deletions, opaque directories for directories made
/// anew), `work` is overlayfs's scratch space. The sandbox mounts the workspace and this upper
/// layer as an overlay; the `file` tool writes the same format through ``StagedWorkspace``. Then:
/// - ``changes(over:)`` is the review's diff: added, changed and deleted files with contents;
/// - ``apply(to:)`` commits: it builds the workspace's next state beside it and swaps the two
///   directories in one `renameat2(RENAME_EXCHANGE)`, so the workspace is either wholly before or
///   wholly after, even across a crash (a second swap undoes it until the commit is recorded);
///   applying the same stage again gives the same result;
/// - ``discard()`` rolls back: the workspace was never touched.
final class Stage: Sendable {
    let directory: String
    var upperDirectory: String { directory + "/upper" }

    init(directory: String) throws {
        self.directory = directory
        try FileManager.default.createDirectory(
            atPath: directory + "/upper", withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o700])
        try FileManager.default.createDirectory(
            atPath: directory + "/work", withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o700])
    }

    static func exists(_ directory: String) -> Bool {
        FileManager.default.fileExists(atPath: directory + "/upper")
    }

    /// One file the stage adds, changes or deletes; or something it holds that a commit leaves
    /// out (a symbolic link, a device, a FIFO), with the reason.
    struct Change: Sendable, Equatable {
        enum Kind: String, Sendable { case added, changed, deleted, refused }
        var path: String
        var kind: Kind
        /// Contents, nil when larger than a workspace file may be (then there is no text diff).
        var before: [UInt8]?
        var after: [UInt8]?
        var sizeBefore: Int64 = 0
        var sizeAfter: Int64 = 0
        var reason: String?

        var json: JSONValue {
            var object: [String: JSONValue] = [
                "path": .string(path), "change": .string(kind.rawValue),
                "bytesBefore": .int(sizeBefore), "bytesAfter": .int(sizeAfter),
            ]
            if let reason { object["reason"] = .string(reason) }
            let large = (kind != .added && before == nil) || (kind != .deleted && after == nil)
            if large, kind != .refused, reason == nil { object["reason"] = "too large or hard-linked: no text diff" }
            if kind != .refused, !large, let text = TextDiff.unified(path: path, old: before, new: after) {
                object["diff"] = .string(text)
            }
            return .object(object)
        }
    }

    /// The stage's changes to `lower`, by path.
    func changes(over lower: Workspace) throws -> [Change] {
        let upper = try Workspace(root: upperDirectory, limits: lower.limits)
        var result: [Change] = []
        /// A file's bytes; nil for one too large to show, or hard-linked (its content may be
        /// another file's, which the workspace's reader never hands out).
        /// The stage's own hard links are shown: overlayfs copies a file up before linking it,
        /// so both names are files of the stage.
        func content(_ layer: Workspace, _ path: String, _ node: Workspace.Node) throws -> [UInt8]? {
            if node.size > lower.limits.maxFileBytes { return nil }
            if layer === upper { return try layer.read(path, allowingHardLinks: true) }
            return node.links > 1 ? nil : try layer.read(path)
        }
        /// Everything in the lower layer at `path` (a file or a whole directory) as deleted.
        func deleted(_ path: String, _ node: Workspace.Node) throws {
            switch node.kind {
            case .directory:
                for (name, child) in try lower.entries(path) { try deleted(path + "/" + name, child) }
            case .file:
                result.append(
                    Change(path: path, kind: .deleted, before: try content(lower, path, node), sizeBefore: node.size))
            default:
                result.append(Change(path: path, kind: .deleted, before: [], sizeBefore: node.size))
            }
        }
        /// `replacing`: the directory is opaque (or inside one), so what the lower layer has here
        /// and the upper does not is gone; otherwise the lower entries show through.
        func walk(_ directory: String, lowerVisible: Bool, replacing: Bool) throws {
            let entries = try upper.entries(directory)
            if replacing, lowerVisible, try lower.node(directory)?.kind == .directory {
                // A link or special file is not committed, so in a replaced directory the lower
                // entry of the same name is gone all the same.
                let names = Set(entries.filter { $0.node.kind == .file || $0.node.kind == .directory }.map(\.name))
                for (name, node) in try lower.entries(directory) where !names.contains(name) {
                    try deleted(directory == "." ? name : directory + "/" + name, node)
                }
            }
            for (name, node) in entries {
                let path = directory == "." ? name : directory + "/" + name
                let below = lowerVisible ? try lower.node(path) : nil
                switch node.kind {
                case .whiteout:
                    if let below { try deleted(path, below) }
                case .file:
                    let after = try content(upper, path, node)
                    if let below, below.kind == .file {
                        let before = try content(lower, path, below)
                        if before != after || after == nil {
                            result.append(
                                Change(
                                    path: path, kind: .changed, before: before, after: after, sizeBefore: below.size,
                                    sizeAfter: node.size))
                        }
                    } else {
                        if let below { try deleted(path, below) }
                        result.append(Change(path: path, kind: .added, after: after, sizeAfter: node.size))
                    }
                case .directory:
                    if let below, below.kind != .directory { try deleted(path, below) }
                    try walk(
                        path, lowerVisible: below?.kind == .directory, replacing: try replacing || upper.isOpaque(path))
                case .symlink:
                    result.append(
                        Change(
                            path: path, kind: .refused,
                            reason: "a symbolic link; commits carry files and directories only"))
                case .other:
                    result.append(
                        Change(
                            path: path, kind: .refused,
                            reason: "a device, FIFO or socket; commits carry files and directories only"))
                }
            }
        }
        try walk(".", lowerVisible: true, replacing: false)
        return result.sorted { $0.path < $1.path }
    }

    /// The workspace after ``apply(to:)``: the old tree is kept beside it until the commit is
    /// recorded, so that a commit that cannot be recorded is undone with one more swap.
    struct Applied: Sendable {
        let parent: String
        let name: String
        let old: String

        /// The commit is recorded: the old tree goes.
        func finish() {
            FileTree.remove(path: parent + "/" + old)
        }

        /// The commit was not recorded: the workspace is swapped back, as it was.
        func undo() throws {
            guard lalo_renameat2(AT_FDCWD, parent + "/" + old, AT_FDCWD, parent + "/" + name, LALO_RENAME_EXCHANGE) == 0
            else {
                throw FileTree.Failure(path: parent + "/" + name, code: errno)
            }
            finish()
        }
    }

    /// The prefix of the trees ``apply(to:)`` builds beside a workspace (`.<name>.next-<random>`);
    /// one a crash left behind is removed at the next start.
    static func isLeftover(_ name: String) -> Bool { name.hasPrefix(".") && name.contains(".next-") }

    /// Commits the stage to the workspace at `lower.root` atomically (see the type's comment).
    /// Files get owner-only modes (0600, or 0700 when any execute bit was set) and belong to
    /// laloD; symbolic links and special files in the stage are left out.
    func apply(to lower: Workspace) throws -> Applied {
        let root = lower.root
        let parentPath = (root as NSString).deletingLastPathComponent
        let name = (root as NSString).lastPathComponent
        let next = ".\(name).next-\(UInt32.random(in: 0...UInt32.max))"
        let parent = open(parentPath, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard parent >= 0 else { throw FileTree.Failure(path: parentPath, code: errno) }
        defer { close(parent) }
        do {
            try FileTree.copyTree(Array(name.utf8CString), from: parent, to: parent, as: Array(next.utf8CString))
            let target = openat(parent, next, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard target >= 0 else { throw FileTree.Failure(path: next, code: errno) }
            defer { close(target) }
            let upper = open(upperDirectory, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard upper >= 0 else { throw FileTree.Failure(path: upperDirectory, code: errno) }
            defer { close(upper) }
            try Self.overlay(upper, onto: target, path: "")
            // Everything written reaches the disk before the swap makes it the workspace.
            guard lalo_syncfs(target) == 0 else { throw FileTree.Failure(path: next, code: errno) }
            guard lalo_renameat2(parent, next, parent, name, LALO_RENAME_EXCHANGE) == 0 else {
                throw FileTree.Failure(path: root, code: errno)
            }
        } catch {
            FileTree.remove(next, in: parent)
            throw error
        }
        fsync(parent)
        // `next` holds the old workspace now.
        return Applied(parent: parentPath, name: name, old: next)
    }

    /// Applies the upper layer open at `upper` to the tree open at `target`, by overlayfs's rules.
    private static func overlay(_ upper: Int32, onto target: Int32, path: String) throws {
        for child in try FileTree.children(upper) {
            // What the review cannot name is not committed either: a name that is not UTF-8,
            // or the temporary file of a write that never finished.
            guard let name = child.name, !(name.hasPrefix(".") && name.contains(Workspace.temporaryMarker)) else {
                continue
            }
            var info = stat()
            guard fstatat(upper, child.bytes, &info, AT_SYMLINK_NOFOLLOW) == 0 else {
                throw FileTree.Failure(path: path + name, code: errno)
            }
            let node = Workspace.Node(info)
            switch node.kind {
            case .whiteout:
                guard FileTree.remove(child.bytes, in: target) else {
                    throw FileTree.Failure(path: path + name, code: errno)
                }
            case .file:
                guard FileTree.remove(child.bytes, in: target) else {
                    throw FileTree.Failure(path: path + name, code: errno)
                }
                let mode: mode_t = node.mode & 0o111 != 0 ? 0o700 : 0o600
                try FileTree.copyFile(child.bytes, from: upper, to: target, as: child.bytes, mode: mode)
            case .directory:
                let source = openat(upper, child.bytes, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                guard source >= 0 else { throw FileTree.Failure(path: path + name, code: errno) }
                defer { close(source) }
                var existing = stat()
                let present = fstatat(target, child.bytes, &existing, AT_SYMLINK_NOFOLLOW) == 0
                if present && (existing.st_mode & S_IFMT != S_IFDIR || lalo_is_opaque(source) != 0) {
                    guard FileTree.remove(child.bytes, in: target) else {
                        throw FileTree.Failure(path: path + name, code: errno)
                    }
                }
                guard mkdirat(target, child.bytes, 0o700) == 0 || errno == EEXIST else {
                    throw FileTree.Failure(path: path + name, code: errno)
                }
                let directory = openat(target, child.bytes, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                guard directory >= 0 else { throw FileTree.Failure(path: path + name, code: errno) }
                defer { close(directory) }
                try overlay(source, onto: directory, path: path + name + "/")
            case .symlink, .other:
                continue
            }
        }
    }

    /// Rolls back: the stage and everything in it go; the workspace was never touched.
    func discard() throws {
        guard FileTree.remove(path: directory) else { throw FileTree.Failure(path: directory, code: errno) }
    }

    /// What discarding these changes undoes, one line each, for the execution report.
    static func undoneLines(_ changes: [Change]) -> [String] {
        changes.compactMap { change in
            switch change.kind {
            case .added: return "discarded new file \(change.path)"
            case .changed: return "discarded change to \(change.path)"
            case .deleted: return "discarded deletion of \(change.path)"
            case .refused: return nil
            }
        }
    }
}
