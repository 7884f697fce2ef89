import CLinux
import Foundation

/// Whole-tree operations on directory descriptors, for trees laloD owns (stages, the copy a
/// commit builds). Names come from readdir and are opened relative to their directory with
/// O_NOFOLLOW, so a symbolic link is handled as a link and never followed.
enum FileTree {
    /// Removes `name` in `directory` with everything beneath it; false with errno set on failure.
    /// Nothing there counts as done.
    @discardableResult
    static func remove(_ name: String, in directory: Int32) -> Bool {
        remove(Array(name.utf8CString), in: directory)
    }

    /// The same for a name as the directory holds it: bytes, which need not be UTF-8 (sandboxed
    /// code may create any name).
    @discardableResult
    static func remove(_ name: [CChar], in directory: Int32, retried: Bool = false) -> Bool {
        let fd = openat(directory, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOENT { return true }
            if errno == ENOTDIR || errno == ELOOP { return unlinkat(directory, name, 0) == 0 || errno == ENOENT }
            // A directory without search permission (0000, left by sandboxed code): make it
            // ours once. (It is a directory: a link would have answered ELOOP.)
            if errno == EACCES, !retried, fchmodat(directory, name, 0o700, 0) == 0 {
                return remove(name, in: directory, retried: true)
            }
            return false
        }
        guard let entries = try? children(fd) else {
            close(fd)
            return false
        }
        for entry in entries {
            if entry.isDirectory {
                guard remove(entry.bytes, in: fd) else {
                    close(fd)
                    return false
                }
            } else if unlinkat(fd, entry.bytes, 0) != 0 && errno != ENOENT {
                close(fd)
                return false
            }
        }
        close(fd)
        return unlinkat(directory, name, AT_REMOVEDIR) == 0 || errno == ENOENT
    }

    /// Removes `path` (absolute), whatever it is.
    @discardableResult
    static func remove(path: String) -> Bool {
        let parent = (path as NSString).deletingLastPathComponent
        let fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return errno == ENOENT }
        defer { close(fd) }
        return remove((path as NSString).lastPathComponent, in: fd)
    }

    struct Child {
        /// The name as the directory holds it, NUL-terminated.
        var bytes: [CChar]
        var isDirectory: Bool
        /// The name as text; nil when it is not UTF-8 (no workspace path can name it).
        var name: String? { String(validatingCString: bytes) }
    }

    /// The entries of an open directory (its descriptor stays open and usable), in byte order.
    /// Throws rather than returning a partial list: a copy built from one would lose files.
    static func children(_ fd: Int32) throws(Failure) -> [Child] {
        let copy = dup(fd)
        guard copy >= 0 else { throw Failure(path: ".", code: errno) }
        guard let stream = fdopendir(copy) else {
            let code = errno
            close(copy)
            throw Failure(path: ".", code: code)
        }
        defer { closedir(stream) }
        rewinddir(stream)
        var result: [Child] = []
        while true {
            errno = 0
            guard let entry = readdir(stream) else {
                if errno != 0 { throw Failure(path: ".", code: errno) }
                break
            }
            let bytes = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) {
                    Array(UnsafeBufferPointer(start: $0, count: strlen($0) + 1))
                }
            }
            if bytes == [46, 0] || bytes == [46, 46, 0] { continue }
            var info = stat()
            let isDirectory = fstatat(fd, bytes, &info, AT_SYMLINK_NOFOLLOW) == 0 && info.st_mode & S_IFMT == S_IFDIR
            result.append(Child(bytes: bytes, isDirectory: isDirectory))
        }
        return result.sorted { $0.bytes.lexicographicallyPrecedes($1.bytes) }
    }

    struct Failure: Error, CustomStringConvertible {
        var path: String
        var code: Int32
        var description: String { "\(path): \(String(cString: strerror(code)))" }
    }

    /// Copies the regular file `name` in `from` to `to` (which must not exist), with `mode` and
    /// the source's modification time, synced.
    static func copyFile(_ name: [CChar], from: Int32, to: Int32, as target: [CChar], mode: mode_t) throws(Failure) {
        let label = String(validatingCString: target) ?? "?"
        let source = openat(from, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard source >= 0 else { throw Failure(path: label, code: errno) }
        defer { close(source) }
        var info = stat()
        guard fstat(source, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
            throw Failure(path: label, code: EINVAL)
        }
        let destination = openat(to, target, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
        guard destination >= 0 else { throw Failure(path: label, code: errno) }
        defer { close(destination) }
        var remaining = Int(info.st_size)
        while remaining > 0 {
            let n = lalo_copy_file_range(source, destination, remaining)
            if n < 0 && errno == EINTR { continue }
            if n < 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL) {
                try copyByReading(source, destination, name: label)
                break
            }
            guard n > 0 else { throw Failure(path: label, code: n == 0 ? EIO : errno) }
            remaining -= n
        }
        var times = [info.st_atim, info.st_mtim]
        guard fchmod(destination, mode) == 0, futimens(destination, &times) == 0, fsync(destination) == 0 else {
            throw Failure(path: label, code: errno)
        }
    }

    private static func copyByReading(_ source: Int32, _ destination: Int32, name: String) throws(Failure) {
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(source, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw Failure(path: name, code: errno) }
            if n == 0 { return }
            var offset = 0
            while offset < n {
                let written = buffer.withUnsafeBytes { write(destination, $0.baseAddress! + offset, n - offset) }
                if written < 0 && errno == EINTR { continue }
                guard written > 0 else { throw Failure(path: name, code: errno) }
                offset += written
            }
        }
    }

    /// Copies the directory `name` in `from` to `target` in `to`: directories, regular files
    /// and symbolic links as they are (modes and times kept); other kinds are left out.
    static func copyTree(_ name: [CChar], from: Int32, to: Int32, as target: [CChar]) throws(Failure) {
        let label = String(validatingCString: target) ?? "?"
        let source = openat(from, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard source >= 0 else { throw Failure(path: label, code: errno) }
        defer { close(source) }
        var info = stat()
        guard fstat(source, &info) == 0 else { throw Failure(path: label, code: errno) }
        guard mkdirat(to, target, 0o700) == 0 || errno == EEXIST else { throw Failure(path: label, code: errno) }
        let destination = openat(to, target, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard destination >= 0 else { throw Failure(path: label, code: errno) }
        defer { close(destination) }
        for child in try children(source) {
            let name = child.name ?? "?"
            var childInfo = stat()
            guard fstatat(source, child.bytes, &childInfo, AT_SYMLINK_NOFOLLOW) == 0 else {
                throw Failure(path: name, code: errno)
            }
            switch childInfo.st_mode & S_IFMT {
            case S_IFDIR:
                try copyTree(child.bytes, from: source, to: destination, as: child.bytes)
            case S_IFREG:
                try copyFile(
                    child.bytes, from: source, to: destination, as: child.bytes, mode: childInfo.st_mode & 0o777)
            case S_IFLNK:
                var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
                let n = readlinkat(source, child.bytes, &buffer, buffer.count - 1)
                guard n >= 0 else { throw Failure(path: name, code: errno) }
                buffer[n] = 0
                guard symlinkat(buffer, destination, child.bytes) == 0 else { throw Failure(path: name, code: errno) }
            default:
                continue
            }
        }
        var times = [info.st_atim, info.st_mtim]
        guard fchmod(destination, info.st_mode & 0o777) == 0, futimens(destination, &times) == 0 else {
            throw Failure(path: label, code: errno)
        }
    }
}
