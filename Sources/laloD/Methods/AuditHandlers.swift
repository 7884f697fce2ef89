import Shared

/// `audit.*`: query, verify and export the audit log.
struct AuditHandlers: Sendable {
    let store: Store

    func register(_ registry: inout MethodRegistry) {
        registry.register(AuditQuery.self) { params, _ in
            let afterSeq: Int64
            if let cursor = params.cursor {
                guard let seq = Int64(cursor), seq >= 0 else {
                    throw RPCError.invalidParams(
                        "cursor must be the nextCursor of a previous page", field: "params.cursor")
                }
                afterSeq = seq
            } else {
                afterSeq = 0
            }
            let uid = try resolveUser(params.user)
            let limit = params.limit ?? 100
            let page = try AuditLog.query(
                store: store, filter: params.filter, uid: uid, afterSeq: afterSeq, limit: limit + 1)
            let entries = page.prefix(limit).map(\.wire)
            let next = page.count > limit ? entries.last.map { String($0.seq) } : nil
            return AuditQuery.Result(entries: Array(entries), nextCursor: next)
        }

        registry.register(AuditVerify.self) { _, _ in
            try AuditLog.verify(store: store)
        }

        registry.register(AuditExport.self) { filter, context in
            let uid = try resolveUser(filter.user)
            var afterSeq: Int64 = 0
            var total: Int64 = 0
            let requestID = context.requestID?.json ?? .null
            while true {
                // Pages are read one at a time and each is written before the next is read, so an
                // export of any size holds one page in memory and waits for a slow reader.
                let page = try AuditLog.query(store: store, filter: filter, uid: uid, afterSeq: afterSeq, limit: 500)
                guard let last = page.last else { break }
                var lines = ""
                for record in page {
                    lines += JSONWriter.string(try JSONValueEncoder().encode(record.wire))
                    lines += "\n"
                }
                try await context.notifications.send(
                    RPCNotification(
                        method: AuditExport.notification!, params: ["requestId": requestID, "lines": .string(lines)]))
                total += Int64(page.count)
                afterSeq = last.seq
            }
            return AuditExport.Result(entries: total, lastSeq: afterSeq)
        }
    }

    private func resolveUser(_ user: String?) throws(RPCError) -> Int64? {
        guard let user else { return nil }
        guard let uid = UserDatabase.userID(name: user) else {
            throw RPCError.notFound("no such user \(user)", field: "params.user")
        }
        return Int64(uid)
    }
}
