import Foundation
import Shared

/// Where code runs: the two backends behind one entry point, the administrator's limits, and
/// what the host supports (`sandbox.status`, `laloctl sandbox doctor`).
final class Sandbox: Sendable {
    let settings: Configuration.Sandbox
    let launcher: String
    let native: NativeSandbox
    let docker: DockerSandbox

    init(configuration: Configuration, http: HTTPClient = HTTPClient(maxIdleHandles: 4)) {
        settings = configuration.sandbox
        launcher = configuration.sandboxLauncher
        let slots = UidSlots(base: settings.hostUidBase, count: settings.slots)
        let scratch = configuration.store.stateDirectory + "/sandbox"
        native = NativeSandbox(launcher: launcher, slots: slots, scratchDirectory: scratch)
        docker = DockerSandbox(
            socket: settings.dockerSocket, image: settings.dockerImage, runtime: settings.dockerRuntime,
            slots: slots, scratchDirectory: scratch, http: http)
    }

    func backend(_ name: SandboxBackendName?) -> any SandboxBackend {
        switch name ?? settings.backend {
        case .native: return native
        case .docker: return docker
        }
    }

    /// The job `sandbox.run` asks for, checked field by field.
    func job(from params: SandboxRun.Params) throws -> SandboxJob {
        var argv: [String]
        switch (params.command, params.language, params.code) {
        case (let command?, nil, nil):
            guard !command.isEmpty else {
                throw SandboxError.invalidParams("command needs at least the program", field: "params.command")
            }
            argv = command
        case (nil, let language?, let code?):
            argv = try Self.argv(language: language, code: code, python: settings.python, field: "params")
        case (nil, _?, nil):
            throw SandboxError.invalidParams("language needs code", field: "params.code")
        case (nil, nil, _?):
            throw SandboxError.invalidParams("code needs a language (python or shell)", field: "params.language")
        case (nil, nil, nil):
            throw SandboxError.invalidParams("give either command or language and code", field: "params.command")
        default:
            throw SandboxError.invalidParams(
                "give either command or language and code, not both", field: "params.command")
        }
        if argv.contains(where: { $0.utf8.contains(0) }) {
            throw SandboxError.invalidParams("arguments may not contain NUL bytes", field: "params.command")
        }
        let environment = params.env ?? [:]
        try Self.check(environment: environment, field: "params.env")
        var limits = params.limits ?? SandboxLimits()
        if let timeout = params.timeoutMs {
            if let wall = limits.wallMs, wall != timeout {
                throw SandboxError.invalidParams(
                    "timeoutMs and limits.wallMs disagree; give one", field: "params.timeoutMs")
            }
            limits.wallMs = timeout
        }
        return SandboxJob(
            argv: argv, stdin: Array((params.stdin ?? "").utf8), environment: environment,
            limits: try limits.resolved(defaults: settings.defaults, maxima: settings.maxima))
    }

    /// The command that runs `code` in `language`. Code goes in as an argument, which the kernel
    /// caps at 128 KiB per argument.
    static func argv(language: String, code: String, python: String, field: String) throws -> [String] {
        guard code.utf8.count < 120_000 else {
            throw SandboxError.invalidParams(
                "code is longer than 120000 bytes; put it in a file in the workspace", field: "\(field).code")
        }
        guard !code.utf8.contains(0) else {
            throw SandboxError.invalidParams("code may not contain NUL bytes", field: "\(field).code")
        }
        switch language {
        case "python": return [python, "-c", code]
        case "shell": return ["/bin/sh", "-c", code]
        default: throw SandboxError.invalidParams("language must be python or shell", field: "\(field).language")
        }
    }

    static func check(environment: [String: String], field: String) throws {
        guard environment.count <= 60 else { throw SandboxError.invalidParams("at most 60 variables", field: field) }
        for (name, value) in environment {
            let valid =
                !name.isEmpty
                && name.utf8.allSatisfy {
                    $0 == 95 || (48...57).contains($0) || (65...90).contains($0) || (97...122).contains($0)
                }
                && !(48...57).contains(name.utf8.first!)
            guard valid else {
                throw SandboxError.invalidParams("not a valid variable name: \(name)", field: "\(field).\(name)")
            }
            guard !value.utf8.contains(0) else {
                throw SandboxError.invalidParams("value contains a NUL byte", field: "\(field).\(name)")
            }
        }
    }

    func run(_ params: SandboxRun.Params) async throws -> SandboxRunResult {
        let name = try params.backend.map { raw -> SandboxBackendName in
            guard let name = SandboxBackendName(rawValue: raw) else {
                throw SandboxError.invalidParams("backend must be native or docker", field: "params.backend")
            }
            return name
        }
        return try await backend(name).run(job(from: params))
    }

    // MARK: - What the host supports

    func status() async -> SandboxStatus.Result {
        var checks = HostSupport.nativeChecks(launcher: launcher)
        let nativeOK = checks.allSatisfy(\.ok)
        var dockerOK = false
        do {
            let version = try await docker.version()
            let text = version["Version"]?.stringValue ?? "?"
            checks.append(
                SandboxCheck(name: "docker", ok: true, detail: "Docker \(text) answers on \(settings.dockerSocket)"))
            let images = try? await docker.imageExists()
            if images == true {
                checks.append(SandboxCheck(name: "docker image", ok: true, detail: settings.dockerImage))
                dockerOK = true
            } else {
                checks.append(
                    SandboxCheck(
                        name: "docker image", ok: false, detail: "\(settings.dockerImage) is not there",
                        fix:
                            "docker import a root file system tarball as \(settings.dockerImage) (docs/sandbox.md), or set [sandbox] dockerImage"
                    ))
            }
            if !settings.dockerRuntime.isEmpty {
                let runtimes = (try? await docker.runtimes()) ?? []
                let ok = runtimes.contains(settings.dockerRuntime)
                checks.append(
                    SandboxCheck(
                        name: "docker runtime", ok: ok,
                        detail: ok
                            ? settings.dockerRuntime : "\(settings.dockerRuntime) is not registered with dockerd",
                        fix: ok
                            ? nil : "add it to dockerd's \"runtimes\" (daemon.json) or clear [sandbox] dockerRuntime"))
                dockerOK = dockerOK && ok
            }
        } catch {
            checks.append(
                SandboxCheck(
                    name: "docker", ok: false, detail: "\(error)",
                    fix: "install docker.io and start dockerd, or point [sandbox] dockerSocket at its socket"))
        }
        return SandboxStatus.Result(
            native: nativeOK, docker: dockerOK, defaultBackend: settings.backend.rawValue, checks: checks)
    }
}
