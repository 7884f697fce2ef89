import Foundation
import Shared

/// `workflow.*`: start, inspect, decide and follow workflows.
struct WorkflowHandlers: Sendable {
    let workflows: WorkflowEngine
    let tools: ToolRegistry

    /// The workflow, if ``WorkflowPolicy`` lets the caller do `action` with it: a hidden one is
    /// `notFound`, exactly like an id that does not exist.
    private func workflow(_ id: String, _ context: MethodContext, _ action: WorkflowPolicy.Action) throws
        -> WorkflowLog.Record
    {
        guard let record = try workflows.log.record(id) else {
            throw RPCError.notFound("no workflow \(id)", field: "params.id")
        }
        try check(
            WorkflowPolicy.verdict(
                action, requester: record.uid, caller: Int64(context.session.principal.uid),
                permissions: context.permissions,
                requireDifferentApprover: record.decodedOptions.requireDifferentApprover),
            id: id)
        return record
    }

    private func check(_ verdict: WorkflowPolicy.Verdict, id: String) throws {
        switch verdict {
        case .allowed: return
        case .hidden: throw RPCError.notFound("no workflow \(id)", field: "params.id")
        case .denied(let why): throw RPCError.permissionDenied(why)
        }
    }

    private func decide(_ id: String, _ event: WorkflowEvent, payload: JSONValue? = nil, _ context: MethodContext)
        async throws -> WorkflowInfo
    {
        try await workflows.decide(id, event: event, payload: payload, by: AuditActor(session: context.session)).info
    }

    func register(_ registry: inout MethodRegistry) {
        registry.register(WorkflowStart.self) { params, context in
            if let threshold = params.threshold, !(0...1).contains(threshold) {
                throw RPCError.invalidParams("threshold must be between 0 and 1", field: "params.threshold")
            }
            guard !params.request.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
                throw RPCError.invalidParams("the request is blank", field: "params.request")
            }
            // The planner is offered the enabled tools the caller may use, or the subset asked for.
            let usable = try tools.list().filter {
                $0.enabled && context.permissions.contains(Permission($0.permission))
            }.map(\.name)
            var allowed = usable
            if let asked = params.tools {
                for (index, name) in asked.enumerated() where !usable.contains(name) {
                    throw RPCError.invalidParams(
                        "tool \(name) does not exist, is disabled, or needs a permission you lack (usable: \(usable.joined(separator: ", ")))",
                        field: "params.tools[\(index)]")
                }
                allowed = Array(Set(asked)).sorted()
            }
            guard !allowed.isEmpty else { throw RPCError(.conflict, "no tool is available to plan with") }
            let options = WorkflowLog.Options(
                threshold: params.threshold, tools: allowed,
                requireDifferentApprover: workflows.settings.requireDifferentApprover
                    || params.requireDifferentApprover == true,
                permissions: context.permissions.map(\.rawValue).sorted())
            return try await workflows.start(
                request: params.request, options: options, by: AuditActor(session: context.session)
            ).info
        }

        registry.register(WorkflowGet.self) { params, context in
            let record = try workflow(params.id, context, .see)
            return WorkflowGet.Result(
                workflow: record.info,
                events: try workflows.log.entries(record.id).map { $0.info(workflowId: record.id) },
                feedback: try workflows.log.feedback(record.id))
        }

        registry.register(WorkflowList.self) { params, context in
            var uid: Int64? = Int64(context.session.principal.uid)
            if params.all == true || params.user != nil {
                try check(WorkflowPolicy.listOthers(context.permissions), id: "")
                uid = nil
            }
            var before: (String, String)?
            if let cursor = params.cursor {
                let parts = cursor.split(separator: "|", maxSplits: 1).map(String.init)
                guard parts.count == 2 else {
                    throw RPCError.invalidParams(
                        "cursor must be the nextCursor of a previous page", field: "params.cursor")
                }
                before = (parts[0], parts[1])
            }
            let limit = params.limit ?? 100
            let page = try workflows.log.list(
                uid: uid, user: params.user, state: params.state, before: before, limit: limit + 1)
            let shown = Array(page.prefix(limit))
            return WorkflowList.Result(
                workflows: shown.map(\.info),
                nextCursor: page.count > limit ? shown.last.map { "\($0.createdAt)|\($0.id)" } : nil)
        }

