import CLinux
import Foundation

/// What a staged workspace needs of a directory tree beyond the tools' operations: looking at an
/// entry without following it, whiteouts and opaque directories in overlayfs's format, and
/// removing a whole subtree. Every path still resolves beneath the root with openat2.
extension Workspace.Entry {
    /// `file`, `directory`, `symlink`, or `other` (a whiteout, device, FIFO or socket).
    init(name: String, node: Workspace.Node) {
        let type: String
        switch node.kind {
        case .file: type = "file"
        case .directory: type = "directory"
        case .symlink: type = "symlink"
        case .whiteout, .other: type = "other"
        }
        self.init(name: name, type: type, size: node.size)
    }
}

extension Workspace {
    struct Node: Sendable, Equatable {
        enum Kind: Sendable, Equatable {
            case file, directory, symlink
            /// overlayfs's mark for "deleted in this layer": a character device 0/0.
            case whiteout
            /// A device, FIFO or socket.
            case other
        }
        var kind: Kind
        var size: Int64
        var mode: mode_t
        var links: Int

        init(_ info: stat) {
            switch info.st_mode & S_IFMT {
            case S_IFREG: kind = .file
            case S_IFDIR: kind = .directory
            case S_IFLNK: kind = .symlink
            case S_IFCHR where info.st_rdev == 0: kind = .whiteout
            default: kind = .other
            }
            size = Int64(info.st_size)
            mode = info.st_mode & 0o7777
            links = Int(info.st_nlink)
        }
    }

    /// The entry at `path`, not followed; nil when nothing is there (or a component above it is
    /// missing or not a directory).
    func node(_ path: String) throws(Failure) -> Node? {
        let components = try check(path)
        if components.isEmpty {
            var info = stat()
            guard fstat(rootFD, &info) == 0 else { throw failure(path, errno) }
            return Node(info)
        }
        let directory: (fd: Int32, name: String)
        do {
            directory = try parent(of: path)
        } catch  where error.notFound || error.problem.contains("not a directory") {
            return nil
        }
        defer { close(directory.fd) }
        var info = stat()
        guard fstatat(directory.fd, directory.name, &info, AT_SYMLINK_NOFOLLOW) == 0 else {
            if errno == ENOENT || errno == ENOTDIR { return nil }
            throw failure(path, errno)
        }
        return Node(info)
    }

    /// Every entry of the directory at `path`, whiteouts included, by name.
    func entries(_ path: String) throws(Failure) -> [(name: String, node: Node)] {
        let relative = try check(path).joined(separator: "/")
        let fd = try open2(relative, O_RDONLY | O_DIRECTORY, for: path)
        guard let stream = fdopendir(fd) else {
            close(fd)
            throw failure(path, errno)
        }
        defer { closedir(stream) }
        var result: [(String, Node)] = []
        while let entry = readdir(stream) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name == "." || name == ".." || (name.hasPrefix(".") && name.contains(Self.temporaryMarker)) { continue }
            var info = stat()
            guard fstatat(dirfd(stream), name, &info, AT_SYMLINK_NOFOLLOW) == 0 else { continue }
            result.append((name, Node(info)))
            if result.count > limits.maxListEntries {
                throw Failure(path: path, problem: "more than \(limits.maxListEntries) entries")
            }
        }
        return result.sorted { $0.0 < $1.0 }
    }

    /// Whether the directory at `path` hides the lower layer's directory of the same name.
    func isOpaque(_ path: String) throws(Failure) -> Bool {
        let fd = try open2(check(path).joined(separator: "/"), O_RDONLY | O_DIRECTORY | O_NOFOLLOW, for: path)
        defer { close(fd) }
        return lalo_is_opaque(fd) != 0
    }

    /// Creates the directory `path` (its parent must exist), opaque when asked.
    func makeDirectory(_ path: String, opaque: Bool = false) throws(Failure) {
        let (directory, name) = try parent(of: path)
        defer { close(directory) }
        guard mkdirat(directory, name, 0o700) == 0 else { throw failure(path, errno) }
        if opaque {
            let fd = openat(directory, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard fd >= 0 else { throw failure(path, errno) }
            defer { close(fd) }
            guard lalo_set_opaque(fd) == 0 else {
                throw Failure(
                    path: path, problem: "cannot mark the directory opaque: \(String(cString: strerror(errno)))")
            }
        }
    }

    /// Puts a whiteout at `path` (nothing may be there). Linux lets anyone create a 0/0
    /// character device, the one device that is not a device.
    func makeWhiteout(_ path: String) throws(Failure) {
        let (directory, name) = try parent(of: path)
        defer { close(directory) }
        guard mknodat(directory, name, S_IFCHR | 0, 0) == 0 else { throw failure(path, errno) }
    }

    /// Removes whatever is at `path`, a directory with everything in it.
    func removeTree(_ path: String) throws(Failure) {
        let (directory, name) = try parent(of: path)
        defer { close(directory) }
        guard FileTree.remove(name, in: directory) else { throw failure(path, errno) }
    }
}
