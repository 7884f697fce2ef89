import Shared
import Testing

@testable import laloD

/// Every state × every event of the workflow state machine (docs/workflows.md#steps-and-states), written out as a table
/// independently of the implementation: the resulting state, or nil where the transition must be
/// refused with `conflict` and leave the machine unchanged.
@Suite("Workflow state machine")
struct WorkflowMachineTests {
    static let events: [WorkflowEvent] = [
        .interpreted(confident: true), .interpreted(confident: false), .clarified,
        .planned(planHash: "p1", needsApproval: true), .planned(planHash: "p1", needsApproval: false),
        .approved(planHash: "p1"), .approved(planHash: "other"), .rejected(replan: true), .rejected(replan: false),
        .edited(planHash: "p2"), .executed, .executionRolledBack(replan: true), .executionRolledBack(replan: false),
        .rolledBack(replan: true), .rolledBack(replan: false), .failed(reason: "x"), .cancelled, .paused, .resumed,
    ]

    /// A machine in `state`, reached by real events (with plan p1 shown where a plan exists).
    static func machine(in state: WorkflowState) throws -> WorkflowMachine {
        let paths: [WorkflowState: [WorkflowEvent]] = [
            .interpreting: [],
            .awaitingClarification: [.interpreted(confident: false)],
            .planning: [.interpreted(confident: true)],
            .awaitingApproval: [.interpreted(confident: true), .planned(planHash: "p1", needsApproval: true)],
            .executing: [.interpreted(confident: true), .planned(planHash: "p1", needsApproval: false)],
            .awaitingReview: [
                .interpreted(confident: true), .planned(planHash: "p1", needsApproval: false), .executed,
            ],
            .committed: [
                .interpreted(confident: true), .planned(planHash: "p1", needsApproval: false), .executed,
                .approved(planHash: nil),
            ],
            .rolledBack: [
                .interpreted(confident: true), .planned(planHash: "p1", needsApproval: false),
                .executionRolledBack(replan: false),
            ],
            .rejected: [
                .interpreted(confident: true), .planned(planHash: "p1", needsApproval: true), .rejected(replan: false),
            ],
            .failed: [.failed(reason: "boom")],
            .cancelled: [.cancelled],
            .paused: [.interpreted(confident: true), .planned(planHash: "p1", needsApproval: true), .paused],
        ]
        let machine = try WorkflowMachine.replay(paths[state]!)
        #expect(machine.state == state)
        return machine
    }

    typealias Row = [String: WorkflowState]
    static let cancelFailPause: Row = ["failed": .failed, "cancelled": .cancelled, "paused": .paused]

    /// expected[state][event description] = next state; absent = conflict.
    static let expected: [WorkflowState: Row] = [
        .interpreting: cancelFailPause.merging([
            "interpreted(confident: true)": .planning, "interpreted(confident: false)": .awaitingClarification,
        ]) { a, _ in a },
        .awaitingClarification: cancelFailPause.merging(["clarified": .interpreting]) { a, _ in a },
        .planning: cancelFailPause.merging([
            "planned(planHash: \"p1\", needsApproval: true)": .awaitingApproval,
            "planned(planHash: \"p1\", needsApproval: false)": .executing,
        ]) { a, _ in a },
        .awaitingApproval: cancelFailPause.merging([
            "approved(planHash: Optional(\"p1\"))": .executing,
            "rejected(replan: true)": .planning, "rejected(replan: false)": .rejected,
            "edited(planHash: \"p2\")": .awaitingApproval,
        ]) { a, _ in a },
        .executing: cancelFailPause.merging([
            "executed": .awaitingReview, "executionRolledBack(replan: true)": .planning,
            "executionRolledBack(replan: false)": .rolledBack,
        ]) { a, _ in a },
        .awaitingReview: cancelFailPause.merging([
            // Approving the result names the executed plan (or nothing); another plan is stale.
            "approved(planHash: Optional(\"p1\"))": .committed,
            "rejected(replan: true)": .awaitingReview, "rejected(replan: false)": .awaitingReview,
                // A rollback report without a rejection before it is refused (see reviewRejection).
        ]) { a, _ in a },
        .committed: [:], .rolledBack: [:], .rejected: [:], .failed: [:], .cancelled: [:],
        .paused: ["failed": .failed, "cancelled": .cancelled, "resumed": .awaitingApproval],
    ]

