import CLinux
import Foundation
import Shared

/// A workflow's workspace directory, and the only way tools touch files in it.
///
/// Every path is resolved by the kernel relative to the workspace's directory descriptor with
/// `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS)`: `..` cannot climb
/// out, absolute paths and symlinks anywhere in the path are refused, and because resolution is
/// one atomic kernel operation a symlink swapped in mid-operation cannot redirect it. Files are
/// then checked by descriptor (`fstat`): only regular files, and only with a single link, so a
/// hard link to a file outside cannot be read or changed through the workspace. Writes go to a
/// temporary file in the same directory and are renamed into place.
final class Workspace: Sendable {
    let root: String
    let rootFD: Int32
    let limits: Limits

    struct Limits: Sendable, Equatable {
        var maxFileBytes = 10 << 20
        var maxListEntries = 10_000
        var maxPathBytes = 1024
    }

    struct Failure: Error, CustomStringConvertible, Sendable {
        var path: String
        var problem: String
        /// Nothing exists at the path (as opposed to something there that cannot be read).
        var notFound = false
        var description: String { "\(path): \(problem)" }
    }

    struct Entry: Sendable, Equatable, Codable {
        var name: String
        /// `file`, `directory`, `symlink` or `other`.
        var type: String
        var size: Int64
    }

    init(root: String, limits: Limits = Limits()) throws {
        try FileManager.default.createDirectory(
            atPath: root, withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o700])
        let fd = open(root, LALO_O_PATH | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else {
            throw Failure(path: root, problem: "cannot open workspace: \(String(cString: strerror(errno)))")
        }
        self.root = root
        self.rootFD = fd
        self.limits = limits
    }

    deinit { close(rootFD) }

    // MARK: Path handling

    private static let resolve = LALO_RESOLVE_BENEATH | LALO_RESOLVE_NO_SYMLINKS | LALO_RESOLVE_NO_MAGICLINKS

    /// Syntax checks that give a clear message before the kernel gives a bare errno.
    func check(_ path: String) throws(Failure) -> [Substring] {
        guard !path.isEmpty else { throw Failure(path: path, problem: "empty path") }
        guard path.utf8.count <= limits.maxPathBytes else {
            throw Failure(path: String(path.prefix(64)) + "…", problem: "path longer than \(limits.maxPathBytes) bytes")
        }
        guard !path.utf8.contains(0) else { throw Failure(path: path, problem: "path contains a NUL byte") }
        guard !path.hasPrefix("/") else {
            throw Failure(path: path, problem: "absolute paths are not allowed; paths are relative to the workspace")
        }
        let components = path.split(separator: "/", omittingEmptySubsequences: true)
        if components.contains("..") {
            throw Failure(path: path, problem: "`..` is not allowed: the path would leave the workspace")
        }
        return components.filter { $0 != "." }
    }

    func failure(_ path: String, _ code: Int32) -> Failure {
        switch code {
        case EXDEV: return Failure(path: path, problem: "the path leads out of the workspace")
        case ELOOP:
            return Failure(path: path, problem: "the path goes through a symbolic link, which workspace paths may not")
        case ENOENT: return Failure(path: path, problem: "no such file or directory", notFound: true)
        case ENOTDIR: return Failure(path: path, problem: "a component of the path is not a directory")
        case EISDIR: return Failure(path: path, problem: "is a directory")
        case EEXIST: return Failure(path: path, problem: "already exists")
        case ENOTEMPTY: return Failure(path: path, problem: "directory not empty")
        default: return Failure(path: path, problem: String(cString: strerror(code)))
        }
    }

    /// openat2 beneath the workspace root.
    func open2(_ relative: String, _ flags: Int32, mode: mode_t = 0, for path: String) throws(Failure) -> Int32 {
        let fd = lalo_openat2(
            rootFD, relative.isEmpty ? "." : relative, UInt64(flags | O_CLOEXEC), UInt64(mode), Self.resolve)
        guard fd >= 0 else { throw failure(path, errno) }
        return fd
    }

    /// The directory holding the last component, and that component's name.
    func parent(of path: String, create: Bool = false) throws(Failure) -> (fd: Int32, name: String) {
        let components = try check(path)
        guard let last = components.last else { throw Failure(path: path, problem: "names the workspace itself") }
        var directory = ""
        for component in components.dropLast() {
            directory += (directory.isEmpty ? "" : "/") + component
            if create {
                let parentFD = try open2(
                    String(directory.split(separator: "/").dropLast().joined(separator: "/")),
                    LALO_O_PATH | O_DIRECTORY, for: path)
                defer { close(parentFD) }
                if mkdirat(parentFD, String(component), 0o700) != 0 && errno != EEXIST { throw failure(path, errno) }
            }
        }
        let fd = try open2(directory, LALO_O_PATH | O_DIRECTORY, for: path)
        return (fd, String(last))
    }

