import Shared

/// One command to run in a sandbox, with its limits resolved (every field set, none above the
/// administrator's maxima).
struct SandboxJob: Sendable {
    var argv: [String]
    var stdin: [UInt8] = []
    var environment: [String: String] = [:]
    var limits: SandboxLimits
    /// Bound at /workspace; nil: an empty scratch directory.
    var workspace: String?
    /// With a workspace: stage every change in this directory's `upper` layer instead.
    var stage: String?
}

extension SandboxLimits {
    /// Fills what the caller left out from `defaults` and refuses anything above `maxima`,
    /// naming the field (`params.limits.memoryBytes`).
    func resolved(defaults: SandboxLimits, maxima: SandboxLimits, field: String = "params.limits") throws
        -> SandboxLimits
    {
        var result = SandboxLimits()
        for limit in SandboxLimits.names {
            let value = self[keyPath: limit.keyPath] ?? defaults[keyPath: limit.keyPath] ?? 1
            let maximum = maxima[keyPath: limit.keyPath] ?? Int.max
            guard value >= 1 else {
                throw SandboxError.invalidParams("\(limit.name) must be at least 1", field: "\(field).\(limit.name)")
            }
            guard value <= maximum else {
                throw SandboxError.invalidParams(
                    "\(limit.name) \(value) is above the administrator's maximum \(maximum)",
                    field: "\(field).\(limit.name)")
            }
            result[keyPath: limit.keyPath] = value
        }
        return result
    }

    subscript(_ name: String) -> Int {
        self[keyPath: SandboxLimits.names.first { $0.name == name }!.keyPath] ?? 0
    }
}

/// A sandbox implementation.
protocol SandboxBackend: Sendable {
    var name: SandboxBackendName { get }
    func run(_ job: SandboxJob) async throws -> SandboxRunResult
}