    static func key(_ event: WorkflowEvent) -> String {
        switch event {
        case .failed: return "failed"
        default: return String(describing: event)
        }
    }

    @Test(arguments: WorkflowState.allCases)
    func everyEventInState(_ state: WorkflowState) throws {
        let row = try #require(Self.expected[state])
        for event in Self.events {
            var machine = try Self.machine(in: state)
            let before = machine
            if let next = row[Self.key(event)] {
                _ = try machine.apply(event)
                #expect(machine.state == next, "\(state.rawValue) + \(Self.key(event))")
            } else {
                do {
                    _ = try machine.apply(event)
                    Issue.record(
                        "\(state.rawValue) + \(Self.key(event)) must be refused, went to \(machine.state.rawValue)")
                } catch {
                    #expect(error.kind == .conflict)
                    #expect(machine == before, "a refused event must change nothing")
                }
            }
        }
    }

    @Test func tableCoversEveryState() {
        #expect(Set(Self.expected.keys) == Set(WorkflowState.allCases))
    }

    @Test func approvalIsBoundToThePlanShown() throws {
        var machine = try Self.machine(in: .awaitingApproval)
        _ = try machine.apply(.edited(planHash: "p2"))
        #expect(throws: WorkflowError.self) { try machine.apply(.approved(planHash: "p1")) }  // the old plan
        #expect(throws: WorkflowError.self) { try machine.apply(.approved(planHash: nil)) }
        #expect(try machine.apply(.approved(planHash: "p2")) == [.execute])
    }

    @Test func reviewRejectionRollsBackThenDecides() throws {
        for replan in [true, false] {
            var machine = try Self.machine(in: .awaitingReview)
            #expect(try machine.apply(.rejected(replan: replan)) == [.rollback])
            // Already rolling back: neither a second rejection nor a late acceptance.
            #expect(throws: WorkflowError.self) { try machine.apply(.rejected(replan: replan)) }
            #expect(throws: WorkflowError.self) { try machine.apply(.approved(planHash: nil)) }
            _ = try machine.apply(.rolledBack(replan: replan))
            #expect(machine.state == (replan ? .planning : .rolledBack))
        }
        var accepted = try Self.machine(in: .awaitingReview)
        #expect(try accepted.apply(.approved(planHash: nil)) == [.commit])
    }

    @Test func pauseRemembersWhereToResume() throws {
        for state: WorkflowState in [
            .interpreting, .awaitingClarification, .planning, .awaitingApproval, .executing, .awaitingReview,
        ] {
            var machine = try Self.machine(in: state)
            #expect(try machine.apply(.paused) == [.stopWork])
            #expect(machine.state == .paused)
            #expect(try machine.apply(.resumed) == [.resume(state)])
            #expect(machine.state == state)
        }
    }

    @Test func actionsForTheHappyPathAndARevision() throws {
        var machine = WorkflowMachine()
        #expect(try machine.apply(.interpreted(confident: false)) == [.askClarification])
        #expect(try machine.apply(.clarified) == [.interpret])
        #expect(try machine.apply(.interpreted(confident: true)) == [.plan(revision: false)])
        #expect(try machine.apply(.planned(planHash: "a", needsApproval: true)) == [.requestApproval])
        #expect(try machine.apply(.rejected(replan: true)) == [.plan(revision: true)])
        #expect(try machine.apply(.planned(planHash: "b", needsApproval: true)) == [.requestApproval])
        #expect(try machine.apply(.approved(planHash: "b")) == [.execute])
        #expect(try machine.apply(.executionRolledBack(replan: true)) == [.plan(revision: true)])
        #expect(try machine.apply(.planned(planHash: "c", needsApproval: false)) == [.execute])
        #expect(try machine.apply(.executed) == [.presentReview])
        #expect(try machine.apply(.approved(planHash: nil)) == [.commit])
        #expect(machine.state == .committed)
        #expect(machine.replans == 2)
    }
}
