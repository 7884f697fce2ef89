import Shared
import Testing

@testable import laloD

/// Who may see and act on a workflow: every action for the requester, an onlooker with
/// audit.read, an approver, someone with neither, and a workflow that requires a different
/// approver, as one table.
@Suite("Workflow access policy")
struct WorkflowPolicyTests {
    typealias Verdict = WorkflowPolicy.Verdict

    static let requester: Int64 = 1000
    static let otherUser: Int64 = 2000
    static let noRole: Set<Permission> = [.workflowRun, .workflowRead]
    static let auditor: Set<Permission> = [.workflowRead, .auditRead]
    static let approver: Set<Permission> = [.workflowRead, .workflowApprove]

    static let needsApprove = Verdict.denied("acting on another user's workflow needs workflow.approve")
    static let requesterOnly = Verdict.denied("only the requester answers clarification questions")
    static let notOwnPlan = Verdict.denied("this workflow's plan must be approved by someone other than its requester")

    struct Case: CustomTestStringConvertible, Sendable {
        var who: String
        var caller: Int64
        var permissions: Set<Permission>
        var differentApprover = false
        var expected: [WorkflowPolicy.Action: Verdict]
        var testDescription: String { who }
    }

    static let cases: [Case] = [
        Case(
            who: "the requester", caller: requester, permissions: noRole,
            expected: [.see: .allowed, .act: .allowed, .clarify: .allowed, .approvePlan: .allowed]),
        Case(
            who: "the requester, a different approver required", caller: requester, permissions: approver,
            differentApprover: true,
            expected: [.see: .allowed, .act: .allowed, .clarify: .allowed, .approvePlan: notOwnPlan]),
        Case(
            who: "another user without a role", caller: otherUser, permissions: noRole,
            expected: [.see: .hidden, .act: .hidden, .clarify: .hidden, .approvePlan: .hidden]),
        Case(
            who: "an auditor (audit.read)", caller: otherUser, permissions: auditor,
            expected: [.see: .allowed, .act: needsApprove, .clarify: needsApprove, .approvePlan: needsApprove]),
        Case(
            who: "an approver", caller: otherUser, permissions: approver,
            expected: [.see: .allowed, .act: .allowed, .clarify: requesterOnly, .approvePlan: .allowed]),
        Case(
            who: "an approver, a different approver required", caller: otherUser, permissions: approver,
            differentApprover: true,
            expected: [.see: .allowed, .act: .allowed, .clarify: requesterOnly, .approvePlan: .allowed]),
    ]

    @Test("every action for every kind of caller", arguments: cases)
    func verdicts(_ row: Case) {
        #expect(Set(row.expected.keys) == Set(WorkflowPolicy.Action.allCases), "the row covers every action")
        for action in WorkflowPolicy.Action.allCases {
            let verdict = WorkflowPolicy.verdict(
                action, requester: Self.requester, caller: row.caller, permissions: row.permissions,
                requireDifferentApprover: row.differentApprover)
            #expect(verdict == row.expected[action], "\(row.who): \(action.rawValue)")
        }
    }

    @Test("listing other users' workflows needs workflow.approve or audit.read")
    func listing() {
        let denied = Verdict.denied("other users' workflows need workflow.approve or audit.read")
        let table: [(Set<Permission>, Verdict)] = [
            (Self.noRole, denied), (Self.auditor, .allowed), (Self.approver, .allowed), ([], denied),
        ]
        for (permissions, expected) in table {
            #expect(WorkflowPolicy.listOthers(permissions) == expected, "\(permissions)")
        }
    }
}
