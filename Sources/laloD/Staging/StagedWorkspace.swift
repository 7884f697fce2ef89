import Foundation

/// The workspace as an execution sees it: the workflow's directory (the lower layer) with the
/// stage's upper layer on top, by overlayfs's rules, so that the `file` tool running in laloD
/// and code running in the sandbox (which mounts the same two layers as an overlay) see and
/// change the same files. Nothing here writes to the lower layer:
/// - a write or append lands in the upper layer (an append first copies the file up);
/// - a delete removes the upper entry and, when the lower layer has one, leaves a whiteout;
/// - a directory made where a whiteout stands is opaque, so the deleted one stays hidden;
/// - a move is a copy to the destination and a delete of the source (overlayfs without
///   redirect_dir does the same for directories).
/// Paths are checked and resolved beneath each layer's root as ``Workspace`` does.
final class StagedWorkspace: WorkspaceFiles {
    let lower: Workspace
    let upper: Workspace
    let stage: Stage?
    var root: String { lower.root }

    init(lower: Workspace, stage: Stage) throws {
        self.lower = lower
        self.stage = stage
        upper = try Workspace(root: stage.upperDirectory, limits: lower.limits)
    }

    /// Where `path` stands in the two layers.
    struct Resolved {
        /// The upper layer's entry (possibly a whiteout).
        var upper: Workspace.Node?
        var upperOpaque = false
        /// The lower layer's entry, unless something in the upper layer above it hides it.
        var lower: Workspace.Node?

        /// What the merged view shows.
        var merged: Workspace.Node? {
            if let upper { return upper.kind == .whiteout ? nil : upper }
            return lower
        }
        /// The lower directory's entries show through at this path.
        var lowerEntriesVisible: Bool {
            lower?.kind == .directory && (upper == nil || (upper?.kind == .directory && !upperOpaque))
        }
    }

    func resolve(_ path: String) throws(Workspace.Failure) -> Resolved {
        let components = try lower.check(path)
        var result = Resolved()
        var lowerHidden = false
        var prefix = ""
        for (index, component) in components.enumerated() {
            prefix += (prefix.isEmpty ? "" : "/") + component
            guard let node = try upper.node(prefix) else { break }
            if index == components.count - 1 {
                result.upper = node
                if node.kind == .directory { result.upperOpaque = try upper.isOpaque(prefix) }
            } else if node.kind == .symlink {
                // As in the workspace: never through a link (the sandbox may have made one).
                throw Workspace.Failure(
                    path: path, problem: "the path goes through a symbolic link, which workspace paths may not")
            } else if node.kind != .directory {
                // A whiteout or file above hides everything below it.
                return Resolved()
            } else if try upper.isOpaque(prefix) {
                // An opaque directory above hides the lower layer below it.
                lowerHidden = true
            }
        }
        if components.isEmpty {
            result.upper = try upper.node(".")
            result.lower = try lower.node(".")
        } else if !lowerHidden {
            result.lower = try lower.node(path)
        }
        return result
    }

    private func notFound(_ path: String) -> Workspace.Failure {
        Workspace.Failure(path: path, problem: "no such file or directory", notFound: true)
    }

    /// Makes every directory above `path` exist in the upper layer.
    private func prepareParents(_ path: String) throws(Workspace.Failure) {
        let components = try lower.check(path)
        var prefix = ""
        for component in components.dropLast() {
            prefix += (prefix.isEmpty ? "" : "/") + component
            let here = try resolve(prefix)
            switch (here.upper?.kind, here.merged?.kind) {
            case (.directory, _):
                continue
            case (_, .some(let kind)) where kind != .directory:
                throw Workspace.Failure(path: path, problem: "a component of the path is not a directory")
            case (.whiteout, _):
                // The directory was deleted in this stage: the new one must not show the old
                // one's entries again.
                try upper.removeTree(prefix)
                try upper.makeDirectory(prefix, opaque: true)
            default:
                try upper.makeDirectory(prefix)
            }
        }
    }

    // MARK: Operations

    func read(_ path: String) throws(Workspace.Failure) -> [UInt8] {
        let here = try resolve(path)
        if here.upper != nil {
            guard here.merged != nil else { throw notFound(path) }
            return try upper.read(path)
        }
        guard here.lower != nil else { throw notFound(path) }
        return try lower.read(path)
    }

