import Foundation
import Shared
import Synchronization
import Testing

@Suite("Daemon lifecycle: shutdown, reload, sessions", .serialized, .timeLimit(.minutes(3)))
struct LifecycleTests {
    @Test("SIGTERM with calls in flight: every request is answered once, exit 0, chain intact")
    func gracefulStop() throws {
        let daemon = try DaemonProcess(config: DaemonProcess.config(extra: "maxInFlightPerConnection = 4096"))
        let clients = try (0..<4).map { _ in try daemon.client() }
        // Established sessions first: a connection still in the accept queue when the listener
        // closes is refused by the kernel, which is "stop accepting", not "in flight".
        for client in clients { _ = try client.call(SessionWhoami.self) }
        let perClient = 300
        for client in clients {
            try client.sendRaw(pipelinedWhoami(count: perClient))
        }
        var early: [JSONValue] = []
        for _ in 0..<20 { early.append(try #require(try clients[0].readJSON())) }
        daemon.signal(SIGTERM)
        // Read every connection at once: a client that stops reading holds its answers up, and
        // laloD only waits shutdownTimeoutSeconds for them.
        let results = Mutex<[(ids: [Int64], ok: Int, other: [String])]>([])
        nonisolated(unsafe) let readers = clients
        let firstAnswers = early
        // One thread per connection (not concurrentPerform, which runs only as many as there are cores).
        let done = DispatchSemaphore(value: 0)
        for index in readers.indices {
            Thread {
                var ids: [Int64] = []
                var ok = 0
                var other: [String] = []
                if index == 0 {
                    ids = firstAnswers.compactMap { $0["id"]?.intValue }
                    ok = firstAnswers.count
                }
                // A connection closed with requests still unread may end in ECONNRESET: that is its end.
                while let answer = try? readers[index].readJSON() {
                    if let id = answer["id"]?.intValue { ids.append(id) }
                    if answer["result"] != nil {
                        ok += 1
                    } else {
                        other.append(answer["error"]?["data"]?["kind"]?.stringValue ?? "?")
                    }
                }
                results.withLock { $0.append((ids, ok, other)) }
                done.signal()
            }.start()
        }
        for _ in readers { done.wait() }
        var answered = 0
        var succeeded = clients.count
        for result in results.withLock({ $0 }) {
            #expect(Set(result.ids).count == result.ids.count, "no request is answered twice")
            #expect(Set(result.ids) == Set(0..<Int64(perClient)), "every request sent before the signal is answered")
            #expect(result.other.allSatisfy { $0 == "unavailable" })
            answered += result.ids.count
            succeeded += result.ok
        }
        #expect(answered == clients.count * perClient)
        #expect(daemon.waitForExit() == 0)
        // Every successful call is in the audit log, and the chain verifies after restart.
        let restarted = try DaemonProcess.restart(from: daemon)
        let client = try restarted.client()
        #expect(try client.call(AuditVerify.self).ok)
        var audited = 0
        var cursor: String? = nil
        repeat {
            let page = try client.call(
                AuditQuery.self,
                .init(filter: .init(method: "session.whoami", outcome: "ok"), cursor: cursor, limit: 1000))
            audited += page.entries.count
            cursor = page.nextCursor
        } while cursor != nil
        #expect(audited == succeeded)
    }

    @Test("SIGHUP reloads the role mapping without dropping connections; a bad file is refused")
    func reload() throws {
        let viewer = try TestUsers.account("lalot-viewer")
        let daemon = try DaemonProcess(config: DaemonProcess.config(extra: TestUsers.rolesConfig))
        let root = try daemon.client()
        // A connection held open across the reload.
        let before = try root.call(SessionWhoami.self)
        let first = try TestUsers.laloctl(as: viewer, ["whoami", "--socket", daemon.socketPath, "-o", "json"])
        #expect(try json(first.stdout)["roles"] == ["viewer"])

        let promoted = """
            [roles]
            adminUsers = []
            adminGroups = ["\(TestUsers.adminGroup)"]
            userGroups = ["\(TestUsers.userGroup)", "\(TestUsers.viewerGroup)"]
            viewerGroups = []
            """
        daemon.directory.write("laloD.toml", DaemonProcess.config(extra: promoted))
        daemon.signal(SIGHUP)
        var roles: JSONValue? = nil
        for _ in 0..<100 {
            let now = try TestUsers.laloctl(as: viewer, ["whoami", "--socket", daemon.socketPath, "-o", "json"])
            roles = try json(now.stdout)["roles"]
            if roles == ["user"] { break }
            usleep(50_000)
        }
        #expect(roles == ["user"])
        #expect(try root.call(SessionWhoami.self).sessionId == before.sessionId, "the open connection survived")

        daemon.directory.write("laloD.toml", "[server]\nsocketMode = \"0666\"\nbogusKey = 1\n")
        daemon.signal(SIGHUP)
        var refused = false
        for _ in 0..<100 where !refused {
            refused = daemon.log.contains("configuration reload refused")
            usleep(50_000)
        }
        #expect(refused)
        let still = try TestUsers.laloctl(as: viewer, ["whoami", "--socket", daemon.socketPath, "-o", "json"])
        #expect(try json(still.stdout)["roles"] == ["user"], "the old configuration stays in force")
        #expect(daemon.process.isRunning)
        #expect(daemon.stop() == 0)
    }

    @Test("idle sessions are closed")
    func idleTimeout() throws {
        let daemon = try DaemonProcess(config: DaemonProcess.config(extra: "idleTimeoutSeconds = 1"))
        let client = try daemon.client()
        _ = try client.call(SessionWhoami.self)
        let started = Date()
        #expect(try client.readLine() == nil, "the daemon closes the idle connection")
        #expect(Date().timeIntervalSince(started) >= 0.9)
        // session.close is recorded just after the socket closes: poll briefly for it.
        let auditor = try daemon.client()
        var recorded = false
        for _ in 0..<100 where !recorded {
            let closes = try auditor.call(AuditQuery.self, .init(filter: .init(method: "session.close"), limit: 100))
            recorded = closes.entries.contains { $0.detail?["reason"] == "idle timeout" }
            if !recorded { usleep(20_000) }
        }
        #expect(recorded)
    }

    @Test("the per-user session cap refuses extra connections with rateLimited")
    func sessionCap() throws {
        let daemon = try DaemonProcess(config: DaemonProcess.config(extra: "maxSessionsPerUser = 2"))
        // waitForSocket's probe connection may still be closing: wait until it is gone.
        let first = try daemon.client()
        for _ in 0..<100 where try first.call(SessionList.self, .init()).sessions.count > 1 { usleep(20_000) }
        let second = try daemon.client()
        _ = try second.call(SessionWhoami.self)
        let third = try daemon.client()
        let refusal = try #require(try third.readJSON())
        #expect(refusal["error"]?["data"]?["kind"] == "rateLimited")
        #expect(try third.readLine() == nil)
        second.close()
        var fourth: SessionWhoami.Result? = nil
        for _ in 0..<100 where fourth == nil {
            fourth = try? daemon.client().call(SessionWhoami.self)
            if fourth == nil { usleep(20_000) }
        }
        #expect(fourth != nil, "a slot frees up when a session ends")
    }

    @Test("an admin terminates another session; session.list shows who is connected")
    func terminate() throws {
        let daemon = try DaemonProcess()
        let admin = try daemon.client()
        let victim = try daemon.client()
        let victimID = try victim.call(SessionWhoami.self).sessionId
        let listed = try admin.call(SessionList.self, .init())
        #expect(listed.sessions.contains { $0.id == victimID && !$0.current })
        #expect(listed.sessions.contains { $0.current })
        let result = try admin.call(SessionTerminate.self, .init(id: victimID))
        #expect(result.terminated == [victimID])
        #expect(try victim.readLine() == nil, "the terminated connection is closed")
        // The registry forgets the session just after the socket closes: wait for that.
        for _ in 0..<100 where try admin.call(SessionList.self, .init()).sessions.contains(where: { $0.id == victimID })
        {
            usleep(20_000)
        }
        let missing = #expect(throws: RPCError.self) { try admin.call(SessionTerminate.self, .init(id: victimID)) }
        #expect(missing?.kind == .notFound)
        let changes = try admin.call(
            AuditQuery.self, .init(filter: .init(method: "session.terminate", kind: "session"), limit: 10))
        #expect(changes.entries.count == 1)
        // Terminating one's own session still delivers the answer, then closes.
        let me = try admin.call(SessionWhoami.self).sessionId
        #expect(try admin.call(SessionTerminate.self, .init(id: me)).terminated == [me])
        #expect(try admin.readLine() == nil)
    }

    @Test("more requests in flight than the cap are answered rateLimited, never dropped")
    func inFlightCap() throws {
        let daemon = try DaemonProcess(config: DaemonProcess.config(extra: "maxInFlightPerConnection = 1"))
        let client = try daemon.client()
        try client.sendRaw(pipelinedWhoami(count: 50))
        var kinds: [String: Int] = [:]
        var ids = Set<Int64>()
        for _ in 0..<50 {
            let answer = try #require(try client.readJSON())
            ids.insert(try #require(answer["id"]?.intValue))
            kinds[answer["result"] != nil ? "ok" : answer["error"]?["data"]?["kind"]?.stringValue ?? "?", default: 0] +=
                1
        }
        #expect(ids.count == 50)
        #expect(Set(kinds.keys).isSubset(of: ["ok", "rateLimited"]))
        #expect(kinds["rateLimited", default: 0] > 0)
        #expect(kinds["ok", default: 0] > 0)
    }

    @Test("a second daemon on the same state directory refuses to start and leaves the first intact")
    func stateDirectoryLock() throws {
        let daemon = try DaemonProcess()
        let second = try run(
            Binaries.laloD,
            [
                "--config", daemon.configPath, "--socket", daemon.directory.file("other.sock"),
                "--state-dir", daemon.directory.file("state"),
            ])
        #expect(second.status == 1)
        #expect(second.stderr.contains("another laloD is using the state directory"))
        let client = try daemon.client()
        _ = try client.call(SessionWhoami.self)
        #expect(try client.call(AuditVerify.self).ok)
    }

    @Test("laloctl: exit 3 and a clear message when the daemon is not running")
    func notRunning() throws {
        let directory = TemporaryDirectory()
        let result = try run(Binaries.laloctl, ["status", "--socket", directory.file("nothing.sock")])
        #expect(result.status == 3)
        #expect(result.stderr.contains("laloD is not running"))
        let usage = try run(Binaries.laloctl, ["audit", "query", "--limit", "0"])
        #expect(usage.status == 2)
    }
}

extension DaemonProcess {
    /// A new daemon process on the same state directory and socket.
    static func restart(from old: DaemonProcess) throws -> DaemonProcess {
        let new = try DaemonProcess(
            config: (try? String(contentsOfFile: old.configPath, encoding: .utf8)) ?? config(),
            arguments: [], environment: [:], waitForSocket: false, reuse: old)
        try new.waitForSocket()
        return new
    }
}
