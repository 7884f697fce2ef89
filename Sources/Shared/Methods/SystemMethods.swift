/// `system.status`: what an operator checks first.
public enum SystemStatus: RPCMethod {
    public static let name = "system.status"
    public static let summary = "Daemon version, uptime, sessions, store and audit health"
    public static let permission = Permission.systemRead
    public typealias Params = NoParams
    public static let paramsSchema = Schema.empty

    public struct Result: Codable, Sendable {
        public var version: String
        public var pid: Int32
        public var startedAt: String
        public var uptimeSeconds: Double
        public var socket: String
        public var socketActivated: Bool
        public var sessions: Int
        public var store: Store
        public var audit: Audit
        public var libraries: [String: String]

        public struct Store: Codable, Sendable {
            public var path: String
            public var ok: Bool
            public var sizeBytes: Int64
            public var schemaVersion: String
            /// `full` or `normal`: the SQLite synchronous setting the writer really uses.
            public var durability: String
            public init(path: String, ok: Bool, sizeBytes: Int64, schemaVersion: String, durability: String) {
                self.path = path
                self.ok = ok
                self.sizeBytes = sizeBytes
                self.schemaVersion = schemaVersion
                self.durability = durability
            }
        }

        public struct Audit: Codable, Sendable {
            public var entries: Int64
            public var lastSeq: Int64
            public var journal: Bool
            public var ok: Bool
            public init(entries: Int64, lastSeq: Int64, journal: Bool, ok: Bool) {
                self.entries = entries
                self.lastSeq = lastSeq
                self.journal = journal
                self.ok = ok
            }
        }

        public init(
            version: String, pid: Int32, startedAt: String, uptimeSeconds: Double, socket: String,
            socketActivated: Bool, sessions: Int, store: Store, audit: Audit, libraries: [String: String]
        ) {
            self.version = version
            self.pid = pid
            self.startedAt = startedAt
            self.uptimeSeconds = uptimeSeconds
            self.socket = socket
            self.socketActivated = socketActivated
            self.sessions = sessions
            self.store = store
            self.audit = audit
            self.libraries = libraries
        }
    }

    public static let resultSchema = Schema.object(
        "Daemon status",
        [
            .required("version", .string("laloD version")),
            .required("pid", .integer("Process id of laloD")),
            .required("startedAt", .string("When laloD started", format: "date-time")),
            .required("uptimeSeconds", .number(description: "Seconds since start")),
            .required("socket", .string("Path of the listening socket")),
            .required("socketActivated", .boolean("Whether systemd passed the socket in")),
            .required("sessions", .integer("Open sessions (connections)")),
            .required(
                "store",
                .object(
                    "SQLite store",
                    [
                        .required("path", .string()), .required("ok", .boolean()), .required("sizeBytes", .integer()),
                        .required("schemaVersion", .string("Last applied migration")),
                        .required(
                            "durability",
                            .string(
                                "SQLite synchronous setting of the writer", enum: ["full", "normal", "off", "extra"])),
                    ])),
            .required(
                "audit",
                .object(
                    "Audit log",
                    [
                        .required("entries", .integer()), .required("lastSeq", .integer()),
                        .required("journal", .boolean("Whether entries are mirrored to journald")),
                        .required("ok", .boolean("Whether the audit writer is healthy")),
                    ])),
            .required("libraries", .map("Versions of linked system libraries", values: .string())),
        ])
}

/// `rpc.discover`: the OpenRPC 1.3 document of every method, generated from this catalogue.
public enum RPCDiscover: RPCMethod {
    public static let name = "rpc.discover"
    public static let summary = "The OpenRPC 1.3 document describing every method"
    public static let permission = Permission.systemRead
    public typealias Params = NoParams
    public typealias Result = JSONValue
    public static let paramsSchema = Schema.empty
    public static let resultSchema = Schema.any(description: "OpenRPC document")
}
