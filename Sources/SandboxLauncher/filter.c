// The seccomp filter of the payload, from the policy in SandboxPolicy.
#define _GNU_SOURCE
#include "launcher.h"
#include "sandbox_policy.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

/// The most instructions a program may have (the kernel's BPF_MAXINSNS).
#define MAX_INSTRUCTIONS 4096

/// The policy of sandbox_policy.c as a libseccomp filter, exported as BPF into `fd`.
/// libseccomp adds the architecture check: a call from a foreign ABI (x32 or i386 on x86_64)
/// kills the process.
static void compile_seccomp(int fd) {
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

/// Writes all of `length` bytes.
static bool write_all(int fd, const void *bytes, size_t length) {
    for (size_t done = 0; done < length;) {
        ssize_t n = write(fd, (const char *)bytes + done, length - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        done += (size_t)n;
    }
    return true;
}

/// Where this launcher's compiled program is kept: RUN_DIR/filter-DEV-INODE-MTIME-SIZE.bpf,
/// named after the launcher's own executable, whose policy and libseccomp (linked in) made it:
/// another build of the launcher never reads it.
static bool cache_path(char *path, size_t size) {
    struct stat exe;
    if (!run_dir_trusted() || stat("/proc/self/exe", &exe) != 0) return false;
    snprintf(path, size, "%s/filter-%lx-%lx-%lld.%09ld-%lld.bpf", opt.run_dir, (unsigned long)exe.st_dev,
             (unsigned long)exe.st_ino, (long long)exe.st_mtim.tv_sec, exe.st_mtim.tv_nsec, (long long)exe.st_size);
    return true;
}

/// A program of `size` bytes is a whole number of instructions, at least one, no more than the
/// kernel takes.
static bool whole_program(off_t size) {
    return size > 0 && size % (off_t)sizeof(struct sock_filter) == 0
        && size <= (off_t)(MAX_INSTRUCTIONS * sizeof(struct sock_filter));
}

/// The cached program, if there is a well-formed one: a regular file of root's that nobody else
/// can write, a whole number of instructions, no more than the kernel takes.
static ssize_t read_cache(const char *path, struct sock_filter *program) {
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return -1;
    struct stat st;
    ssize_t have = -1;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && root_alone(&st) && whole_program(st.st_size)) {
        have = read(fd, program, (size_t)st.st_size);
        if (have != st.st_size) have = -1;
    }
    close(fd);
    return have;
}

/// Compiles the program into a new cache file (written whole, then renamed into place) and
/// removes the ones earlier builds of the launcher left.
static ssize_t fill_cache(const char *path, struct sock_filter *program) {
    char temporary[PATH_MAX];
    snprintf(temporary, sizeof temporary, "%s/.filter-%d", opt.run_dir, (int)getpid());
    int fd = open(temporary, O_CREAT | O_EXCL | O_RDWR | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) return -1;
    compile_seccomp(fd);
    off_t size = lseek(fd, 0, SEEK_CUR);
    ssize_t have = -1;
    if (whole_program(size) && pread(fd, program, (size_t)size, 0) == size && fsync(fd) == 0 && rename(temporary, path) == 0) {
        have = size;
    }
    close(fd);
    unlink(temporary);
    DIR *dir = opendir(opt.run_dir);
    const char *name = strrchr(path, '/') + 1;
    for (struct dirent *entry; dir && (entry = readdir(dir));) {
        if (strncmp(entry->d_name, "filter-", 7) == 0 && strcmp(entry->d_name, name) != 0) unlinkat(dirfd(dir), entry->d_name, 0);
    }
    if (dir) closedir(dir);
    return have;
}

/// The payload's program into `fd`. The launcher writes it while the sandbox's pid 1 builds the
/// mounts, and the payload loads it before it execs. Compiling the policy costs about 0.2 ms, so
/// the program is kept in the run directory and compiled once per build of the launcher.
void export_seccomp(int fd) {
    static struct sock_filter program[MAX_INSTRUCTIONS];
    char path[PATH_MAX];
    ssize_t have = -1;
    if (cache_path(path, sizeof path)) {
        have = read_cache(path, program);
        if (have < 0) have = fill_cache(path, program);
    }
    if (have < 0) {
        compile_seccomp(fd);  // no usable run directory: compiled for this run only
        return;
    }
    // EPIPE: the sandbox is already gone (it failed to build and said why); the exit status tells.
    if (!write_all(fd, program, (size_t)have) && errno != EPIPE) fail("write the seccomp filter");
}

/// In the payload: reads the program the launcher exported and installs it.
void load_seccomp(int fd) {
    static struct sock_filter program[MAX_INSTRUCTIONS];
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

