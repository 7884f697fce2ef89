/// A workflow as lists show it.
public struct WorkflowInfo: Codable, Sendable, Equatable {
    public var id: String
    public var user: String
    public var uid: Int64
    public var request: String
    public var state: WorkflowState
    /// The last event's sequence number: subscribe with `since` set to it to get only what follows.
    public var lastSeq: Int64
    public var createdAt: String
    public var updatedAt: String
    /// The latest interpretation's confidence.
    public var confidence: Double?
    /// The hash of the plan shown for approval (or executed): what `workflow.approve` must name.
    public var planHash: String?
    /// Open clarification questions (state `awaiting_clarification`).
    public var questions: [String]?
    /// Why it failed (state `failed`).
    public var failure: String?

    public init(
        id: String, user: String, uid: Int64, request: String, state: WorkflowState, lastSeq: Int64, createdAt: String,
        updatedAt: String, confidence: Double? = nil, planHash: String? = nil, questions: [String]? = nil,
        failure: String? = nil
    ) {
        self.id = id
        self.user = user
        self.uid = uid
        self.request = request
        self.state = state
        self.lastSeq = lastSeq
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.confidence = confidence
        self.planHash = planHash
        self.questions = questions
        self.failure = failure
    }

    static let schema = Schema.object(
        "A workflow",
        [
            .required("id", .string()), .required("user", .string()), .required("uid", .integer()),
            .required("request", .string()), .required("state", .string(enum: WorkflowState.wireNames)),
            .required("lastSeq", .integer("Sequence number of the last event")),
            .required("createdAt", .string(format: "date-time")), .required("updatedAt", .string(format: "date-time")),
            .optional("confidence", .number(description: "The latest interpretation's confidence, 0 to 1")),
            .optional("planHash", .string("SHA-256 of the plan shown; workflow.approve must name it")),
            .optional("questions", .array(.string(), "Open clarification questions")),
            .optional("failure", .string("Why the workflow failed")),
        ])
}

/// One event of a workflow's log, as `workflow.get` lists it and `workflow.event` streams it.
public struct WorkflowEventInfo: Codable, Sendable, Equatable {
    public var workflowId: String
    public var seq: Int64
    public var time: String
    /// `created`, `interpreted`, `clarified`, `planned`, `approved`, `rejected`, `edited`, `executed`,
    /// `executionRolledBack`, `rolledBack`, `failed`, `cancelled`, `paused`, `resumed`; and
    /// `progress` (a step started or finished; not a transition, never stored).
    public var name: String
    /// The state after the event.
    public var state: WorkflowState
    /// Who caused it: the requester or approver for decisions, the requester for the engine's steps.
    public var user: String
    /// What the step produced: the intent and confidence, the plan with every critic round, the
    /// execution report with the diff, the reason of a rejection.
    public var payload: JSONValue?

    public init(
        workflowId: String, seq: Int64, time: String, name: String, state: WorkflowState, user: String,
        payload: JSONValue?
    ) {
        self.workflowId = workflowId
        self.seq = seq
        self.time = time
        self.name = name
        self.state = state
        self.user = user
        self.payload = payload
    }

    static let schema = Schema.object(
        "A workflow event",
        [
            .required("workflowId", .string()), .required("seq", .integer("0 for progress notifications")),
            .required("time", .string(format: "date-time")), .required("name", .string()),
            .required("state", .string(enum: WorkflowState.wireNames)), .required("user", .string()),
            .optional("payload", .any(description: "What the step produced")),
        ])
}

public let workflowIDSchema = Schema.string(
    "Workflow id (wf_…)", minLength: 4, maxLength: 64, pattern: "^wf_[0-9a-f]{16}$",
    check: { id in
        id.hasPrefix("wf_") && id.utf8.count == 19
            && id.utf8.dropFirst(3).allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    })

/// Params naming one workflow.
public struct WorkflowRef: Codable, Sendable {
    public var id: String
    public init(id: String) { self.id = id }
    static let schema = Schema.object(nil, [.required("id", workflowIDSchema)])
}

