import Shared

/// `tool.*`: the registry's tools, their configuration and recorded calls.
struct ToolHandlers: Sendable {
    let tools: ToolRegistry

    func register(_ registry: inout MethodRegistry) {
        registry.register(ToolList.self) { _, _ in
            ToolList.Result(tools: try tools.list())
        }

        registry.register(ToolDescribe.self) { params, _ in
            try tools.info(params.name)
        }

        registry.register(ToolConfigure.self) { params, context in
            try await tools.configure(params, by: AuditActor(session: context.session))
        }

        registry.register(ToolExecutions.self) { params, context in
            var before: Int64?
            if let cursor = params.cursor {
                guard let id = Int64(cursor), id > 0 else {
                    throw RPCError.invalidParams(
                        "cursor must be the nextCursor of a previous page", field: "params.cursor")
                }
                before = id
            }
            // Everyone sees their own calls; auditors see all.
            let uid: Int64? = context.permissions.contains(.auditRead) ? nil : Int64(context.session.principal.uid)
            let limit = params.limit ?? 100
            let page = try tools.executions(
                tool: params.tool, workflowId: params.workflowId, uid: uid, beforeID: before,
                limit: limit + 1)
            let executions = Array(page.prefix(limit))
            return ToolExecutions.Result(
                executions: executions,
                nextCursor: page.count > limit ? executions.last.map { String($0.id) } : nil)
        }
    }
}
