import Foundation
import Shared
import Testing

@testable import laloD

/// Every method × every role, deny by default, through the dispatcher in process: the callers
/// are the test accounts as the kernel would identify them (their uid and groups), mapped to
/// roles by the configuration. That the kernel's identity reaches the dispatcher over the socket
/// is RBACTests' part, with a real daemon.
@Suite("Permissions: every method × every role (in process)", .serialized, .timeLimit(.minutes(3)))
struct PermissionMatrixTests {
    static let shared = Result { try InProcessDaemon(config: DaemonProcess.config(extra: TestUsers.rolesConfig)) }

    @Test("permission matrix", arguments: matrix)
    func permission(_ method: MatrixMethod) async throws {
        let daemon = try Self.shared.get()
        let params = try JSONParser.parse(method.params)
        for (role, user) in roleAccounts {
            let caller = InProcessDaemon.principal(try TestUsers.account(user))
            let outcome = await daemon.call(method.name, params: params, as: caller)
            // Denied by the dispatcher (the method's permission) or by the handler (other users'
            // data), as the live suite counts it.
            let denied: Bool
            if case .failure(let error) = outcome { denied = error.kind == .permissionDenied } else { denied = false }
            if method.allowed.contains(role) {
                #expect(!denied, "\(role) must be allowed \(method.name): \(outcome)")
            } else {
                #expect(denied, "\(role) calling \(method.name) must be denied: \(outcome)")
            }
        }
    }
}