        registry.register(WorkflowSubscribe.self) { params, context in
            try await subscribe(params, context)
        }

        registry.register(WorkflowClarify.self) { params, context in
            let record = try workflow(params.id, context, .clarify)
            return try await decide(
                params.id, .clarified,
                payload: [
                    "answers": .array(params.answers.map { .string($0) }),
                    "questions": .array((record.info.questions ?? []).map { .string($0) }),
                ],
                context)
        }

        registry.register(WorkflowApprove.self) { params, context in
            let record = try workflow(params.id, context, .act)
            switch record.state {
            case .awaitingApproval:
                guard params.planHash != nil else {
                    throw RPCError.invalidParams(
                        "approving a plan must name the planHash that was shown", field: "params.planHash")
                }
                try check(
                    WorkflowPolicy.verdict(
                        .approvePlan, requester: record.uid, caller: Int64(context.session.principal.uid),
                        permissions: context.permissions,
                        requireDifferentApprover: record.decodedOptions.requireDifferentApprover),
                    id: params.id)
                return try await decide(
                    params.id, .approved(planHash: params.planHash),
                    payload: ["stage": "plan", "approver": .string(context.session.principal.user)], context)
            default:
                return try await decide(
                    params.id, .approved(planHash: params.planHash),
                    payload: ["stage": "review", "approver": .string(context.session.principal.user)], context)
            }
        }

        registry.register(WorkflowReject.self) { params, context in
            let record = try workflow(params.id, context, .act)
            var payload: [String: JSONValue] = [
                "stage": record.state == .awaitingReview ? "review" : "plan",
                "by": .string(context.session.principal.user),
            ]
            if let reason = params.reason { payload["reason"] = .string(reason) }
            return try await decide(
                params.id, .rejected(replan: params.replan ?? true), payload: .object(payload), context)
        }

        registry.register(WorkflowEdit.self) { params, context in
            let record = try workflow(params.id, context, .act)
            guard record.state == .awaitingApproval else {
                throw RPCError.conflict("a workflow in state \(record.state.rawValue) has no plan to edit")
            }
            guard record.info.planHash == params.planHash else {
                throw RPCError.conflict(
                    "the plan changed since it was shown (it is now \(record.info.planHash ?? "none"))")
            }
            // Validated exactly like a model's plan: allowed tools, argument schemas, dependencies.
            let steps: [JSONValue] = params.steps.map { step in
                var object = step.objectValue ?? [:]
                if object["expectedOutcome"] == nil { object["expectedOutcome"] = "" }
                if object["dependsOn"] == nil { object["dependsOn"] = [] }
                return .object(object)
            }
            let planned: [Planner.Step]
            switch workflows.planner.validate(
                JSONWriter.string(["steps": .array(steps)]), allowed: Set(record.decodedOptions.tools))
            {
            case .success(let valid): planned = valid
            case .failure(let failure):
                throw RPCError.invalidParams(
                    "the edited plan is invalid: \(failure.description)", field: "params.steps")
            }
            let plan = Planner.Plan(
                steps: planned, rounds: [], effects: try workflows.planner.effects(of: planned),
                hash: Planner.hash(planned), modelCalls: 0, passed: true)
            var payload = WorkflowPayload.plan(plan, source: "edit", feedback: nil)
            if case .object(var object) = payload {
                object["editor"] = .string(context.session.principal.user)
                payload = .object(object)
            }
            return try await decide(params.id, .edited(planHash: plan.hash), payload: payload, context)
        }

        registry.register(WorkflowCancel.self) { params, context in
            _ = try workflow(params.id, context, .act)
            return try await decide(params.id, .cancelled, context)
        }

        registry.register(WorkflowPause.self) { params, context in
            _ = try workflow(params.id, context, .act)
            return try await decide(params.id, .paused, context)
        }

        registry.register(WorkflowResume.self) { params, context in
            _ = try workflow(params.id, context, .act)
            return try await decide(params.id, .resumed, context)
        }