public enum WorkflowStart: RPCMethod {
    public static let name = "workflow.start"
    public static let summary =
        "Start a workflow for a request; it runs until it needs a person (subscribe to follow it)"
    public static let permission = Permission.workflowRun
    public struct Params: Codable, Sendable {
        public var request: String
        /// Confidence below which the workflow asks clarification questions (default from configuration).
        public var threshold: Double?
        /// Limit the tools the planner may use (a subset of those the caller may use).
        public var tools: [String]?
        /// Plans of this workflow must be approved by someone other than the requester.
        public var requireDifferentApprover: Bool?
        public init(
            request: String, threshold: Double? = nil, tools: [String]? = nil, requireDifferentApprover: Bool? = nil
        ) {
            self.request = request
            self.threshold = threshold
            self.tools = tools
            self.requireDifferentApprover = requireDifferentApprover
        }
    }
    public typealias Result = WorkflowInfo
    public static let paramsSchema = Schema.object(
        nil,
        [
            .required("request", .string("What to do, in plain words", minLength: 1, maxLength: 20_000)),
            .optional("threshold", .number(description: "Confidence threshold, 0 to 1")),
            .optional(
                "tools",
                .array(
                    .string(pattern: toolNamePattern, check: isValidToolName), "Tools the planner may use",
                    maxItems: 64)),
            .optional(
                "requireDifferentApprover", .boolean("Only someone other than the requester may approve the plan")),
        ])
    public static let resultSchema = WorkflowInfo.schema
}

public enum WorkflowGet: RPCMethod {
    public static let name = "workflow.get"
    public static let summary =
        "A workflow with its full event history: every interpretation, plan round, execution and decision"
    public static let permission = Permission.workflowRead
    public typealias Params = WorkflowRef
    public struct Result: Codable, Sendable {
        public var workflow: WorkflowInfo
        public var events: [WorkflowEventInfo]
        public var feedback: [JSONValue]
        public init(workflow: WorkflowInfo, events: [WorkflowEventInfo], feedback: [JSONValue]) {
            self.workflow = workflow
            self.events = events
            self.feedback = feedback
        }
    }
    public static let paramsSchema = WorkflowRef.schema
    public static let resultSchema = Schema.object(
        nil,
        [
            .required("workflow", WorkflowInfo.schema), .required("events", .array(WorkflowEventInfo.schema)),
            .required("feedback", .array(.any(description: "Feedback given"))),
        ])
}

public enum WorkflowList: RPCMethod {
    public static let name = "workflow.list"
    public static let summary =
        "Workflows, newest first: the caller's own, or everyone's with workflow.approve or audit.read"
    public static let permission = Permission.workflowRead
    public struct Params: Codable, Sendable {
        public var state: String?
        public var user: String?
        public var all: Bool?
        public var limit: Int?
        public var cursor: String?
        public init(
            state: String? = nil, user: String? = nil, all: Bool? = nil, limit: Int? = nil, cursor: String? = nil
        ) {
            self.state = state
            self.user = user
            self.all = all
            self.limit = limit
            self.cursor = cursor
        }
    }
    public struct Result: Codable, Sendable {
        public var workflows: [WorkflowInfo]
        public var nextCursor: String?
        public init(workflows: [WorkflowInfo], nextCursor: String?) {
            self.workflows = workflows
            self.nextCursor = nextCursor
        }
    }
    public static let paramsSchema = Schema.object(
        nil,
        [
            .optional(
                "state",
                .string(
                    "Only workflows in this state; `live` for every non-terminal one",
                    enum: WorkflowState.wireNames + ["live", "waiting"])),
            .optional("user", .string("Only this user's workflows", minLength: 1, maxLength: 64)),
            .optional("all", .boolean("Everyone's workflows (needs workflow.approve or audit.read)")),
            .optional("limit", .integer(minimum: 1, maximum: 1000)),
            .optional("cursor", .string("nextCursor of the previous page", minLength: 1, maxLength: 64)),
        ])
    public static let resultSchema = Schema.object(
        nil,
        [
            .required("workflows", .array(WorkflowInfo.schema)), .optional("nextCursor", .string()),
        ])
}

