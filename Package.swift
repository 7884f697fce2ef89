// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "lalo",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "laloD", targets: ["laloD"]),
        .executable(name: "laloctl", targets: ["laloctl"]),
        .executable(name: "lalo-bench", targets: ["LaloBench"]),
        .executable(name: "lalo-model-bench", targets: ["ModelBench"]),
        .executable(name: "lalo-workflow-bench", targets: ["WorkflowBench"]),
        .executable(name: "lalo-eval", targets: ["EvalBench"]),
        .executable(name: "lalo-sandbox-bench", targets: ["SandboxBench"]),
        .library(name: "Shared", targets: ["Shared"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/LebJe/TOMLKit.git", from: "0.6.0"),
    ],
    targets: [
        // Thin shims over system C libraries. Only one Swift type per library imports them.
        .systemLibrary(
            name: "CSystemd",
            pkgConfig: "libsystemd",
            providers: [.apt(["libsystemd-dev"])]
        ),
        .systemLibrary(
            name: "CSeccomp",
            pkgConfig: "libseccomp",
            providers: [.apt(["libseccomp-dev"])]
        ),
        // Linux calls without a usable glibc wrapper (openat2).
        .systemLibrary(name: "CLinux"),
        .systemLibrary(
            name: "CCurl",
            pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"])]
        ),
        // The wire contract and the client: method catalogue, JSON-RPC types, errors, default paths.
        .target(
            name: "Shared",
            dependencies: [
                .product(name: "Crypto", package: "swift-crypto")
            ]
        ),
        .executableTarget(
            name: "laloD",
            dependencies: [
                "Shared", "CSystemd", "CSeccomp", "CCurl", "CLinux", "SandboxPolicy",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "TOMLKit", package: "TOMLKit"),
            ]
        ),
        // laloctl's commands, in a library so tests drive them in process; the executable is a thin main.
        .target(
            name: "LaloctlCommands",
            dependencies: [
                "Shared",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(name: "laloctl", dependencies: ["LaloctlCommands"]),
        .executableTarget(
            name: "LaloBench",
            dependencies: ["Shared"],
            path: "Benchmarks/LaloBench"
        ),
        // What the benchmarks share: a loopback HTTP server for stand-in providers.
        .target(
            name: "BenchSupport",
            path: "Benchmarks/BenchSupport"
        ),
        .executableTarget(
            name: "ModelBench",
            dependencies: ["Shared", "BenchSupport"],
            path: "Benchmarks/ModelBench"
        ),
        // The native sandbox launcher: small, single-threaded C, started by laloD for each run.
        // The sandbox's system-call policy, shared by the launcher's seccomp filter and the
        // profile laloD generates for Docker.
        .target(name: "SandboxPolicy", path: "Sources/SandboxPolicy"),
        // lalo-sandbox (Sources/SandboxLauncher, C) is built by scripts/build-launcher.sh, not
        // here: SwiftPM links executables through swiftc against glibc, and the launcher is linked
        // statically against musl (see the script).
        .executableTarget(name: "SandboxBench", path: "Benchmarks/SandboxBench"),
        .executableTarget(
            name: "EvalBench",
            dependencies: ["Shared"],
            path: "Benchmarks/EvalBench"
        ),
        .executableTarget(
            name: "WorkflowBench",
            dependencies: ["Shared", "BenchSupport"],
            path: "Benchmarks/WorkflowBench"
        ),
        .testTarget(
            name: "LALOTests",
            dependencies: [
                "Shared", "laloD", "laloctl", "LaloctlCommands",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
