/// Names of secrets: letters, digits, `.`, `_` and `-`, starting with a letter or digit.
public let secretNamePattern = "^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
public let isValidSecretName: @Sendable (String) -> Bool = { name in
    let scalars = Array(name.unicodeScalars)
    guard let first = scalars.first, scalars.count <= 128, first.isASCIIAlphanumeric else { return false }
    return scalars.allSatisfy { $0.isASCIIAlphanumeric || $0 == "." || $0 == "_" || $0 == "-" }
}

extension Unicode.Scalar {
    var isASCIIAlphanumeric: Bool {
        ("a"..."z").contains(self) || ("A"..."Z").contains(self) || ("0"..."9").contains(self)
    }
}

/// What `secret.list` shows of a secret: never its value.
public struct SecretInfo: Codable, Sendable, Equatable {
    public var name: String
    public var description: String
    /// Counts `secret.set` calls on this name: 1 when created, +1 on every replacement.
    public var version: Int64
    /// The master key version that wraps this secret's data key.
    public var keyVersion: Int64
    public var createdAt: String
    public var createdBy: String
    public var updatedAt: String
    public var updatedBy: String

    public init(
        name: String, description: String, version: Int64, keyVersion: Int64, createdAt: String,
        createdBy: String, updatedAt: String, updatedBy: String
    ) {
        self.name = name
        self.description = description
        self.version = version
        self.keyVersion = keyVersion
        self.createdAt = createdAt
        self.createdBy = createdBy
        self.updatedAt = updatedAt
        self.updatedBy = updatedBy
    }

    static let schema = Schema.object(
        "A secret's metadata (its value is never returned)",
        [
            .required("name", .string()), .required("description", .string()),
            .required("version", .integer("1 when created, +1 on every replacement")),
            .required("keyVersion", .integer("Master key version wrapping the secret's data key")),
            .required("createdAt", .string(format: "date-time")), .required("createdBy", .string()),
            .required("updatedAt", .string(format: "date-time")), .required("updatedBy", .string()),
        ])
}

/// The master key as `secret.list` and `secret.rotate` describe it.
public struct MasterKeyInfo: Codable, Sendable, Equatable {
    /// `credential` (systemd `$CREDENTIALS_DIRECTORY`) or `keyFile`.
    public var source: String
    /// The credential name or key file path.
    public var location: String
    /// The version new secrets are wrapped with.
    public var activeVersion: Int64
    /// Every version some secret still uses (more than one only while a rotation is unfinished).
    public var versionsInUse: [Int64]

    public init(source: String, location: String, activeVersion: Int64, versionsInUse: [Int64]) {
        self.source = source
        self.location = location
        self.activeVersion = activeVersion
        self.versionsInUse = versionsInUse
    }

    static let schema = Schema.object(
        "The master key",
        [
            .required("source", .string(enum: ["credential", "keyFile"])),
            .required("location", .string("Credential name or key file path")),
            .required("activeVersion", .integer()),
            .required("versionsInUse", .array(.integer(), "More than one only while a rotation is unfinished")),
        ])
}

public enum SecretSet: RPCMethod {
    public static let name = "secret.set"
    public static let summary = "Create or replace a secret; the value is encrypted at rest and never returned"
    public static let permission = Permission.secretManage
    /// The value must not reach the audit log, not even as part of the params digest.
    public static let secretParams = ["value"]
    public struct Params: Codable, Sendable {
        public var name: String
        public var value: String
        public var description: String?
        public init(name: String, value: String, description: String? = nil) {
            self.name = name
            self.value = value
            self.description = description
        }
    }
    public struct Result: Codable, Sendable {
        public var secret: SecretInfo
        public var created: Bool
        public init(secret: SecretInfo, created: Bool) {
            self.secret = secret
            self.created = created
        }
    }
    public static let paramsSchema = Schema.object(
        nil,
        [
            .required("name", .string("Secret name", pattern: secretNamePattern, check: isValidSecretName)),
            .required(
                "value",
                .string(
                    "The secret (at least 8 bytes, so redaction can tell it from ordinary text; at most 64 KiB)",
                    minLength: 8, maxLength: 65536)),
            .optional("description", .string("What the secret is for", maxLength: 1024)),
        ])
    public static let resultSchema = Schema.object(
        nil,
        [
            .required("secret", SecretInfo.schema),
            .required("created", .boolean("False when an existing value was replaced")),
        ])
}

public enum SecretList: RPCMethod {
    public static let name = "secret.list"
    public static let summary = "Secret names, metadata and key versions (never values)"
    public static let permission = Permission.secretManage
    public typealias Params = NoParams
    public struct Result: Codable, Sendable {
        public var secrets: [SecretInfo]
        public var masterKey: MasterKeyInfo
        public init(secrets: [SecretInfo], masterKey: MasterKeyInfo) {
            self.secrets = secrets
            self.masterKey = masterKey
        }
    }
    public static let paramsSchema = Schema.empty
    public static let resultSchema = Schema.object(
        nil,
        [
            .required("secrets", .array(SecretInfo.schema)), .required("masterKey", MasterKeyInfo.schema),
        ])
}

public enum SecretDelete: RPCMethod {
    public static let name = "secret.delete"
    public static let summary = "Delete a secret"
    public static let permission = Permission.secretManage
    public struct Params: Codable, Sendable {
        public var name: String
        public init(name: String) { self.name = name }
    }
    public struct Result: Codable, Sendable {
        public var deleted: String
        public init(deleted: String) { self.deleted = deleted }
    }
    public static let paramsSchema = Schema.object(
        nil,
        [
            .required("name", .string("Secret name", pattern: secretNamePattern, check: isValidSecretName))
        ])
    public static let resultSchema = Schema.object(nil, [.required("deleted", .string("Name of the deleted secret"))])
}

public enum SecretRotate: RPCMethod {
    public static let name = "secret.rotate"
    public static let summary =
        "Re-wrap every secret under a new master key version (crash-safe; resumes if interrupted)"
    public static let permission = Permission.secretManage
    public typealias Params = NoParams
    public struct Result: Codable, Sendable {
        public var keyVersion: Int64
        public var rewrapped: Int64
        public var retiredVersions: [Int64]
        public var masterKey: MasterKeyInfo
        public init(keyVersion: Int64, rewrapped: Int64, retiredVersions: [Int64], masterKey: MasterKeyInfo) {
            self.keyVersion = keyVersion
            self.rewrapped = rewrapped
            self.retiredVersions = retiredVersions
            self.masterKey = masterKey
        }
    }
    public static let paramsSchema = Schema.empty
    public static let resultSchema = Schema.object(
        nil,
        [
            .required("keyVersion", .integer("The new active master key version")),
            .required("rewrapped", .integer("Secrets re-wrapped by this call")),
            .required("retiredVersions", .array(.integer(), "Versions no secret uses any more, now deleted")),
            .required("masterKey", MasterKeyInfo.schema),
        ])
}
