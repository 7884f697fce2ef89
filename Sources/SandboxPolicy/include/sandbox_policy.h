// The sandbox's system-call policy (docs/sandbox.md#the-policy), in one place for both backends: lalo-sandbox
// compiles it into a libseccomp filter, laloD turns it into the seccomp profile it hands to
// Docker. Names, not numbers, so the same table serves every architecture libseccomp knows.
#ifndef LALO_SANDBOX_POLICY_H
#define LALO_SANDBOX_POLICY_H

#include <stdint.h>

/// A system call the payload may not make, and the error it gets instead.
typedef struct {
    const char *name;
    int error;
} lalo_denied_syscall;

/// Namespaces, mounts, ptrace, keyrings, bpf, perf, io_uring, modules, reboot/kexec and a few
/// host-wide knobs (clock, swap, accounting, quota, syslog).
extern const lalo_denied_syscall lalo_denied_syscalls[];
extern const int lalo_denied_syscall_count;

/// `clone` with any of these flags is refused (EPERM): new namespaces through the back door.
extern const uint64_t lalo_denied_clone_flags[];
extern const int lalo_denied_clone_flag_count;

/// `clone3` keeps its flags in memory a filter cannot read, so it answers ENOSYS and the C
/// library falls back to `clone`, which the flag rules above check.
extern const int lalo_clone3_error;

/// `socket` for any family but this one answers `lalo_socket_error`.
extern const int lalo_allowed_socket_family;
extern const int lalo_socket_error;

/// `ioctl(fd, TIOCSTI, ...)` (typing into a terminal) answers EPERM.
extern const uint64_t lalo_denied_ioctl_request;

/// A call that creates or changes a file's mode, and which argument holds the mode: setting the
/// set-user-id or set-group-id bit there is refused (EPERM). Files the sandbox writes into an
/// id-mapped workspace belong to the workspace's owner on the host, who must never receive a
/// set-id program from sandboxed code. `flags_arg` >= 0: only when that argument has O_CREAT
/// (before it, the mode argument of open is undefined).
typedef struct {
    const char *name;
    int mode_arg;
    int flags_arg;
} lalo_mode_syscall;

extern const lalo_mode_syscall lalo_mode_syscalls[];
extern const int lalo_mode_syscall_count;
extern const uint64_t lalo_denied_mode_bits[];  // S_ISUID, S_ISGID (one rule each)
extern const int lalo_denied_mode_bit_count;
extern const uint64_t lalo_o_creat;

/// Element accessors for Swift, which cannot index arrays of unknown size.
lalo_denied_syscall lalo_denied_syscall_at(int index);
uint64_t lalo_denied_clone_flag_at(int index);
lalo_mode_syscall lalo_mode_syscall_at(int index);

#endif