    /// Opens a regular, singly-linked file and checks its size.
    private func openFile(_ path: String, _ flags: Int32, allowingHardLinks: Bool = false) throws(Failure) -> (
        fd: Int32, size: Int64
    ) {
        let relative = try check(path).joined(separator: "/")
        // O_NONBLOCK: opening a FIFO or a device must not block before fstat can refuse it.
        let fd = try open2(relative, flags | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY, for: path)
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            close(fd)
            throw failure(path, errno)
        }
        guard info.st_mode & S_IFMT == S_IFREG else {
            close(fd)
            throw Failure(
                path: path, problem: info.st_mode & S_IFMT == S_IFDIR ? "is a directory" : "is not a regular file")
        }
        guard info.st_nlink == 1 || allowingHardLinks else {
            close(fd)
            throw Failure(
                path: path, problem: "has \(info.st_nlink) hard links; files linked from elsewhere are refused")
        }
        return (fd, Int64(info.st_size))
    }

    // MARK: Operations

    func read(_ path: String) throws(Failure) -> [UInt8] {
        try read(path, allowingHardLinks: false)
    }

    /// `allowingHardLinks`: for a tree whose every link laloD knows stays inside it (a stage).
    func read(_ path: String, allowingHardLinks: Bool) throws(Failure) -> [UInt8] {
        let (fd, size) = try openFile(path, O_RDONLY, allowingHardLinks: allowingHardLinks)
        defer { close(fd) }
        guard size <= limits.maxFileBytes else {
            throw Failure(path: path, problem: "is \(size) bytes; the limit is \(limits.maxFileBytes)")
        }
        var bytes = [UInt8](repeating: 0, count: Int(size))
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeMutableBytes {
                pread(fd, $0.baseAddress! + offset, $0.count - offset, off_t(offset))
            }
            if n < 0 {
                if errno == EINTR { continue }
                throw failure(path, errno)
            }
            if n == 0 { break }
            offset += n
        }
        return Array(bytes.prefix(offset))
    }

    /// Creates or replaces a file atomically (temporary file, fsync, rename).
    func write(_ path: String, _ bytes: [UInt8], createDirectories: Bool = true) throws(Failure) {
        guard bytes.count <= limits.maxFileBytes else {
            throw Failure(path: path, problem: "\(bytes.count) bytes exceed the limit of \(limits.maxFileBytes)")
        }
        let (directory, name) = try parent(of: path, create: createDirectories)
        defer { close(directory) }
        // Refuse to replace something that is not a plain file (a directory, a device).
        var existing = stat()
        if fstatat(directory, name, &existing, AT_SYMLINK_NOFOLLOW) == 0, existing.st_mode & S_IFMT != S_IFREG,
            existing.st_mode & S_IFMT != S_IFLNK
        {
            throw Failure(path: path, problem: "exists and is not a regular file")
        }
        let temporary = ".\(name)\(Self.temporaryMarker)\(UInt32.random(in: 0...UInt32.max))"
        let fd = openat(directory, temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw failure(path, errno) }
        var ok = true
        var offset = 0
        while ok && offset < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { ok = false } else { offset += n }
        }
        let code = errno
        ok = ok && fsync(fd) == 0
        close(fd)
        // renameat replaces the directory entry itself: a symlink or hard link at `name` is
        // replaced, never followed, so nothing outside the workspace is written.
        guard ok, renameat(directory, temporary, directory, name) == 0 else {
            let renameCode = errno
            unlinkat(directory, temporary, 0)
            throw failure(path, ok ? renameCode : code)
        }
        // The rename is durable once the directory is synced (the O_PATH descriptor cannot be).
        let synced = openat(directory, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if synced >= 0 {
            fsync(synced)
            close(synced)
        }
    }

    /// Marks the temporary files of atomic writes (hidden from listings).
    static let temporaryMarker = ".lalo-tmp-"

    func append(_ path: String, _ bytes: [UInt8]) throws(Failure) {
        let (fd, size) = try openFile(path, O_WRONLY | O_APPEND)
        defer { close(fd) }
        guard size + Int64(bytes.count) <= limits.maxFileBytes else {
            throw Failure(
                path: path, problem: "appending \(bytes.count) bytes would pass the limit of \(limits.maxFileBytes)")
        }
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 {
                if errno == EINTR { continue }
                throw failure(path, errno)
            }
            offset += n
        }
    }

    func list(_ path: String = ".") throws(Failure) -> [Entry] {
        try entries(path).map { Entry(name: $0.name, node: $0.node) }
    }

    /// Renames within the workspace; refuses to replace an existing target.
    func move(_ from: String, to destination: String) throws(Failure) {
        let source = try parent(of: from)
        defer { close(source.fd) }
        let target = try parent(of: destination, create: true)
        defer { close(target.fd) }
        var info = stat()
        guard fstatat(source.fd, source.name, &info, AT_SYMLINK_NOFOLLOW) == 0 else { throw failure(from, errno) }
        if info.st_mode & S_IFMT == S_IFREG && info.st_nlink != 1 {
            throw Failure(
                path: from, problem: "has \(info.st_nlink) hard links; files linked from elsewhere are refused")
        }
        guard lalo_renameat2(source.fd, source.name, target.fd, target.name, LALO_RENAME_NOREPLACE) == 0 else {
            throw failure(errno == EEXIST ? destination : from, errno)
        }
    }

    /// Removes a file, a symlink (never its target) or an empty directory.
    func delete(_ path: String) throws(Failure) {
        let (directory, name) = try parent(of: path)
        defer { close(directory) }
        var info = stat()
        guard fstatat(directory, name, &info, AT_SYMLINK_NOFOLLOW) == 0 else { throw failure(path, errno) }
        let flags: Int32 = info.st_mode & S_IFMT == S_IFDIR ? AT_REMOVEDIR : 0
        guard unlinkat(directory, name, flags) == 0 else { throw failure(path, errno) }
    }
}