public enum WorkflowSubscribe: RPCMethod {
    public static let name = "workflow.subscribe"
    public static let summary =
        "Stream a workflow's events (or those of every workflow the caller may see) as workflow.event notifications"
    public static let permission = Permission.workflowRead
    public static let notification: String? = "workflow.event"
    public struct Params: Codable, Sendable {
        public var id: String?
        /// Replay stored events after this sequence number first (one workflow only).
        public var since: Int64?
        /// Answer once the workflow waits for a person or has ended (one workflow only).
        public var untilWaiting: Bool?
        public init(id: String? = nil, since: Int64? = nil, untilWaiting: Bool? = nil) {
            self.id = id
            self.since = since
            self.untilWaiting = untilWaiting
        }
    }
    public struct Result: Codable, Sendable {
        /// The state the workflow was in when the stream ended (one workflow only).
        public var state: WorkflowState?
        public var lastSeq: Int64?
        public var events: Int
        /// `ended`, `waiting`, `closed` (the client stopped sending) or `shutdown`.
        public var reason: String
        public init(state: WorkflowState?, lastSeq: Int64?, events: Int, reason: String) {
            self.state = state
            self.lastSeq = lastSeq
            self.events = events
            self.reason = reason
        }
    }
    public static let paramsSchema = Schema.object(
        nil,
        [
            .optional("id", workflowIDSchema),
            .optional("since", .integer("Replay stored events with a greater sequence number first", minimum: 0)),
            .optional("untilWaiting", .boolean("Answer once the workflow waits for a person or has ended")),
        ])
    public static let resultSchema = Schema.object(
        nil,
        [
            .optional("state", .string(enum: WorkflowState.wireNames)), .optional("lastSeq", .integer()),
            .required("events", .integer("Notifications sent")),
            .required("reason", .string(enum: ["ended", "waiting", "closed", "shutdown"])),
        ])
}

public enum WorkflowClarify: RPCMethod {
    public static let name = "workflow.clarify"
    public static let summary =
        "Answer a workflow's clarification questions; it interprets the request again with the answers"
    public static let permission = Permission.workflowRun
    public struct Params: Codable, Sendable {
        public var id: String
        public var answers: [String]
        public init(id: String, answers: [String]) {
            self.id = id
            self.answers = answers
        }
    }
    public typealias Result = WorkflowInfo
    public static let paramsSchema = Schema.object(
        nil,
        [
            .required("id", workflowIDSchema),
            .required(
                "answers",
                .array(.string(minLength: 1, maxLength: 4000), "One answer per question, in order", maxItems: 20)),
        ])
    public static let resultSchema = WorkflowInfo.schema
}

public enum WorkflowApprove: RPCMethod {
    public static let name = "workflow.approve"
    public static let summary = "Approve the plan shown (naming its hash) or, in review, accept the result and commit"
    public static let permission = Permission.workflowRun
    public struct Params: Codable, Sendable {
        public var id: String
        public var planHash: String?
        public init(id: String, planHash: String?) {
            self.id = id
            self.planHash = planHash
        }
    }
    public typealias Result = WorkflowInfo
    public static let paramsSchema = Schema.object(
        nil,
        [
            .required("id", workflowIDSchema),
            .optional(
                "planHash",
                .string(
                    "The planHash shown; required to approve a plan", minLength: 64, maxLength: 64,
                    pattern: "^[0-9a-f]{64}$")),
        ])
    public static let resultSchema = WorkflowInfo.schema
}

public enum WorkflowReject: RPCMethod {
    public static let name = "workflow.reject"
    public static let summary =
        "Reject the plan or the result with a reason; by default the planner tries again and sees the reason"
    public static let permission = Permission.workflowRun
    public struct Params: Codable, Sendable {
        public var id: String
        public var reason: String?
        public var replan: Bool?
        public init(id: String, reason: String? = nil, replan: Bool? = nil) {
            self.id = id
            self.reason = reason
            self.replan = replan
        }
    }
    public typealias Result = WorkflowInfo
    public static let paramsSchema = Schema.object(
        nil,
        [
            .required("id", workflowIDSchema),
            .optional("reason", .string("What is wrong; the planner sees it", minLength: 1, maxLength: 4000)),
            .optional("replan", .boolean("Plan again (default true); false ends the workflow")),
        ])
    public static let resultSchema = WorkflowInfo.schema
}

