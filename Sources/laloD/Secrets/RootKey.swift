@preconcurrency import Crypto
import Foundation

// SymmetricKey is an immutable value (its storage is never mutated after creation); newer
// swift-crypto releases declare it Sendable.
// swift-format-ignore: AvoidRetroactiveConformances
extension SymmetricKey: @retroactive @unchecked Sendable {}

/// The key every master key version is derived from, read once at start-up.
///
/// It comes from a systemd credential when the unit passes one (`LoadCredential=` or
/// `LoadCredentialEncrypted=`, so the key can be sealed to the TPM and never touch the disk in
/// the clear), and otherwise from a key file that laloD creates on first start. A key file anyone
/// but the daemon's user could read stops start-up: the secrets are only as safe as this file.
struct RootKey: Sendable {
    enum Source: String, Sendable {
        case credential, keyFile
    }

    let source: Source
    /// Credential name or key file path (for messages; never the key).
    let location: String
    private let material: SymmetricKey

    /// Fewer bytes than this cannot carry a 256-bit key.
    static let minimumBytes = 32

    init(source: Source, location: String, material: [UInt8]) {
        self.source = source
        self.location = location
        self.material = SymmetricKey(data: material)
    }

    /// The master key of one version: HKDF-SHA256 of the root key with the version's random salt.
    func masterKey(version: Int64, salt: [UInt8]) -> SymmetricKey {
        HKDF<SHA256>.deriveKey(
            inputKeyMaterial: material, salt: salt,
            info: Array("lalo master key v\(version)".utf8), outputByteCount: 32)
    }

    /// Reads the credential if `$CREDENTIALS_DIRECTORY/credentialName` exists, else the key file,
    /// creating it (0600, 32 random bytes as hex) if it does not exist yet.
    static func load(
        credentialName: String, keyFile: String,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> RootKey {
        if let directory = environment["CREDENTIALS_DIRECTORY"], !directory.isEmpty {
            let path = (directory as NSString).appendingPathComponent(credentialName)
            if FileManager.default.fileExists(atPath: path) {
                // systemd owns the credentials directory (a private ramfs, mode 0400 files owned
                // by the service user), so only the contents are checked here.
                let bytes = try readKey(path, checkOwnership: false, what: "credential \(credentialName)")
                return RootKey(source: .credential, location: credentialName, material: bytes)
            }
        }
        if !FileManager.default.fileExists(atPath: keyFile) {
            try create(keyFile)
        }
        let bytes = try readKey(keyFile, checkOwnership: true, what: "key file \(keyFile)")
        return RootKey(source: .keyFile, location: keyFile, material: bytes)
    }

    /// Creates a new key file atomically: written to a temporary name, fsynced, then linked into
    /// place, so a crash never leaves a half-written key that later secrets would be sealed with.
    static func create(_ path: String) throws {
        let directory = (path as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(
            atPath: directory, withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o700])
        let text = Array((secureRandomBytes(32).hexString + "\n").utf8)
        let temporary = path + ".new"
        unlink(temporary)
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw StartupError("cannot create key file \(temporary): \(String(cString: strerror(errno)))")
        }
        let written = text.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        let synced = fsync(fd) == 0
        close(fd)
        guard written == text.count, synced else {
            unlink(temporary)
            throw StartupError("cannot write key file \(temporary)")
        }
        // link() fails if the path appeared meanwhile: never replace an existing key.
        guard link(temporary, path) == 0 else {
            let code = errno
            unlink(temporary)
            throw StartupError("cannot create key file \(path): \(String(cString: strerror(code)))")
        }
        unlink(temporary)
        let dirFD = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dirFD >= 0 {
            fsync(dirFD)
            close(dirFD)
        }
    }

    private static func readKey(_ path: String, checkOwnership: Bool, what: String) throws -> [UInt8] {
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else {
            let reason = errno == ELOOP ? "it is a symbolic link" : String(cString: strerror(errno))
            throw StartupError("cannot open \(what): \(reason)")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw StartupError("cannot stat \(what)") }
        guard info.st_mode & S_IFMT == S_IFREG else { throw StartupError("\(what) is not a regular file") }
        if checkOwnership {
            let mode = info.st_mode & 0o7777
            guard mode & 0o077 == 0 else {
                throw StartupError(
                    "\(what) has mode \(String(mode, radix: 8, uppercase: false).leftPadded(4)); it must be readable by its owner only (chmod 600 \(path))"
                )
            }
            guard info.st_uid == geteuid() else {
                throw StartupError("\(what) is owned by uid \(info.st_uid), not by laloD's uid \(geteuid())")
            }
        }
        guard info.st_size <= 4096 else {
            throw StartupError("\(what) is larger than 4096 bytes; is it the right file?")
        }
        var bytes = [UInt8](repeating: 0, count: Int(info.st_size))
        let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard n == bytes.count else { throw StartupError("cannot read \(what)") }
        // A trailing newline is how editors and `echo` leave text keys; it is not key material.
        while let last = bytes.last, last == UInt8(ascii: "\n") || last == UInt8(ascii: "\r") { bytes.removeLast() }
        guard bytes.count >= minimumBytes else {
            throw StartupError("\(what) holds \(bytes.count) bytes; a master key needs at least \(minimumBytes)")
        }
        return bytes
    }
}

extension String {
    func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
