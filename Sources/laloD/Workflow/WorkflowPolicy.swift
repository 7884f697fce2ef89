import Shared

/// Who may see and act on a workflow (docs/workflows.md#who-may-see-and-act), as a value: the
/// handlers ask it and turn its verdict into the wire's answer, so the rules live in one place
/// and are tested as one table.
///
/// The requester may do everything but approve their own plan when the workflow requires a
/// different approver. Others see a workflow with `workflow.approve` or, to look only,
/// `audit.read`; without either it is hidden (the caller learns nothing about other users'
/// workflows, not even that the id exists). Acting on someone else's workflow needs
/// `workflow.approve`; answering its questions is the requester's alone.
enum WorkflowPolicy {
    enum Action: String, Sendable, CaseIterable {
        /// `workflow.get`, `workflow.subscribe`, `workflow.feedback`.
        case see
        /// Approve a result, reject, edit, cancel, pause, resume.
        case act
        /// Answer the clarification questions.
        case clarify
        /// Approve the plan shown.
        case approvePlan
    }

    enum Verdict: Sendable, Equatable {
        case allowed
        /// As if the workflow did not exist.
        case hidden
        case denied(String)
    }

    static func canSeeOthers(_ permissions: Set<Permission>) -> Bool {
        permissions.contains(.workflowApprove) || permissions.contains(.auditRead)
    }

    static func verdict(
        _ action: Action, requester: Int64, caller: Int64, permissions: Set<Permission>,
        requireDifferentApprover: Bool = false
    ) -> Verdict {
        let mine = requester == caller
        if !mine {
            guard canSeeOthers(permissions) else { return .hidden }
            if action != .see, !permissions.contains(.workflowApprove) {
                return .denied("acting on another user's workflow needs workflow.approve")
            }
        }
        switch action {
        case .see, .act: return .allowed
        case .clarify: return mine ? .allowed : .denied("only the requester answers clarification questions")
        case .approvePlan:
            return requireDifferentApprover && mine
                ? .denied("this workflow's plan must be approved by someone other than its requester") : .allowed
        }
    }

    /// `workflow.list` of other users' workflows (`all` or `user`).
    static func listOthers(_ permissions: Set<Permission>) -> Verdict {
        canSeeOthers(permissions) ? .allowed : .denied("other users' workflows need workflow.approve or audit.read")
    }
}
