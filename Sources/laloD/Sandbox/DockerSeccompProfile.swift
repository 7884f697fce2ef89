import Foundation
import SandboxPolicy
import Shared

/// The seccomp profile handed to Docker, generated from the same policy table the native
/// launcher compiles (Sources/SandboxPolicy): everything allowed but the denied calls, which
/// fail with the same errors; only the native architecture (a foreign ABI is killed).
enum DockerSeccompProfile {
    #if arch(x86_64)
        static let architecture: JSONValue = "SCMP_ARCH_X86_64"
    #elseif arch(arm64)
        static let architecture: JSONValue = "SCMP_ARCH_AARCH64"
    #endif

    static let json: JSONValue = {
        var rules: [JSONValue] = []
        var byError: [Int32: [String]] = [:]
        for i in 0..<Int(lalo_denied_syscall_count) {
            let entry = lalo_denied_syscall_at(Int32(i))
            byError[entry.error, default: []].append(String(cString: entry.name))
        }
        for (error, names) in byError.sorted(by: { $0.key < $1.key }) {
            rules.append([
                "names": .array(names.map(JSONValue.string)), "action": "SCMP_ACT_ERRNO",
                "errnoRet": .int(Int64(error)),
            ])
        }
        for i in 0..<Int(lalo_denied_clone_flag_count) {
            let flag = Int64(lalo_denied_clone_flag_at(Int32(i)))
            rules.append([
                "names": ["clone"], "action": "SCMP_ACT_ERRNO", "errnoRet": .int(Int64(EPERM)),
                "args": [["index": 0, "value": .int(flag), "valueTwo": .int(flag), "op": "SCMP_CMP_MASKED_EQ"]],
            ])
        }
        for i in 0..<Int(lalo_mode_syscall_count) {
            let call = lalo_mode_syscall_at(Int32(i))
            for bit in [Int64(S_ISUID), Int64(S_ISGID)] {
                var args: [JSONValue] = [
                    [
                        "index": .int(Int64(call.mode_arg)), "value": .int(bit), "valueTwo": .int(bit),
                        "op": "SCMP_CMP_MASKED_EQ",
                    ]
                ]
                if call.flags_arg >= 0 {
                    args.insert(
                        [
                            "index": .int(Int64(call.flags_arg)), "value": .int(Int64(lalo_o_creat)),
                            "valueTwo": .int(Int64(lalo_o_creat)), "op": "SCMP_CMP_MASKED_EQ",
                        ], at: 0)
                }
                rules.append([
                    "names": [.string(String(cString: call.name))], "action": "SCMP_ACT_ERRNO",
                    "errnoRet": .int(Int64(EPERM)), "args": .array(args),
                ])
            }
        }
        rules.append(["names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": .int(Int64(lalo_clone3_error))])
        rules.append([
            "names": ["socket"], "action": "SCMP_ACT_ERRNO", "errnoRet": .int(Int64(lalo_socket_error)),
            "args": [["index": 0, "value": .int(Int64(lalo_allowed_socket_family)), "op": "SCMP_CMP_NE"]],
        ])
        rules.append([
            "names": ["ioctl"], "action": "SCMP_ACT_ERRNO", "errnoRet": .int(Int64(EPERM)),
            "args": [
                [
                    "index": 1, "value": 0xFFFF_FFFF, "valueTwo": .int(Int64(lalo_denied_ioctl_request)),
                    "op": "SCMP_CMP_MASKED_EQ",
                ]
            ],
        ])
        return [
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": [architecture],
            "syscalls": .array(rules),
        ]
    }()
}
