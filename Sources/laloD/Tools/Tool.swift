import Foundation
import Shared

/// What a tool declares about itself (docs/tools.md#the-registry). The registry enforces it: schemas, permission,
/// enablement, timeout and rate limit, and records every call.
struct ToolDescriptor: Sendable {
    var name: String
    var description: String
    /// The highest risk a call can have.
    var risk: ToolRisk
    var permission: Permission
    var inputSchema: Schema
    var outputSchema: Schema
    /// Safe to run again with the same arguments (a crash between start and end may retry it).
    var idempotent: Bool
    var canRollback: Bool
    var defaultTimeout: Duration = .seconds(30)
    /// 0: unlimited.
    var defaultRateLimitPerMinute = 0
}

/// Where and for whom a tool runs.
struct ToolContext: Sendable {
    var actor: AuditActor
    var permissions: Set<Permission>
    /// The workflow's workspace; in a workflow, with the execution attempt's stage on top.
    var workspace: (any WorkspaceFiles)?
    var workflowId: String?
    var step: Int?
    /// The same key names the same call: a second execution with it returns the recorded result.
    var idempotencyKey: String
    var settings: JSONValue = [:]
}

/// A tool's failure as the caller should see it.
struct ToolFailure: DaemonError {
    var kind: ErrorKind
    var message: String
    var field: String?
    var detail: [String: JSONValue] = [:]
    var description: String { message }
}

protocol Tool: Sendable {
    var descriptor: ToolDescriptor { get }
    /// The risk of this particular call (reading a file is `read` even though the tool can delete).
    func risk(of arguments: JSONValue) -> ToolRisk
    /// Whether this particular call may safely run again after a crash interrupted it (reading
    /// is; appending is not).
    func isIdempotent(_ arguments: JSONValue) -> Bool
    /// Rules between arguments that the input schema cannot say (a write needs content); the
    /// planner refuses a plan that breaks one, before anything runs. Nil when the call is fine.
    func problem(with arguments: JSONValue) -> String?
    /// The schema a planner model is constrained with: the input schema, or a stricter form of
    /// it that also encodes those rules (one alternative per operation).
    var planningSchema: JSONValue { get }
    /// The settings an administrator may change with `tool.configure`, with their defaults; each
    /// is a whole number from 0 up. Unknown names are refused.
    var defaultSettings: [String: Int64] { get }
    /// The kinds of step a planner deciding one value at a time may propose with this tool, and
    /// what laloD's grounding checks need to know of them (``PlanningAction``). Empty: the tool
    /// is offered only to planners that write whole plans.
    var planningActions: [PlanningAction] { get }
    func run(_ arguments: JSONValue, context: ToolContext) async throws -> JSONValue
}

extension Tool {
    func risk(of arguments: JSONValue) -> ToolRisk { descriptor.risk }
    func isIdempotent(_ arguments: JSONValue) -> Bool { descriptor.idempotent }
    func problem(with arguments: JSONValue) -> String? { nil }
    var planningSchema: JSONValue { descriptor.inputSchema.json }
    var defaultSettings: [String: Int64] { [:] }
    var planningActions: [PlanningAction] { [] }
}

/// A call whose start was recorded but whose end was not (laloD stopped in the middle of it), of
/// a tool that is not safe to repeat: it is not run again, and a person has to look.
struct InterruptedCall: Error, CustomStringConvertible, Sendable {
    var execution: Int64
    var tool: String
    var description: String {
        "call \(execution) of \(tool) was interrupted before it finished (laloD stopped) and is not safe to repeat; it was not run again and needs review"
    }
}
