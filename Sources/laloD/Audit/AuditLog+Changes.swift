import Shared

extension AuditLog {
    /// Records a change made by `session` (role or session changes) as its own audit entry, so the
    /// log says what changed, not just that a method was called.
    func recordChange(_ kind: AuditEvent.Kind, method: String, by session: Session, detail: JSONValue) async throws {
        try await append(
            AuditEvent(
                kind: kind, uid: Int64(session.principal.uid), user: session.principal.user, pid: session.principal.pid,
                sessionId: session.id, method: method, outcome: .ok, errorKind: nil, durationMicros: 0,
                paramsDigest: digestOfParams(nil), detail: detail))
    }
}
