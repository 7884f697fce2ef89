import Shared

/// `secret.*`: secrets set, listed, deleted and rotated.
struct SecretHandlers: Sendable {
    let secrets: SecretStore

    func register(_ registry: inout MethodRegistry) {
        registry.register(SecretSet.self) { params, context in
            // The schema counts characters; the limits are about bytes.
            guard (8...65536).contains(params.value.utf8.count) else {
                throw RPCError.invalidParams("the value must be 8 bytes to 64 KiB of UTF-8", field: "params.value")
            }
            let (info, created) = try await secrets.set(
                name: params.name, value: params.value, description: params.description,
                by: AuditActor(session: context.session))
            return SecretSet.Result(secret: info, created: created)
        }

        registry.register(SecretList.self) { _, _ in
            SecretList.Result(secrets: try secrets.list(), masterKey: try secrets.masterKeyInfo())
        }

        registry.register(SecretDelete.self) { params, context in
            try await secrets.delete(name: params.name, by: AuditActor(session: context.session))
            return SecretDelete.Result(deleted: params.name)
        }

        registry.register(SecretRotate.self) { _, context in
            let result = try await secrets.rotate(by: AuditActor(session: context.session))
            return SecretRotate.Result(
                keyVersion: result.keyVersion, rewrapped: result.rewrapped,
                retiredVersions: result.retired, masterKey: try secrets.masterKeyInfo())
        }
    }
}