public enum WorkflowEdit: RPCMethod {
    public static let name = "workflow.edit"
    public static let summary = "Replace the plan awaiting approval with an edited one, validated like a model's plan"
    public static let permission = Permission.workflowRun
    public struct Params: Codable, Sendable {
        public var id: String
        /// The hash of the plan being replaced (the edit is refused if it changed meanwhile).
        public var planHash: String
        public var steps: [JSONValue]
        public init(id: String, planHash: String, steps: [JSONValue]) {
            self.id = id
            self.planHash = planHash
            self.steps = steps
        }
    }
    public typealias Result = WorkflowInfo
    public static let paramsSchema = Schema.object(
        nil,
        [
            .required("id", workflowIDSchema),
            .required(
                "planHash",
                .string(
                    "The planHash of the plan being replaced", minLength: 64, maxLength: 64, pattern: "^[0-9a-f]{64}$")),
            .required(
                "steps",
                .array(
                    .object(
                        "A step",
                        [
                            .required("tool", .string(pattern: toolNamePattern, check: isValidToolName)),
                            .required(
                                "arguments", .any(description: "Arguments valid against the tool's input schema")),
                            .optional("expectedOutcome", .string(maxLength: 2000)),
                            .optional("dependsOn", .array(.integer(minimum: 0), maxItems: 20)),
                        ]), "The new steps", maxItems: 20)),
        ])
    public static let resultSchema = WorkflowInfo.schema
}

/// cancel, pause, resume: a workflow id in, the workflow out.
public enum WorkflowCancel: RPCMethod {
    public static let name = "workflow.cancel"
    public static let summary =
        "Cancel a workflow; a running execution stops at the next step and its completed steps are rolled back"
    public static let permission = Permission.workflowRun
    public typealias Params = WorkflowRef
    public typealias Result = WorkflowInfo
    public static let paramsSchema = WorkflowRef.schema
    public static let resultSchema = WorkflowInfo.schema
}

public enum WorkflowPause: RPCMethod {
    public static let name = "workflow.pause"
    public static let summary = "Pause a workflow; a running execution stops after the current step"
    public static let permission = Permission.workflowRun
    public typealias Params = WorkflowRef
    public typealias Result = WorkflowInfo
    public static let paramsSchema = WorkflowRef.schema
    public static let resultSchema = WorkflowInfo.schema
}

public enum WorkflowResume: RPCMethod {
    public static let name = "workflow.resume"
    public static let summary = "Resume a paused workflow from the step it was paused in"
    public static let permission = Permission.workflowRun
    public typealias Params = WorkflowRef
    public typealias Result = WorkflowInfo
    public static let paramsSchema = WorkflowRef.schema
    public static let resultSchema = WorkflowInfo.schema
}

public enum WorkflowFeedback: RPCMethod {
    public static let name = "workflow.feedback"
    public static let summary =
        "Give feedback on a workflow at any step: thumbs, a 1-5 rating, a category and a comment"
    public static let permission = Permission.workflowRead
    public struct Params: Codable, Sendable {
        public var id: String
        public var thumbs: String?
        public var rating: Int?
        public var category: String?
        public var comment: String?
        public init(
            id: String, thumbs: String? = nil, rating: Int? = nil, category: String? = nil, comment: String? = nil
        ) {
            self.id = id
            self.thumbs = thumbs
            self.rating = rating
            self.category = category
            self.comment = comment
        }
    }
    public struct Result: Codable, Sendable {
        public var id: Int64
        public var workflowId: String
        public var state: WorkflowState
        public init(id: Int64, workflowId: String, state: WorkflowState) {
            self.id = id
            self.workflowId = workflowId
            self.state = state
        }
    }
    public static let categories = ["correctness", "safety", "speed", "clarity", "other"]
    public static let paramsSchema = Schema.object(
        nil,
        [
            .required("id", workflowIDSchema),
            .optional("thumbs", .string(enum: ["up", "down"])),
            .optional("rating", .integer("1 (bad) to 5 (good)", minimum: 1, maximum: 5)),
            .optional("category", .string(enum: categories)),
            .optional("comment", .string(minLength: 1, maxLength: 4000)),
        ])
    public static let resultSchema = Schema.object(
        nil,
        [
            .required("id", .integer()), .required("workflowId", .string()),
            .required("state", .string(enum: WorkflowState.wireNames)),
        ])
}
