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
                throw ConfigError(
                    file: dropInDirectory, key: nil, problem: "cannot read directory: \(error.localizedDescription)")
            }
            files += names.filter { $0.hasSuffix(".toml") }.sorted().map { "\(dropInDirectory)/\($0)" }
        }
        for file in files {
            try apply(file: file, to: &configuration)
        }
        configuration.sources = files
        for (role, binding) in configuration.models.sorted(by: { $0.key < $1.key }) {
            if binding.provider != Configuration.LocalModelConfiguration.providerName
                && configuration.providers[binding.provider] == nil
            {
                throw ConfigError(
                    file: files.last ?? path, key: "models.\(role).provider",
                    problem:
                        "no provider \"\(binding.provider)\" (configured: \((["local"] + configuration.providers.keys.sorted()).joined(separator: ", "))); checked after merging \(files.joined(separator: ", "))"
                )
            }
            if binding.provider != Configuration.LocalModelConfiguration.providerName && binding.model.isEmpty {
                throw ConfigError(
                    file: files.last ?? path, key: "models.\(role).model",
                    problem: "required for provider \(binding.provider)")
            }
        }
        for (name, provider) in configuration.providers where provider.baseURL.isEmpty {
            throw ConfigError(file: files.last ?? path, key: "providers.\(name).baseURL", problem: "required")
        }
        // A default the maximum refuses would refuse every run that relies on it.
        for limit in SandboxLimits.names {
            if let value = configuration.sandbox.defaults[keyPath: limit.keyPath],
                let maximum = configuration.sandbox.maxima[keyPath: limit.keyPath],
                value > maximum
            {
                throw ConfigError(
                    file: files.last ?? path, key: "sandbox.\(limit.name)",
                    problem:
                        "\(value) is above sandbox.max\(limit.name.prefix(1).uppercased() + limit.name.dropFirst()) (\(maximum)); checked after merging \(files.joined(separator: ", "))"
                )
            }
        }
        if let socket = overrides.socket { configuration.server.socket = socket }
        if let state = overrides.stateDirectory { configuration.store.stateDirectory = state }
        if let level = overrides.logLevel { configuration.logLevel = level }
        return configuration
    }

    private func apply(file: String, to configuration: inout Configuration) throws(ConfigError) {
        let bytes: [UInt8]
        switch Self.readFile(file) {
        case .success(let read): bytes = read
        case .failure(let code):
            throw ConfigError(file: file, key: nil, problem: "cannot read: \(String(cString: strerror(code.code)))")
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
            if let entryKeys = Self.namedTableSections[section] {
                try applyNamedTables(
                    section: section, entryKeys: entryKeys, table: table[section], file: file, to: &configuration)
                continue
            }
            guard let sectionKeys = Self.keys[section] else {
                let known = (Array(Self.keys.keys) + Array(Self.namedTableSections.keys)).sorted()
                throw ConfigError(
                    file: file, key: section, problem: "unknown section (known: \(known.joined(separator: ", ")))")
            }
            guard let sectionTable = table[section]?.table else {
                throw ConfigError(file: file, key: section, problem: "must be a table ([\(section)])")
            }
            for key in sectionTable.keys.sorted() {
                let name = "\(section).\(key)"
                guard let setter = sectionKeys[key] else {
                    throw ConfigError(
                        file: file, key: name,
                        problem:
                            "unknown key (known in [\(section)]: \(sectionKeys.keys.sorted().joined(separator: ", ")))")
                }
                do {
                    try setter(&configuration, sectionTable[key]!)
                } catch let problem {
                    throw ConfigError(file: file, key: name, problem: problem.message)
                }
            }
        }
    }

    /// `[providers.NAME]` and `[models.ROLE]`: a table of tables, each entry with its own keys.
    private func applyNamedTables(
        section: String, entryKeys: NamedTableSection, table: (any TOMLValueConvertible)?,
        file: String, to configuration: inout Configuration
    ) throws(ConfigError) {
        guard let sectionTable = table?.table else {
            throw ConfigError(file: file, key: section, problem: "must be a table of tables ([\(section).NAME])")
        }
        for name in sectionTable.keys.sorted() {
            let prefix = "\(section).\(name)"
            do {
                try entryKeys.checkName(name)
            } catch let problem {
                throw ConfigError(file: file, key: prefix, problem: problem.message)
            }
            guard let entry = sectionTable[name]?.table else {
                throw ConfigError(file: file, key: prefix, problem: "must be a table ([\(prefix)])")
            }
            entryKeys.create(&configuration, name)
            for key in entry.keys.sorted() {
                guard let setter = entryKeys.keys[key] else {
                    throw ConfigError(
                        file: file, key: "\(prefix).\(key)",
                        problem:
                            "unknown key (known in [\(section).NAME]: \(entryKeys.keys.keys.sorted().joined(separator: ", ")))"
                    )
                }
                do {
                    try setter(&configuration, name, entry[key]!)
                } catch let problem {
                    throw ConfigError(file: file, key: "\(prefix).\(key)", problem: problem.message)
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
        guard value.type == .int, let i = value.int else {
            throw Problem(message: "expected an integer, got \(value.type)")
        }
        guard range.contains(i) else {
            throw Problem(message: "\(i) is out of range \(range.lowerBound)...\(range.upperBound)")
        }
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
            guard let s = element.string, !s.isEmpty else {
                throw Problem(message: "expected an array of non-empty strings")
            }
            result.append(s)
        }
        return result
    }

    private static func number(_ value: any TOMLValueConvertible, in range: ClosedRange<Double>) throws(Problem)
        -> Double
    {
        let number: Double
        if value.type == .int, let i = value.int {
            number = Double(i)
        } else if value.type == .double, let d = value.double {
            number = d
        } else {
            throw Problem(message: "expected a number, got \(value.type)")
        }
        guard range.contains(number) else {
            throw Problem(message: "\(number) is out of range \(range.lowerBound)...\(range.upperBound)")
        }
        return number
    }

    private static func boolean(_ value: any TOMLValueConvertible) throws(Problem) -> Bool {
        guard value.type == .bool, let flag = value.bool else {
            throw Problem(message: "expected true or false, got \(value.type)")
        }
        return flag
    }

    private static func absolutePath(_ value: any TOMLValueConvertible, allowEmpty: Bool) throws(Problem) -> String {
        let path = try string(value)
        if path.isEmpty && allowEmpty { return path }
        guard path.hasPrefix("/") else { throw Problem(message: "must be an absolute path") }
        return path
    }

    struct NamedTableSection: Sendable {
        typealias EntrySetter =
            @Sendable (inout Configuration, String, any TOMLValueConvertible) throws(Problem) -> Void
        var checkName: @Sendable (String) throws(Problem) -> Void
        var create: @Sendable (inout Configuration, String) -> Void
        var keys: [String: EntrySetter]
    }

    static let namedTableSections: [String: NamedTableSection] = [
        "providers": NamedTableSection(
            checkName: { name throws(Problem) in
                guard isValidSecretName(name) else {
                    throw Problem(message: "provider names use letters, digits, '.', '_' and '-'")
                }
                guard name != Configuration.LocalModelConfiguration.providerName else {
                    throw Problem(message: "\"local\" is the embedded model; configure it under [localModel]")
                }
            },
            create: { c, name in if c.providers[name] == nil { c.providers[name] = Configuration.Provider() } },
            keys: [
                "kind": { c, n, v throws(Problem) in
                    c.providers[n]!.kind = try choice(v, Configuration.Provider.Kind.self)
                },
                "baseURL": { c, n, v throws(Problem) in
                    var url = try nonEmptyString(v)
                    guard url.hasPrefix("http://") || url.hasPrefix("https://") else {
                        throw Problem(message: "must start with http:// or https://")
                    }
                    while url.hasSuffix("/") { url.removeLast() }
                    c.providers[n]!.baseURL = url
                },
                "apiKey": { c, n, v throws(Problem) in
                    let text = try string(v)
                    guard text.hasPrefix("secret:"), isValidSecretName(String(text.dropFirst(7))) else {
                        throw Problem(
                            message:
                                "must be a secret reference such as \"secret:\(n)\" (API keys live in the secret store: laloctl secret set \(n))"
                        )
                    }
                    c.providers[n]!.apiKey = text
                },
                "schemaStyle": { c, n, v throws(Problem) in
                    c.providers[n]!.schemaStyle = try choice(v, OpenAIClient.SchemaStyle.self)
                },
                "connectTimeoutSeconds": { c, n, v throws(Problem) in
                    c.providers[n]!.connectTimeoutSeconds = try integer(v, in: 1...600)
                },
                "timeoutSeconds": { c, n, v throws(Problem) in
                    c.providers[n]!.timeoutSeconds = try integer(v, in: 1...86_400)
                },
                "maxRetries": { c, n, v throws(Problem) in c.providers[n]!.maxRetries = try integer(v, in: 0...20) },
                "retryBaseMilliseconds": { c, n, v throws(Problem) in
                    c.providers[n]!.retryBaseMilliseconds = try integer(v, in: 1...60_000)
                },
            ]),
        "models": NamedTableSection(
            checkName: { name throws(Problem) in
                guard ModelRole(rawValue: name) != nil else {
                    throw Problem(
                        message: "unknown role (roles: \(ModelRole.allCases.map(\.rawValue).joined(separator: ", ")))")
                }
            },
            create: { c, name in if c.models[name] == nil { c.models[name] = Configuration.ModelBinding() } },
            keys: [
                "provider": { c, n, v throws(Problem) in c.models[n]!.provider = try nonEmptyString(v) },
                "model": { c, n, v throws(Problem) in c.models[n]!.model = try nonEmptyString(v) },
                "maxTokens": { c, n, v throws(Problem) in c.models[n]!.maxTokens = try integer(v, in: 1...131_072) },
                "temperature": { c, n, v throws(Problem) in c.models[n]!.temperature = try number(v, in: 0...2) },
            ]),
    ]

    static let keys: [String: [String: Setter]] = [
        "server": [
            "socket": { c, v throws(Problem) in
                let path = try nonEmptyString(v)
                guard path.hasPrefix("/") else { throw Problem(message: "must be an absolute path") }
                guard path.utf8.count < 108 else {
                    throw Problem(message: "longer than the 107 bytes a Unix socket path may have")
                }
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
            "maxInFlightPerConnection": { c, v throws(Problem) in
                c.server.maxInFlightPerConnection = try integer(v, in: 1...4096)
            },
            "idleTimeoutSeconds": { c, v throws(Problem) in
                c.server.idleTimeoutSeconds = try integer(v, in: 1...604_800)
            },
            "maxSessionsPerUser": { c, v throws(Problem) in
                c.server.maxSessionsPerUser = try integer(v, in: 1...100_000)
            },
            "shutdownTimeoutSeconds": { c, v throws(Problem) in
                c.server.shutdownTimeoutSeconds = try integer(v, in: 0...3600)
            },
        ],
        "store": [
            "stateDirectory": { c, v throws(Problem) in
                let path = try nonEmptyString(v)
                guard path.hasPrefix("/") else { throw Problem(message: "must be an absolute path") }
                c.store.stateDirectory = path
            },
            "busyTimeoutMilliseconds": { c, v throws(Problem) in
                c.store.busyTimeoutMilliseconds = try integer(v, in: 0...600_000)
            },
            "durability": { c, v throws(Problem) in c.store.durability = try choice(v, Configuration.Durability.self) },
        ],
        "log": [
            "level": { c, v throws(Problem) in c.logLevel = try choice(v, Logger.Level.self) }
        ],
        "audit": [
            "journal": { c, v throws(Problem) in c.audit.journal = try choice(v, Configuration.JournalMode.self) }
        ],
        "localModel": [
            "mode": { c, v throws(Problem) in c.localModel.mode = try choice(v, Configuration.LocalMode.self) },
            "python": { c, v throws(Problem) in c.localModel.python = try absolutePath(v, allowEmpty: true) },
            "modelFile": { c, v throws(Problem) in c.localModel.modelFile = try absolutePath(v, allowEmpty: true) },
            "modelName": { c, v throws(Problem) in c.localModel.modelName = try nonEmptyString(v) },
            "port": { c, v throws(Problem) in c.localModel.port = try integer(v, in: 0...65535) },
            "contextSize": { c, v throws(Problem) in c.localModel.contextSize = try integer(v, in: 256...131_072) },
            "threads": { c, v throws(Problem) in c.localModel.threads = try integer(v, in: 0...256) },
            "startTimeoutSeconds": { c, v throws(Problem) in
                c.localModel.startTimeoutSeconds = try integer(v, in: 1...3600)
            },
            "requestTimeoutSeconds": { c, v throws(Problem) in
                c.localModel.requestTimeoutSeconds = try integer(v, in: 1...86_400)
            },
        ],
        "secrets": [
            "credentialName": { c, v throws(Problem) in
                let name = try nonEmptyString(v)
                guard isValidSecretName(name) else { throw Problem(message: "not a valid credential name") }
                c.secrets.credentialName = name
            },
            "keyFile": { c, v throws(Problem) in c.secrets.keyFile = try absolutePath(v, allowEmpty: true) },
            "rotationBatchSize": { c, v throws(Problem) in c.secrets.rotationBatchSize = try integer(v, in: 1...100_000)
            },
        ],
        "workflow": [
            "confidenceThreshold": { c, v throws(Problem) in c.workflow.confidenceThreshold = try number(v, in: 0...1)
            },
            "interpretationSamples": { c, v throws(Problem) in
                c.workflow.interpretationSamples = try integer(v, in: 1...8)
            },
            "judgeWeight": { c, v throws(Problem) in c.workflow.judgeWeight = try number(v, in: 0...1) },
            "checkWeight": { c, v throws(Problem) in c.workflow.checkWeight = try number(v, in: 0...1) },
            "judgeSamples": { c, v throws(Problem) in c.workflow.judgeSamples = try integer(v, in: 1...4) },
            "planningStyle": { c, v throws(Problem) in c.workflow.planningStyle = try choice(v, Planner.Style.self) },
            "interpretationCacheSeconds": { c, v throws(Problem) in
                c.workflow.interpretationCacheSeconds = try integer(v, in: 0...31_536_000)
            },
            "planRounds": { c, v throws(Problem) in c.workflow.planRounds = try integer(v, in: 1...3) },
            "criticPassingScore": { c, v throws(Problem) in c.workflow.criticPassingScore = try number(v, in: 0...1) },
            "autoApproveReadOnlyAbove": { c, v throws(Problem) in
                c.workflow.autoApproveReadOnlyAbove = try number(v, in: 0...2)
            },
            "requireDifferentApprover": { c, v throws(Problem) in c.workflow.requireDifferentApprover = try boolean(v)
            },
            "speculativePlanning": { c, v throws(Problem) in c.workflow.speculativePlanning = try boolean(v) },
            "maxAutomaticReplans": { c, v throws(Problem) in c.workflow.maxAutomaticReplans = try integer(v, in: 0...10)
            },
            "workspaceDirectory": { c, v throws(Problem) in
                c.workflow.workspaceDirectory = try absolutePath(v, allowEmpty: true)
            },
        ],
        "sandbox": sandboxKeys,
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

    /// `[sandbox]`: the backend, the launcher, the uid range, Docker's socket, image and runtime,
    /// and for each limit L its default (`L`) and maximum (`maxL`).
    private static func limitSetter(_ name: String, maximum: Bool) -> Setter {
        // (A closure with typed throws that captures a variable inside another closure crashes
        // swift-frontend 6.3.1; a function building it does not.)
        return { c, v throws(Problem) in
            let value = try integer(v, in: 1...(1 << 50))
            if maximum { c.sandbox.maxima.set(name, value) } else { c.sandbox.defaults.set(name, value) }
        }
    }

    static let sandboxKeys: [String: Setter] = {
        var keys: [String: Setter] = [
            "backend": { c, v throws(Problem) in c.sandbox.backend = try choice(v, SandboxBackendName.self) },
            "launcher": { c, v throws(Problem) in c.sandbox.launcher = try absolutePath(v, allowEmpty: true) },
            "hostUidBase": { c, v throws(Problem) in c.sandbox.hostUidBase = try integer(v, in: 1000...3_999_000_000) },
            "slots": { c, v throws(Problem) in c.sandbox.slots = try integer(v, in: 1...4096) },
            "dockerSocket": { c, v throws(Problem) in c.sandbox.dockerSocket = try absolutePath(v, allowEmpty: false) },
            "dockerImage": { c, v throws(Problem) in c.sandbox.dockerImage = try nonEmptyString(v) },
            "dockerRuntime": { c, v throws(Problem) in c.sandbox.dockerRuntime = try string(v) },
            "python": { c, v throws(Problem) in c.sandbox.python = try absolutePath(v, allowEmpty: false) },
        ]
        for limit in SandboxLimits.names {
            let maxName = "max" + limit.name.prefix(1).uppercased() + limit.name.dropFirst()
            keys[limit.name] = limitSetter(limit.name, maximum: false)
            keys[maxName] = limitSetter(limit.name, maximum: true)
        }
        return keys
    }()
}
