// The seccomp filter of the payload, from the policy in SandboxPolicy.
#define _GNU_SOURCE
#include "launcher.h"
#include "sandbox_policy.h"

#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <unistd.h>

/// The policy of sandbox_policy.c as a libseccomp filter, exported as BPF into `fd`. The launcher
/// builds it while the sandbox's pid 1 builds the mounts (two processes, two cores), and the
/// payload loads the finished program. libseccomp adds the architecture check: a call from a
/// foreign ABI (x32 or i386 on x86_64) kills the process.
void export_seccomp(int fd) {
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    if (!ctx) fail("seccomp_init");
    // A binary tree instead of a linear list: every call the payload makes goes through it.
    seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
    for (int i = 0; i < lalo_denied_syscall_count; i++) {
        int number = seccomp_syscall_resolve_name(lalo_denied_syscalls[i].name);
        if (number == __NR_SCMP_ERROR) continue;  // not on this architecture
        if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(lalo_denied_syscalls[i].error), number, 0) != 0)
            fail("seccomp rule %s", lalo_denied_syscalls[i].name);
    }
    // clone with any namespace flag (one rule per flag: libseccomp ANDs within a rule).
    for (int i = 0; i < lalo_denied_clone_flag_count; i++) {
        uint64_t flag = lalo_denied_clone_flags[i];
        if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1, SCMP_A0(SCMP_CMP_MASKED_EQ, flag, flag)) != 0)
            fail("seccomp clone rule");
    }
    // No set-id bits on files (see sandbox_policy.h).
    for (int i = 0; i < lalo_mode_syscall_count; i++) {
        int number = seccomp_syscall_resolve_name(lalo_mode_syscalls[i].name);
        if (number == __NR_SCMP_ERROR) continue;
        for (int b = 0; b < lalo_denied_mode_bit_count; b++) {
            uint64_t bit = lalo_denied_mode_bits[b];
            struct scmp_arg_cmp mode = SCMP_CMP((unsigned)lalo_mode_syscalls[i].mode_arg, SCMP_CMP_MASKED_EQ, bit, bit);
            int rc;
            if (lalo_mode_syscalls[i].flags_arg >= 0) {
                struct scmp_arg_cmp creat = SCMP_CMP((unsigned)lalo_mode_syscalls[i].flags_arg, SCMP_CMP_MASKED_EQ,
                                                     lalo_o_creat, lalo_o_creat);
                rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), number, 2, creat, mode);
            } else {
                rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), number, 1, mode);
            }
            if (rc != 0) fail("seccomp mode rule %s", lalo_mode_syscalls[i].name);
        }
    }
    if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(lalo_clone3_error), SCMP_SYS(clone3), 0) != 0) fail("seccomp clone3 rule");
    if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(lalo_socket_error), SCMP_SYS(socket), 1,
                         SCMP_A0(SCMP_CMP_NE, (scmp_datum_t)lalo_allowed_socket_family)) != 0)
        fail("seccomp socket rule");
    if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(ioctl), 1,
                         SCMP_A1(SCMP_CMP_MASKED_EQ, 0xFFFFFFFFu, lalo_denied_ioctl_request)) != 0)
        fail("seccomp ioctl rule");
    // EPIPE: the sandbox is already gone (it failed to build and said why); the exit status tells.
    int exported = seccomp_export_bpf(ctx, fd);
    if (exported != 0 && exported != -EPIPE) { errno = -exported; fail("seccomp_export_bpf"); }
    seccomp_release(ctx);
}

/// In the payload: reads the program the launcher exported and installs it.
void load_seccomp(int fd) {
    static struct sock_filter program[4096];
    size_t have = 0;
    for (;;) {
        ssize_t n = read(fd, (char *)program + have, sizeof program - have);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) fail("read the seccomp filter");
        if (n == 0) break;
        have += (size_t)n;
        if (have == sizeof program) { errno = 0; fail("seccomp filter too large"); }
    }
    if (have == 0 || have % sizeof program[0] != 0) { errno = 0; fail("no seccomp filter from the launcher"); }
    struct sock_fprog fprog = {.len = (unsigned short)(have / sizeof program[0]), .filter = program};
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fprog, 0, 0) != 0) fail("install the seccomp filter");
}

