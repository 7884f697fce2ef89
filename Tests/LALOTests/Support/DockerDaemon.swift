import Foundation
import Testing

/// A real dockerd on a private socket and data root, with the sandbox image imported from a
/// root file system tarball built from this host's programs (scripts/sandbox-rootfs.sh); nothing
/// is pulled. Stopped (and its data removed) by `stop()`.
final class DockerDaemon: @unchecked Sendable {
    let directory = TemporaryDirectory("lalo-dockerd")
    let process = Process()
    var socket: String { directory.file("docker.sock") }
    static let image = "lalo-sandbox-test:latest"

    init() throws {
        guard
            FileManager.default.isExecutableFile(atPath: "/usr/sbin/dockerd")
                || FileManager.default.isExecutableFile(atPath: "/usr/bin/dockerd")
        else {
            throw HarnessError("dockerd is not installed (apt-get install docker.io; make test does it)")
        }
        process.executableURL = URL(
            fileURLWithPath: FileManager.default.isExecutableFile(atPath: "/usr/sbin/dockerd")
                ? "/usr/sbin/dockerd" : "/usr/bin/dockerd")
        process.arguments = [
            "--host", "unix://\(socket)", "--data-root", directory.file("data"), "--exec-root", directory.file("exec"),
            "--pidfile", directory.file("docker.pid"), "--iptables=false", "--ip6tables=false", "--bridge=none",
            "--exec-opt", "native.cgroupdriver=cgroupfs", "--containerd-namespace", "lalo-test",
            "--containerd-plugins-namespace", "lalo-test-plugins",
        ]
        let log =
            FileHandle(forWritingAtPath: directory.file("dockerd.log"))
            ?? {
                FileManager.default.createFile(atPath: directory.file("dockerd.log"), contents: nil)
                return FileHandle(forWritingAtPath: directory.file("dockerd.log"))!
            }()
        process.standardOutput = log
        process.standardError = log
        try process.run()
        ChildProcesses.register(process.processIdentifier)
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            if (try? docker(["version"]))?.status == 0 { break }
            if !process.isRunning { throw HarnessError("dockerd exited: \(tail)") }
            usleep(200_000)
        }
        guard (try docker(["version"])).status == 0 else {
            throw HarnessError("dockerd did not answer within 60 s: \(tail)")
        }
        let tarball = directory.file("rootfs.tar")
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
            "../../../scripts/sandbox-rootfs.sh"
        ).standardized.path
        let built = try run("/bin/sh", [script, tarball])
        guard built.status == 0 else { throw HarnessError("sandbox-rootfs.sh failed: \(built.stderr)") }
        let imported = try docker(["import", tarball, Self.image])
        guard imported.status == 0 else { throw HarnessError("docker import failed: \(imported.stderr)") }
        try? FileManager.default.removeItem(atPath: tarball)
    }

    var tail: String {
        String(((try? String(contentsOfFile: directory.file("dockerd.log"), encoding: .utf8)) ?? "").suffix(2000))
    }

    func docker(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        try run("/usr/bin/docker", ["-H", "unix://\(socket)"] + arguments)
    }

    func stop() {
        if process.isRunning {
            process.terminate()
            let deadline = Date().addingTimeInterval(20)
            while process.isRunning && Date() < deadline { usleep(100_000) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        }
        // Overlay mounts dockerd may have left under its data root.
        _ = try? run(
            "/bin/sh", ["-c", "grep -o '\(directory.path)[^ ]*' /proc/mounts | sort -r | xargs -r -n1 umount -l"])
    }
}
