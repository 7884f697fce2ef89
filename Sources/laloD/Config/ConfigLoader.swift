import Foundation
import Logging
import Shared
import TOMLKit

/// A configuration problem, always naming the file and key so an operator can fix it.
struct ConfigError: Error, CustomStringConvertible {
    var file: String
    var key: String?
    var problem: String

    var description: String {
        if let key { return "\(file): \(key): \(problem)" }
        return "\(file): \(problem)"
    }
}

/// Reads `laloD.toml` and `laloD.toml.d/*.toml` (lexical order, later files win) on top of the
/// defaults, then applies command-line overrides.
///
/// Unknown keys, wrong types and out-of-range values are errors, not warnings: a typo in a
/// security setting must stop the daemon rather than silently leave the default in force.
struct ConfigLoader {
    struct Overrides: Sendable {
        var socket: String?
        var stateDirectory: String?
        var logLevel: Logger.Level?
    }

    var path: String
    /// Whether a missing main file is an error (an explicit `--config`) or means "defaults".
    var required: Bool
    var overrides: Overrides

    func load() throws(ConfigError) -> Configuration {
        var configuration = Configuration()
        var files: [String] = []
        if FileManager.default.fileExists(atPath: path) {
            files.append(path)
        } else if required {
            throw ConfigError(file: path, key: nil, problem: "file does not exist")
        }
        let dropInDirectory = path + ".d"
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: dropInDirectory, isDirectory: &isDirectory), isDirectory.boolValue {
            let names: [String]
            do {
                names = try FileManager.default.contentsOfDirectory(atPath: dropInDirectory)
            } catch {
                throw ConfigError(file: dropInDirectory, key: nil, problem: "cannot read directory: \(error.localizedDescription)")
            }
            files += names.filter { $0.hasSuffix(".toml") }.sorted().map { "\(dropInDirectory)/\($0)" }
        }
        for file in files {
            try apply(file: file, to: &configuration)
        }
        configuration.sources = files
        if let socket = overrides.socket { configuration.server.socket = socket }
        if let state = overrides.stateDirectory { configuration.store.stateDirectory = state }
        if let level = overrides.logLevel { configuration.logLevel = level }
        return configuration
    }

    private func apply(file: String, to configuration: inout Configuration) throws(ConfigError) {
        let bytes: [UInt8]
        switch Self.readFile(file) {
        case .success(let read): bytes = read
        case .failure(let code): throw ConfigError(file: file, key: nil, problem: "cannot read: \(String(cString: strerror(code.code)))")
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw ConfigError(file: file, key: nil, problem: "not valid UTF-8")
        }
        let table: TOMLTable
        do {
            table = try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            throw ConfigError(
                file: file, key: nil,
                problem: "line \(error.source.begin.line), column \(error.source.begin.column): \(error.description)")
        } catch {
            throw ConfigError(file: file, key: nil, problem: "invalid TOML: \(error)")
        }
        for section in table.keys.sorted() {
            guard let sectionKeys = Self.keys[section] else {
                throw ConfigError(file: file, key: section, problem: "unknown section (known: \(Self.keys.keys.sorted().joined(separator: ", ")))")
            }
            guard let sectionTable = table[section]?.table else {
                throw ConfigError(file: file, key: section, problem: "must be a table ([\(section)])")
            }
            for key in sectionTable.keys.sorted() {
                let name = "\(section).\(key)"
                guard let setter = sectionKeys[key] else {
                    throw ConfigError(file: file, key: name, problem: "unknown key (known in [\(section)]: \(sectionKeys.keys.sorted().joined(separator: ", ")))")
                }
                do {
                    try setter(&configuration, sectionTable[key]!)
                } catch let problem {
                    throw ConfigError(file: file, key: name, problem: problem.message)
                }
            }
        }
    }

    /// Reads a whole file with plain POSIX calls, so the error is the errno an operator can act
    /// on ("Permission denied", "Is a directory"), and character devices like /dev/null work.
    static func readFile(_ path: String) -> Result<[UInt8], Errno> {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return .failure(Errno(code: errno)) }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = read(fd, &chunk, chunk.count)
            if n < 0 {
                if errno == EINTR { continue }
                return .failure(Errno(code: errno))
            }
            if n == 0 { return .success(bytes) }
            bytes.append(contentsOf: chunk[0..<n])
            if bytes.count > 16 << 20 { return .failure(Errno(code: EFBIG)) }
        }
    }

    struct Errno: Error { var code: Int32 }

    // MARK: The key table

    struct Problem: Error { var message: String }
    typealias Setter = @Sendable (inout Configuration, any TOMLValueConvertible) throws(Problem) -> Void

    private static func string(_ value: any TOMLValueConvertible) throws(Problem) -> String {
        guard let s = value.string else { throw Problem(message: "expected a string, got \(value.type)") }
        return s
    }

    private static func nonEmptyString(_ value: any TOMLValueConvertible) throws(Problem) -> String {
        let s = try string(value)
        guard !s.isEmpty else { throw Problem(message: "must not be empty") }
        return s
    }

    private static func integer(_ value: any TOMLValueConvertible, in range: ClosedRange<Int>) throws(Problem) -> Int {
        guard value.type == .int, let i = value.int else { throw Problem(message: "expected an integer, got \(value.type)") }
        guard range.contains(i) else { throw Problem(message: "\(i) is out of range \(range.lowerBound)...\(range.upperBound)") }
        return i
    }

    /// One of an enum's string values, with the allowed ones listed in the error.
    private static func choice<E: RawRepresentable & CaseIterable>(_ value: any TOMLValueConvertible, _ type: E.Type)
        throws(Problem) -> E where E.RawValue == String
    {
        let text = try string(value)
        guard let chosen = E(rawValue: text) else {
            throw Problem(message: "\"\(text)\" is not one of \(E.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return chosen
    }

    private static func names(_ value: any TOMLValueConvertible) throws(Problem) -> [String] {
        guard let array = value.array else { throw Problem(message: "expected an array of strings, got \(value.type)") }
        var result: [String] = []
        for element in array {
            guard let s = element.string, !s.isEmpty else { throw Problem(message: "expected an array of non-empty strings") }
            result.append(s)
        }
        return result
    }

    static let keys: [String: [String: Setter]] = [
        "server": [
            "socket": { c, v throws(Problem) in
                let path = try nonEmptyString(v)
                guard path.hasPrefix("/") else { throw Problem(message: "must be an absolute path") }
                guard path.utf8.count < 108 else { throw Problem(message: "longer than the 107 bytes a Unix socket path may have") }
                c.server.socket = path
            },
            "socketMode": { c, v throws(Problem) in
                let text = try string(v)
                guard text.count <= 4, let mode = UInt32(text, radix: 8), mode <= 0o777 else {
                    throw Problem(message: "expected an octal mode string such as \"0660\", got \"\(text)\"")
                }
                guard mode & 0o002 == 0 || text == "0666" || text == "666" else {
                    throw Problem(message: "world-writable modes other than 0666 are refused")
                }
                c.server.socketMode = mode
            },
            "socketGroup": { c, v throws(Problem) in c.server.socketGroup = try string(v) },
            "maxLineBytes": { c, v throws(Problem) in c.server.maxLineBytes = try integer(v, in: 1024...(1 << 30)) },
            "maxInFlightPerConnection": { c, v throws(Problem) in c.server.maxInFlightPerConnection = try integer(v, in: 1...4096) },
            "idleTimeoutSeconds": { c, v throws(Problem) in c.server.idleTimeoutSeconds = try integer(v, in: 1...604_800) },
            "maxSessionsPerUser": { c, v throws(Problem) in c.server.maxSessionsPerUser = try integer(v, in: 1...100_000) },
            "shutdownTimeoutSeconds": { c, v throws(Problem) in c.server.shutdownTimeoutSeconds = try integer(v, in: 0...3600) },
        ],
        "store": [
            "stateDirectory": { c, v throws(Problem) in
                let path = try nonEmptyString(v)
                guard path.hasPrefix("/") else { throw Problem(message: "must be an absolute path") }
                c.store.stateDirectory = path
            },
            "busyTimeoutMilliseconds": { c, v throws(Problem) in c.store.busyTimeoutMilliseconds = try integer(v, in: 0...600_000) },
            "durability": { c, v throws(Problem) in c.store.durability = try choice(v, Configuration.Durability.self) },
        ],
        "log": [
            "level": { c, v throws(Problem) in c.logLevel = try choice(v, Logger.Level.self) },
        ],
        "audit": [
            "journal": { c, v throws(Problem) in c.audit.journal = try choice(v, Configuration.JournalMode.self) },
        ],
        "roles": [
            "adminUsers": { c, v throws(Problem) in c.roles.adminUsers = try names(v) },
            "adminGroups": { c, v throws(Problem) in c.roles.adminGroups = try names(v) },
            "userUsers": { c, v throws(Problem) in c.roles.userUsers = try names(v) },
            "userGroups": { c, v throws(Problem) in c.roles.userGroups = try names(v) },
            "viewerUsers": { c, v throws(Problem) in c.roles.viewerUsers = try names(v) },
            "viewerGroups": { c, v throws(Problem) in c.roles.viewerGroups = try names(v) },
            "everyone": { c, v throws(Problem) in
                let text = try string(v)
                if text.isEmpty {
                    c.roles.everyone = nil
                } else {
                    guard BuiltInRole(rawValue: text) != nil else {
                        throw Problem(message: "\"\(text)\" is not a built-in role (viewer, user, admin) or \"\"")
                    }
                    c.roles.everyone = text
                }
            },
        ],
    ]
}