    func write(_ path: String, _ bytes: [UInt8]) throws(Workspace.Failure) {
        let here = try resolve(path)
        if here.merged?.kind == .directory { throw Workspace.Failure(path: path, problem: "is a directory") }
        if let kind = here.merged?.kind, kind != .file, kind != .symlink {
            throw Workspace.Failure(path: path, problem: "exists and is not a regular file")
        }
        try prepareParents(path)
        if here.upper?.kind == .whiteout || here.upper?.kind == .symlink { try upper.removeTree(path) }
        try upper.write(path, bytes, createDirectories: false)
    }

    func append(_ path: String, _ bytes: [UInt8]) throws(Workspace.Failure) {
        let here = try resolve(path)
        guard let merged = here.merged else { throw notFound(path) }
        if here.upper == nil {
            guard merged.kind == .file else {
                throw Workspace.Failure(
                    path: path, problem: merged.kind == .directory ? "is a directory" : "is not a regular file")
            }
            let existing = try lower.read(path)
            guard existing.count + bytes.count <= lower.limits.maxFileBytes else {
                throw Workspace.Failure(
                    path: path,
                    problem: "appending \(bytes.count) bytes would pass the limit of \(lower.limits.maxFileBytes)")
            }
            try prepareParents(path)
            try upper.write(path, existing + bytes, createDirectories: false)
            return
        }
        try upper.append(path, bytes)
    }

    func list(_ path: String) throws(Workspace.Failure) -> [Workspace.Entry] {
        let here = try resolve(path)
        guard let merged = here.merged else { throw notFound(path) }
        guard merged.kind == .directory else {
            throw Workspace.Failure(path: path, problem: "a component of the path is not a directory")
        }
        var entries: [String: Workspace.Entry] = [:]
        var hidden: Set<String> = []
        if here.upper?.kind == .directory {
            for (name, node) in try upper.entries(path) {
                hidden.insert(name)
                if node.kind != .whiteout { entries[name] = Workspace.Entry(name: name, node: node) }
            }
        }
        if here.lowerEntriesVisible {
            for (name, node) in try lower.entries(path) where !hidden.contains(name) && node.kind != .whiteout {
                entries[name] = Workspace.Entry(name: name, node: node)
            }
        }
        guard entries.count <= lower.limits.maxListEntries else {
            throw Workspace.Failure(path: path, problem: "more than \(lower.limits.maxListEntries) entries")
        }
        return entries.values.sorted { $0.name < $1.name }
    }

    func delete(_ path: String) throws(Workspace.Failure) {
        let here = try resolve(path)
        guard let merged = here.merged else { throw notFound(path) }
        if try lower.check(path).isEmpty { throw Workspace.Failure(path: path, problem: "names the workspace itself") }
        if merged.kind == .directory, try !list(path).isEmpty {
            throw Workspace.Failure(path: path, problem: "directory not empty")
        }
        if here.upper != nil { try upper.removeTree(path) }
        if here.lower != nil {
            try prepareParents(path)
            try upper.makeWhiteout(path)
        }
    }

    /// Copies to the destination (refusing to replace anything there), then deletes the source.
    func move(_ from: String, to destination: String) throws(Workspace.Failure) {
        let source = try resolve(from)
        guard let merged = source.merged else { throw notFound(from) }
        guard try resolve(destination).merged == nil else {
            throw Workspace.Failure(path: destination, problem: "already exists")
        }
        let a = try lower.check(from)
        let b = try lower.check(destination)
        if b.count > a.count, Array(b.prefix(a.count)) == a {
            throw Workspace.Failure(path: destination, problem: "a directory cannot be moved into itself")
        }
        switch merged.kind {
        case .file:
            if merged.links != 1 {
                throw Workspace.Failure(
                    path: from, problem: "has \(merged.links) hard links; files linked from elsewhere are refused")
            }
            try write(destination, read(from))
        case .directory:
            try prepareParents(destination)
            let target = try resolve(destination)
            if target.upper?.kind == .whiteout {
                try upper.removeTree(destination)
                try upper.makeDirectory(destination, opaque: true)
            } else {
                try upper.makeDirectory(destination)
            }
            for entry in try list(from) {
                try move(from + "/" + entry.name, to: destination + "/" + entry.name)
            }
        default:
            throw Workspace.Failure(
                path: from, problem: "only files and directories can be moved in a staged workspace")
        }
        try delete(from)
    }
}