        registry.register(WorkflowFeedback.self) { params, context in
            let record = try workflow(params.id, context, .see)
            guard params.thumbs != nil || params.rating != nil || params.comment != nil else {
                throw RPCError.invalidParams("give at least one of thumbs, rating or comment", field: "params")
            }
            let id = try await workflows.log.addFeedback(
                params, state: record.state, by: AuditActor(session: context.session))
            return WorkflowFeedback.Result(id: id, workflowId: record.id, state: record.state)
        }
    }

    /// `workflow.subscribe`: stored events after `since` first, then live ones, until the
    /// workflow ends (or waits, with `untilWaiting`), the client stops sending, or laloD stops.
    private func subscribe(_ params: WorkflowSubscribe.Params, _ context: MethodContext) async throws
        -> WorkflowSubscribe.Result
    {
        let me = Int64(context.session.principal.uid)
        var filter = WorkflowEventHub.Filter()
        var record: WorkflowLog.Record?
        if let id = params.id {
            record = try workflow(id, context, .see)
            filter.workflowId = id
        } else {
            if params.since != nil || params.untilWaiting != nil {
                throw RPCError.invalidParams("since and untilWaiting need a workflow id", field: "params.id")
            }
            filter.uid = WorkflowPolicy.canSeeOthers(context.permissions) ? nil : me
        }
        // Subscribed before the replay and before reading where the workflow stands, so nothing
        // falls between the two; duplicates are skipped by seq.
        let stream = workflows.hub.subscribe(filter)
        if let id = params.id { record = try workflows.log.record(id) }
        let sink = context.notifications
        var sent = 0
        var lastSeq = params.since ?? 0
        var state = record?.state
        let requestID = context.requestID?.json ?? .null
        // The event with the subscribing request's id, like every streamed notification.
        let notification: @Sendable (WorkflowEventInfo) throws -> RPCNotification = { info in
            var params = try JSONValueEncoder().encode(info)
            if case .object(var object) = params {
                object["requestId"] = requestID
                params = .object(object)
            }
            return RPCNotification(method: WorkflowSubscribe.notification!, params: params)
        }
        func send(_ info: WorkflowEventInfo) async throws {
            try await sink.send(try notification(info))
            sent += 1
        }
        let log = workflows.log
        let finished: @Sendable (WorkflowState?) -> String? = { state in
            guard let state, let id = params.id else { return nil }
            if state.isTerminal { return "ended" }
            guard params.untilWaiting == true, state.isWaiting else { return nil }
            // A rejected result is still being rolled back: not waiting for anyone yet.
            if state == .awaitingReview, (try? log.machine(id).rollbackPending) == true {
                return nil
            }
            return "waiting"
        }
        if let record, let since = params.since {
            for entry in try workflows.log.entries(record.id) where entry.seq > since {
                try await send(entry.info(workflowId: record.id))
                lastSeq = entry.seq
                state = entry.stateAfter
            }
        }
        if let record, params.since == nil { lastSeq = record.lastSeq }
        if let reason = finished(state) {
            return WorkflowSubscribe.Result(state: state, lastSeq: lastSeq, events: sent, reason: reason)
        }
        let session = context.session
        // Whichever ends first: the stream reaching an end, or the client going quiet for good.
        let outcome: (WorkflowState?, Int64, Int, String) = try await withThrowingTaskGroup(
            of: (WorkflowState?, Int64, Int, String)?.self
        ) { group in
            group.addTask {
                await session.waitUntilInputClosed()
                return nil
            }
            group.addTask { [lastSeq, state, sent] in
                var lastSeq = lastSeq
                var state = state
                var count = sent
                for await event in stream {
                    if event.info.seq != 0 {
                        guard event.info.seq > lastSeq || params.id == nil else { continue }
                        lastSeq = event.info.seq
                        state = event.info.state
                    }
                    try await sink.send(try notification(event.info))
                    count += 1
                    if event.info.seq != 0, let reason = finished(state) { return (state, lastSeq, count, reason) }
                }
                return (state, lastSeq, count, Task.isCancelled ? "closed" : "shutdown")
            }
            defer { group.cancelAll() }
            if let first = try await group.next(), let result = first { return result }
            return (state, lastSeq, sent, "closed")
        }
        return WorkflowSubscribe.Result(
            state: outcome.0, lastSeq: params.id == nil ? nil : outcome.1, events: outcome.2, reason: outcome.3)
    }
}
