import ArgumentParser
import Foundation
import Shared
import Testing

@testable import LaloctlCommands
@testable import laloD

/// laloctl's commands run in this process: argument parsing, exit statuses and `-o json`
/// output, against the in-process tier served on a socket (no laloD process).
@Suite("laloctl in process", .serialized, .timeLimit(.minutes(2)))
struct LaloctlTests {
    static let daemon = Result { try InProcessDaemon() }

    /// Runs one command line; its exit status and what it printed to stdout.
    func laloctl(_ arguments: [String]) -> (status: Int32, stdout: String) {
        let capture = Output.Capture()
        let status = Output.$capture.withValue(capture) { Laloctl.run(arguments) }
        return (status, capture.text)
    }

    struct Parse: Sendable, CustomTestStringConvertible {
        var arguments: [String]
        /// The exit status of a line that does not parse; nil when it does.
        var usageStatus: Int32?
        var testDescription: String { arguments.joined(separator: " ") }
    }

    static let parses: [Parse] = [
        Parse(arguments: ["status", "-o", "json"]),
        Parse(arguments: ["workflow", "list", "--state", "live", "--limit", "5"]),
        Parse(arguments: ["workflow", "approve", "wf_0000000000000000", "--plan-hash", "abc"]),
        Parse(arguments: ["run", "Create a.txt containing alpha", "--tools", "file", "--threshold", "0.5"]),
        Parse(arguments: ["sandbox", "run", "--limit", "pids=8", "--", "/bin/true"]),
        Parse(arguments: ["status", "--bogus"], usageStatus: 2),
        Parse(arguments: ["status", "-o", "yaml"], usageStatus: 2),
        Parse(arguments: ["workflow", "feedback", "wf_0000000000000000", "--up", "--down"], usageStatus: 2),
        Parse(arguments: ["workflow", "feedback", "wf_0000000000000000", "--rating", "9"], usageStatus: 2),
        Parse(arguments: ["run", "x", "--threshold", "2"], usageStatus: 2),
        Parse(arguments: ["ask", "hi", "--role", "nobody"], usageStatus: 2),
        Parse(arguments: ["sandbox", "run"], usageStatus: 2),
        Parse(arguments: ["session", "terminate"], usageStatus: 2),
        Parse(arguments: ["no-such-command"], usageStatus: 2),
    ]

    @Test("command lines parse, or fail with exit status 2", arguments: parses)
    func parsing(_ line: Parse) throws {
        if let expected = line.usageStatus {
            #expect(laloctl(line.arguments).status == expected)
        } else {
            _ = try Laloctl.parseAsRoot(line.arguments)
        }
    }

    @Test("options reach the command's typed fields")
    func parsedFields() throws {
        let list = try #require(
            try Laloctl.parseAsRoot(["workflow", "list", "--state", "waiting", "--all"]) as? WorkflowCommand.List)
        #expect(list.state == "waiting" && list.all && list.limit == 50 && list.global.output == .table)
        let start = try #require(
            try Laloctl.parseAsRoot(["workflow", "start", "do it", "--tools", "file,code.run", "-o", "json"])
                as? WorkflowCommand.Start)
        #expect(start.tools == "file,code.run" && start.global.output == .json)
    }

    @Test("a daemon that is not there exits 3")
    func unreachable() {
        #expect(laloctl(["status", "--socket", "/nonexistent/laloD.sock"]).status == 3)
    }

    @Test("-o json prints the typed result, and errors exit 1")
    func jsonOutput() async throws {
        let daemon = try Self.daemon.get()
        let server = try await daemon.serve()
        defer { server.cancel() }
        let socket = daemon.configuration.server.socket

        let whoami = laloctl(["whoami", "--socket", socket, "-o", "json"])
        #expect(whoami.status == 0)
        let identity = try JSONDecoder().decode(PrincipalInfo.self, from: Data(whoami.stdout.utf8))
        #expect(identity.uid == getuid() && identity.roles == ["admin"])

        let tools = laloctl(["tool", "list", "--socket", socket, "-o", "json"])
        #expect(tools.status == 0)
        let listed = try JSONDecoder().decode(ToolList.Result.self, from: Data(tools.stdout.utf8))
        #expect(listed.tools.map(\.name).sorted() == ["code.run", "file", "http.request"])
        // Byte for byte what the daemon sent, re-encoded from the typed result.
        let direct = try await daemon.call(ToolList.self, NoParams())
        #expect(tools.stdout == JSONWriter.string(try JSONValueEncoder().encode(direct)) + "\n")

        let table = laloctl(["tool", "list", "--socket", socket])
        #expect(table.status == 0 && table.stdout.hasPrefix("TOOL") && table.stdout.contains("http.request"))

        let missing = laloctl(["workflow", "get", "wf_0000000000000000", "--socket", socket, "-o", "json"])
        #expect(missing.status == 1 && missing.stdout.isEmpty)
    }

    /// How a failed call reads to a person and which status it exits with: the daemon's error kinds
    /// (permission denied is 4, the rest 1), the transport's (3), and local errors left alone.
    @Test(
        "a failed call's exit status and text",
        arguments: [
            (
                RPCError(.permissionDenied, "needs workflow.approve"), Int32(4),
                "needs workflow.approve [permissionDenied]"
            ),
            (RPCError(.notFound, "no workflow wf_1"), 1, "no workflow wf_1 [notFound]"),
            (
                RPCError.invalidParams("must be 1-5", field: "params.rating"), 1,
                "Invalid params: must be 1-5 (params.rating) [invalidParams]"
            ),
            (
                RPCError.invalidParams("params.rating must be 1-5", field: "params.rating"), 1,
                "Invalid params: params.rating must be 1-5 [invalidParams]"
            ),
        ] as [(RPCError, Int32, String)])
    func callFailure(error: RPCError, status: Int32, text: String) throws {
        let failure = try #require(CallFailure(error))
        #expect(failure.exitStatus == status && failure.description == text)
    }

    @Test("a transport failure exits 3; a local error is not a call failure")
    func transportFailure() throws {
        let failure = try #require(CallFailure(ClientError.connectionClosed("reset by peer")))
        #expect(failure.reason == .unreachable && failure.exitStatus == 3)
        #expect(failure.description == "connection to laloD closed: reset by peer")
        #expect(CallFailure(CocoaError(.fileNoSuchFile)) == nil)
    }
}
