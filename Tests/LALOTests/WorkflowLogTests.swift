import Foundation
import GRDB
import Shared
import Testing

@testable import laloD

@Suite("Workflow event log")
struct WorkflowLogTests {
    static let alice = AuditActor(uid: 1000, user: "alice", pid: 1, sessionId: 1)

    @Test("the live workflows are found through the partial index, not a scan of every workflow")
    func liveUsesItsIndex() throws {
        let directory = TemporaryDirectory("lalo-wflog")
        let store = try Store.open(directory: directory.path, busyTimeoutMilliseconds: 5000)
        let plan = try store.writer.read { db in
            try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + WorkflowLog.liveQuery).map { $0["detail"] as String }
        }
        #expect(plan.contains { $0.contains("USING INDEX workflowLive") }, "\(plan)")
    }

    @Test func eventsPersistAndRefusalsLeaveNoTrace() async throws {
        let directory = TemporaryDirectory("lalo-wflog")
        var log = WorkflowLog(store: try Store.open(directory: directory.path, busyTimeoutMilliseconds: 5000))
        let workflow = try await log.create(request: "list the files", by: Self.alice)
        #expect(workflow.state == .interpreting)

        let first = try await log.append(
            .interpreted(confident: true), to: workflow.id,
            payload: ["goal": "list files"], by: Self.alice)
        #expect(first.seq == 1 && first.state == .planning && first.actions == [.plan(revision: false)])
        #expect(first.record.state == .planning && first.record.lastSeq == 1)
        _ = try await log.append(.planned(planHash: "h1", needsApproval: true), to: workflow.id, by: Self.alice)

        // Approving another plan than the one shown is refused, and nothing is written.
        await #expect(throws: WorkflowError.self) {
            try await log.append(.approved(planHash: "h0"), to: workflow.id, by: Self.alice)
        }
        #expect(try log.entries(workflow.id).count == 2)
        #expect(try log.record(workflow.id)?.state == .awaitingApproval)
        await #expect(throws: WorkflowError.self) {
            try await log.append(.executed, to: "wf_missing", by: Self.alice)
        }

        // A fresh store on the same file replays to the same place.
        log = WorkflowLog(store: try Store.open(directory: directory.path, busyTimeoutMilliseconds: 5000))
        let entries = try log.entries(workflow.id)
        #expect(entries.map(\.event) == [.interpreted(confident: true), .planned(planHash: "h1", needsApproval: true)])
        #expect(entries.first?.payload == ["goal": "list files"])
        #expect(entries.map(\.stateAfter) == [.planning, .awaitingApproval])
        #expect(try log.live().map(\.id) == [workflow.id])
        _ = try await log.append(.approved(planHash: "h1"), to: workflow.id, by: Self.alice)
        _ = try await log.append(.executed, to: workflow.id, by: Self.alice)
        let done = try await log.append(.approved(planHash: nil), to: workflow.id, by: Self.alice)
        #expect(done.state == .committed)
        #expect(try log.live().isEmpty)
    }

    @Test func concurrentAppendsAreSerialisedAndGapless() async throws {
        let directory = TemporaryDirectory("lalo-wflog")
        let log = WorkflowLog(store: try Store.open(directory: directory.path, busyTimeoutMilliseconds: 5000))
        let workflow = try await log.create(request: "x", by: Self.alice)
        _ = try await log.append(.interpreted(confident: true), to: workflow.id, by: Self.alice)
        // Twenty people press "cancel" and "pause" at once: exactly one of the pauses or the
        // cancel wins first; every accepted event gets its own sequence number.
        let outcomes = await withTaskGroup(of: Bool.self) { group in
            for i in 0..<20 {
                group.addTask {
                    (try? await log.append(i % 2 == 0 ? .paused : .cancelled, to: workflow.id, by: Self.alice)) != nil
                }
            }
            var accepted = 0
            for await ok in group where ok { accepted += 1 }
            return accepted
        }
        let entries = try log.entries(workflow.id)
        #expect(entries.count == 1 + outcomes)
        #expect(entries.map(\.seq) == Array(1...Int64(entries.count)))
        #expect(entries.last?.stateAfter == .cancelled)
        #expect(outcomes <= 2)  // at most one pause before the cancel; nothing after it
    }

    @Test(arguments: WorkflowMachineTests.events)
    func eventsRoundTripThroughJSON(_ event: WorkflowEvent) throws {
        #expect(try WorkflowEvent(json: event.json) == event)
        #expect(try WorkflowEvent(json: JSONParser.parse(JSONWriter.string(event.json))) == event)
    }

    @Test func unknownStoredEventsAreErrorsNotGuesses() {
        #expect(throws: (any Error).self) { try WorkflowEvent(json: ["name": "teleported"]) }
        #expect(throws: (any Error).self) { try WorkflowEvent(json: ["name": "planned", "planHash": "x"]) }
    }

    /// Appends that arrive together share a transaction (group commit), but each succeeds or
    /// fails on its own: a refused event rolls back only its own savepoint.
    @Test func concurrentAppendsCommitTogetherAndFailAlone() async throws {
        let directory = TemporaryDirectory("lalo-wfgroup")
        let log = WorkflowLog(store: try Store.open(directory: directory.path, busyTimeoutMilliseconds: 5000))
        var ids: [String] = []
        for i in 0..<40 { ids.append(try await log.create(request: "r\(i)", by: Self.alice).id) }
        let outcomes = await withTaskGroup(of: (String, Bool).self) { group in
            for (index, id) in ids.enumerated() {
                group.addTask {
                    // Every fifth one sends an event its state does not take.
                    let event: WorkflowEvent = index % 5 == 0 ? .executed : .interpreted(confident: true)
                    return (id, (try? await log.append(event, to: id, by: Self.alice)) != nil)
                }
            }
            var all: [String: Bool] = [:]
            for await (id, ok) in group { all[id] = ok }
            return all
        }
        for (index, id) in ids.enumerated() {
            #expect(outcomes[id] == (index % 5 != 0))
            let record = try #require(try log.record(id))
            #expect(record.state == (index % 5 == 0 ? .interpreting : .planning))
            #expect(try log.entries(id).count == (index % 5 == 0 ? 0 : 1))
        }
    }
}
