import CLinux
import CSeccomp
import Foundation
import Shared

/// Probes of what the native backend needs from the host, each with the fix when it is missing.
enum HostSupport {
    static func nativeChecks(launcher: String) -> [SandboxCheck] {
        var checks: [SandboxCheck] = []
        let launcherOK = FileManager.default.isExecutableFile(atPath: launcher)
        checks.append(
            SandboxCheck(
                name: "launcher", ok: launcherOK, detail: launcher,
                fix: launcherOK ? nil : "install lalo-sandbox next to laloD (make install) or set [sandbox] launcher"))
        let root = geteuid() == 0
        checks.append(
            SandboxCheck(
                name: "privileges", ok: root, detail: root ? "laloD runs as root" : "laloD runs as uid \(geteuid())",
                fix: root ? nil : "run laloD as root (the launcher maps unprivileged host uids for each sandbox)"))
        let maxUserNamespaces = read("/proc/sys/user/max_user_namespaces").flatMap { Int($0) } ?? 0
        let unprivilegedClone = read("/proc/sys/kernel/unprivileged_userns_clone")
        checks.append(
            SandboxCheck(
                name: "user namespaces", ok: maxUserNamespaces > 0,
                detail: "user.max_user_namespaces = \(maxUserNamespaces)"
                    + (unprivilegedClone.map { ", kernel.unprivileged_userns_clone = \($0)" } ?? ""),
                fix: maxUserNamespaces > 0 ? nil : "sysctl -w user.max_user_namespaces=15000"))
        let seccompOK = lalo_seccomp_mode() >= 0 && seccomp_api_get() >= 1
        let version = seccomp_version().pointee
        checks.append(
            SandboxCheck(
                name: "seccomp", ok: seccompOK,
                detail: "libseccomp \(version.major).\(version.minor).\(version.micro), API level \(seccomp_api_get())",
                fix: seccompOK ? nil : "a kernel with CONFIG_SECCOMP_FILTER and libseccomp 2.5 or newer"))
        let v2 = FileManager.default.fileExists(atPath: "/sys/fs/cgroup/cgroup.controllers")
        let v1Memory = FileManager.default.fileExists(atPath: "/sys/fs/cgroup/memory/memory.limit_in_bytes")
        let v1Pids = FileManager.default.fileExists(atPath: "/sys/fs/cgroup/pids/cgroup.procs")
        let cgroupOK: Bool
        let cgroupDetail: String
        if v2 {
            let controllers = read("/sys/fs/cgroup/cgroup.controllers") ?? ""
            cgroupOK = controllers.contains("memory") && controllers.contains("pids")
            cgroupDetail = "cgroup v2, controllers: \(controllers)"
        } else {
            cgroupOK = v1Memory && v1Pids
            cgroupDetail =
                "cgroup v1" + (v1Memory ? ", memory" : ", no memory controller")
                + (v1Pids ? ", pids" : ", no pids controller")
        }
        checks.append(
            SandboxCheck(
                name: "cgroups", ok: cgroupOK, detail: cgroupDetail,
                fix: cgroupOK
                    ? nil
                    : "enable the memory and pids controllers (v2: cgroup.subtree_control; v1: mount them under /sys/fs/cgroup)"
            ))
        let filesystems = read("/proc/filesystems") ?? ""
        let overlay = filesystems.contains("overlay")
        checks.append(
            SandboxCheck(
                name: "overlayfs", ok: overlay,
                detail: overlay ? "available (staged workspaces)" : "not in /proc/filesystems",
                fix: overlay ? nil : "modprobe overlay"))
        var utsname = utsname()
        uname(&utsname)
        let release = withUnsafeBytes(of: &utsname.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let parts = release.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
        let idmapOK = parts.count >= 2 && (parts[0], parts[1]) >= (5, 19)
        checks.append(
            SandboxCheck(
                name: "id-mapped mounts", ok: idmapOK, detail: "kernel \(release)",
                fix: idmapOK ? nil : "Linux 5.19 or newer (id-mapped workspace mounts under overlayfs)"))
        return checks
    }

    static func read(_ path: String) -> String? {
        (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
