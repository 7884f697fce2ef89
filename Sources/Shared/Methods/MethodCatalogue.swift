/// Every method of the contract. The daemon refuses to start if a handler is missing for one, and
/// `rpc.discover` documents exactly this list.
public enum MethodCatalogue {
    public static let all: [MethodDescriptor] = [
        SystemStatus.descriptor, RPCDiscover.descriptor,
        SessionWhoami.descriptor, SessionList.descriptor, SessionTerminate.descriptor,
        RoleList.descriptor, RoleGrant.descriptor, RoleRevoke.descriptor, RoleDefine.descriptor,
        AuditQuery.descriptor, AuditVerify.descriptor, AuditExport.descriptor,
        SecretSet.descriptor, SecretList.descriptor, SecretDelete.descriptor, SecretRotate.descriptor,
        ModelList.descriptor, ModelTest.descriptor, ModelComplete.descriptor, ModelUsage.descriptor,
        ToolList.descriptor, ToolDescribe.descriptor, ToolConfigure.descriptor, ToolExecutions.descriptor,
        WorkflowStart.descriptor, WorkflowGet.descriptor, WorkflowList.descriptor, WorkflowSubscribe.descriptor,
        WorkflowClarify.descriptor, WorkflowApprove.descriptor, WorkflowReject.descriptor, WorkflowEdit.descriptor,
        WorkflowCancel.descriptor, WorkflowPause.descriptor, WorkflowResume.descriptor, WorkflowFeedback.descriptor,
        SandboxRun.descriptor, SandboxStatus.descriptor,
    ]

    public static func descriptor(named name: String) -> MethodDescriptor? {
        byName[name]
    }

    private static let byName: [String: MethodDescriptor] = Dictionary(uniqueKeysWithValues: all.map { ($0.name, $0) })

    /// The OpenRPC 1.3 document for `rpc.discover`.
    public static func openRPCDocument(version: String) -> JSONValue {
        let methods: [JSONValue] = all.map { m in
            var params: [JSONValue] = []
            if case .object(let rules) = m.paramsSchema {
                params = rules.properties.map { p in
                    ["name": .string(p.name), "required": .bool(p.required), "schema": p.schema.json]
                }
            }
            var method: [String: JSONValue] = [
                "name": .string(m.name),
                "summary": .string(m.summary),
                "paramStructure": "by-name",
                "params": .array(params),
                "result": ["name": .string("\(m.name) result"), "schema": m.resultSchema.json],
                "x-permission": .string(m.permission.rawValue),
            ]
            if let notification = m.notification { method["x-notification"] = .string(notification) }
            return .object(method)
        }
        let errors: [JSONValue] = ErrorKind.allCases.map { kind in
            ["code": .int(kind.code), "message": .string(kind.rawValue)]
        }
        return [
            "openrpc": "1.3.2",
            "info": [
                "title": "LALO daemon (laloD)",
                "version": .string(version),
                "description": "JSON-RPC 2.0 over a Unix socket, one JSON text per line. Errors carry error.data.kind.",
            ],
            "methods": .array(methods),
            "components": ["x-errors": .array(errors)],
        ]
    }
}

public enum LaloVersion {
    public static let current = "0.1.0"
}
