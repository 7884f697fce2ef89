// lalo-sandbox: builds a sandbox and runs one command in it (SPEC §7, native backend).
//
// laloD never forks its own multi-threaded process into a sandbox; it starts this small,
// single-threaded program instead. As root it clones a child into new user, pid, mount,
// network, ipc and uts namespaces, maps one unprivileged host uid (never host root) to the
// sandbox user, and the child, as pid 1 of its namespace, builds a minimal read-only root
// (host /usr, /lib*, /bin, /sbin; fresh /proc; minimal /dev; size-limited tmpfs /tmp; the
// workspace writable), then forks the payload: setsid, rlimits, cleared environment,
// descriptors 0-2 only, every capability dropped, no_new_privs, a libseccomp filter, exec.
// When the payload exits, pid 1 exits and the kernel kills whatever else is left in the
// namespace; when the wall time runs out the launcher kills pid 1, with the same effect.
//
// Usage: lalo-sandbox [options] -- COMMAND [ARG...]
//   --workspace DIR      bound read-write at /workspace (the working directory)
//   --host-uid N         host uid (and gid) the sandbox user maps to; the sandbox's root maps
//                        to N+1 (default 200000; both must be unprivileged and unused)
//   --wall-ms N          wall-clock limit (default 10000)
//   --cpu-seconds N      RLIMIT_CPU            --memory-bytes N   RLIMIT_AS
//   --pids N             RLIMIT_NPROC          --fsize-bytes N    RLIMIT_FSIZE
//   --nofile N           RLIMIT_NOFILE         --tmpfs-bytes N    size of /tmp
//   --tmpfs-inodes N     inodes of /tmp        --env NAME=VALUE   (repeatable)
// The outcome is written as one JSON line to descriptor 3 if it is open:
//   {"exitCode":N|null,"signal":N|null,"timedOut":bool,"durationMicros":N}
// Exit status: the payload's, 128+signal when killed, 125 when the sandbox could not be built.

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/sched.h>
#include <poll.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <grp.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SANDBOX_UID 1000
#define MAX_ENV 64

struct options {
    const char *workspace;
    long host_uid;
    long wall_ms;
    long cpu_seconds, memory_bytes, pids, fsize_bytes, nofile, tmpfs_bytes, tmpfs_inodes;
    char *env[MAX_ENV + 1];
    int env_count;
    char **argv;
};

static struct options opt = {
    .host_uid = 200000, .wall_ms = 10000, .cpu_seconds = 10, .memory_bytes = 512L << 20, .pids = 64,
    .fsize_bytes = 64L << 20, .nofile = 256, .tmpfs_bytes = 64L << 20, .tmpfs_inodes = 4096,
};

static int sync_pipe[2];

static void fail(const char *format, ...) {
    va_list args;
    va_start(args, format);
    fprintf(stderr, "lalo-sandbox: ");
    vfprintf(stderr, format, args);
    if (errno) fprintf(stderr, ": %s", strerror(errno));
    fprintf(stderr, "\n");
    va_end(args);
    _exit(125);
}

static long number(const char *name, const char *text) {
    char *end;
    errno = 0;
    long value = strtol(text, &end, 10);
    if (errno || *end || value < 0) { errno = 0; fail("%s: not a number: %s", name, text); }
    return value;
}

static void parse(int argc, char **argv) {
    int i = 1;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) { i++; break; }
        if (i + 1 >= argc) { errno = 0; fail("%s needs a value", a); }
        const char *v = argv[++i];
        if (strcmp(a, "--workspace") == 0) opt.workspace = v;
        else if (strcmp(a, "--host-uid") == 0) opt.host_uid = number(a, v);
        else if (strcmp(a, "--wall-ms") == 0) opt.wall_ms = number(a, v);
        else if (strcmp(a, "--cpu-seconds") == 0) opt.cpu_seconds = number(a, v);
        else if (strcmp(a, "--memory-bytes") == 0) opt.memory_bytes = number(a, v);
        else if (strcmp(a, "--pids") == 0) opt.pids = number(a, v);
        else if (strcmp(a, "--fsize-bytes") == 0) opt.fsize_bytes = number(a, v);
        else if (strcmp(a, "--nofile") == 0) opt.nofile = number(a, v);
        else if (strcmp(a, "--tmpfs-bytes") == 0) opt.tmpfs_bytes = number(a, v);
        else if (strcmp(a, "--tmpfs-inodes") == 0) opt.tmpfs_inodes = number(a, v);
        else if (strcmp(a, "--env") == 0) {
            if (opt.env_count >= MAX_ENV || !strchr(v, '=')) { errno = 0; fail("bad --env %s", v); }
            opt.env[opt.env_count++] = (char *)v;
        } else { errno = 0; fail("unknown option %s", a); }
    }
    if (i >= argc) { errno = 0; fail("no command (usage: lalo-sandbox [options] -- COMMAND [ARG...])"); }
    // Host root must never be the sandbox's user, nor any uid below the system range.
    if (opt.host_uid < 1000 || opt.host_uid > 4000000000L) {
        errno = 0;
        fail("--host-uid %ld is refused: the sandbox's ids must be unprivileged (1000 or more), never host root", opt.host_uid);
    }
    opt.argv = &argv[i];
}

static void write_file(const char *path, const char *text) {
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) fail("open %s", path);
    if (write(fd, text, strlen(text)) != (ssize_t)strlen(text)) fail("write %s", path);
    close(fd);
}

static void write_file_new(const char *path, const char *text) {
    int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
    if (fd < 0) fail("create %s", path);
    if (write(fd, text, strlen(text)) != (ssize_t)strlen(text)) fail("write %s", path);
    close(fd);
}

/// The workspace, opened before anything is mounted over the path it lives under.
static int workspace_fd = -1;

static void bind_ro(const char *source, const char *target) {
    struct stat st;
    if (lstat(source, &st) != 0) return;  // /lib64 does not exist everywhere
    if (S_ISLNK(st.st_mode)) {  // merged-/usr systems: /bin -> usr/bin
        char link[PATH_MAX];
        ssize_t n = readlink(source, link, sizeof link - 1);
        if (n < 0) fail("readlink %s", source);
        link[n] = 0;
        if (symlink(link, target) != 0) fail("symlink %s", target);
        return;
    }
    if (mkdir(target, 0755) != 0 && errno != EEXIST) fail("mkdir %s", target);
    if (mount(source, target, NULL, MS_BIND | MS_REC, NULL) != 0) fail("bind %s", source);
    if (mount(NULL, target, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_REC, NULL) != 0)
        fail("read-only %s", target);
}

static void bind_dev(const char *name) {
    char source[64], target[64];
    snprintf(source, sizeof source, "/dev/%s", name);
    snprintf(target, sizeof target, "dev/%s", name);
    int fd = open(target, O_CREAT | O_WRONLY | O_CLOEXEC, 0666);
    if (fd < 0) fail("create %s", target);
    close(fd);
    if (mount(source, target, NULL, MS_BIND, NULL) != 0) fail("bind %s", source);
}

/// The new root: a tmpfs with the host's system directories read-only, a fresh /proc, a minimal
/// /dev, a size-limited /tmp and the workspace.
static void build_root(void) {
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) fail("make / private");
    // The new root is a tmpfs over /tmp, in this mount namespace only: nothing is created on
    // the host's file systems.
    const char *root = "/tmp";
    if (mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0755") != 0) fail("tmpfs root");
    if (chdir(root) != 0) fail("chdir root");
    const char *system_dirs[] = {"usr", "lib", "lib32", "lib64", "libx32", "bin", "sbin", "etc/alternatives", NULL};
    mkdir("etc", 0755);
    for (int i = 0; system_dirs[i]; i++) {
        char source[64];
        snprintf(source, sizeof source, "/%s", system_dirs[i]);
        bind_ro(source, system_dirs[i]);
    }
    // Only the files programs need from /etc: no passwd hashes, no host configuration.
    const char *etc_files[] = {"etc/ld.so.cache", "etc/localtime", NULL};
    for (int i = 0; etc_files[i]; i++) {
        char source[64];
        snprintf(source, sizeof source, "/%s", etc_files[i]);
        if (access(source, R_OK) != 0) continue;
        int fd = open(etc_files[i], O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
        if (fd >= 0) close(fd);
        if (mount(source, etc_files[i], NULL, MS_BIND | MS_RDONLY, NULL) != 0) fail("bind %s", source);
        mount(NULL, etc_files[i], NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL);
    }
    write_file_new("etc/passwd", "sandbox:x:1000:1000:sandbox:/workspace:/bin/sh\n");
    write_file_new("etc/group", "sandbox:x:1000:\n");
    mkdir("proc", 0555);
    if (mount("proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0) fail("mount /proc");
    mkdir("dev", 0755);
    if (mount("tmpfs", "dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "size=64k,mode=0755") != 0) fail("tmpfs /dev");
    const char *devices[] = {"null", "zero", "full", "random", "urandom", NULL};
    for (int i = 0; devices[i]; i++) bind_dev(devices[i]);
    symlink("/proc/self/fd", "dev/fd");
    symlink("/proc/self/fd/0", "dev/stdin");
    symlink("/proc/self/fd/1", "dev/stdout");
    symlink("/proc/self/fd/2", "dev/stderr");
    char tmp_options[96];
    snprintf(tmp_options, sizeof tmp_options, "size=%ld,nr_inodes=%ld,mode=1777", opt.tmpfs_bytes, opt.tmpfs_inodes);
    mkdir("tmp", 01777);
    if (mount("tmpfs", "tmp", "tmpfs", MS_NOSUID | MS_NODEV, tmp_options) != 0) fail("tmpfs /tmp");
    mkdir("workspace", 0755);
    if (workspace_fd >= 0) {
        char source[64];
        snprintf(source, sizeof source, "/proc/self/fd/%d", workspace_fd);
        if (mount(source, "workspace", NULL, MS_BIND | MS_REC, NULL) != 0) fail("bind workspace %s", opt.workspace);
        close(workspace_fd);
        if (mount(NULL, "workspace", NULL, MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV, NULL) != 0) fail("remount workspace");
    }
    // The root itself read-only, then pivot into it and drop the old root entirely.
    mkdir(".old", 0700);
    if (syscall(SYS_pivot_root, ".", ".old") != 0) fail("pivot_root");
    if (chdir("/") != 0) fail("chdir /");
    if (umount2("/.old", MNT_DETACH) != 0) fail("detach old root");
    rmdir("/.old");
    if (mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) != 0) fail("read-only root");
    if (chdir("/workspace") != 0) fail("chdir /workspace");
}

/// The deny list of SPEC §7: namespaces, mounts, ptrace, keyrings, bpf, perf, io_uring, modules,
/// reboot, and sockets other than AF_UNIX. libseccomp checks the architecture (a call from a
/// foreign ABI, such as x32 or i386 on x86_64, kills the process).
static void apply_seccomp(void) {
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    if (!ctx) fail("seccomp_init");
    const int denied[] = {
        SCMP_SYS(unshare), SCMP_SYS(setns), SCMP_SYS(mount), SCMP_SYS(umount2), SCMP_SYS(pivot_root),
        SCMP_SYS(chroot), SCMP_SYS(move_mount), SCMP_SYS(open_tree), SCMP_SYS(fsopen), SCMP_SYS(fsmount),
        SCMP_SYS(fsconfig), SCMP_SYS(fspick), SCMP_SYS(mount_setattr), SCMP_SYS(ptrace), SCMP_SYS(process_vm_readv),
        SCMP_SYS(process_vm_writev), SCMP_SYS(keyctl), SCMP_SYS(add_key), SCMP_SYS(request_key), SCMP_SYS(bpf),
        SCMP_SYS(perf_event_open), SCMP_SYS(io_uring_setup), SCMP_SYS(io_uring_enter), SCMP_SYS(io_uring_register),
        SCMP_SYS(init_module), SCMP_SYS(finit_module), SCMP_SYS(delete_module), SCMP_SYS(reboot), SCMP_SYS(kexec_load),
        SCMP_SYS(kexec_file_load), SCMP_SYS(swapon), SCMP_SYS(swapoff), SCMP_SYS(acct), SCMP_SYS(userfaultfd),
        SCMP_SYS(open_by_handle_at), SCMP_SYS(name_to_handle_at), SCMP_SYS(settimeofday), SCMP_SYS(clock_settime),
        SCMP_SYS(adjtimex), SCMP_SYS(quotactl), SCMP_SYS(lookup_dcookie), SCMP_SYS(syslog), SCMP_SYS(personality),
    };
    for (size_t i = 0; i < sizeof denied / sizeof denied[0]; i++) {
        if (denied[i] < 0) continue;  // not on this architecture
        if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), denied[i], 0) != 0) fail("seccomp rule %d", denied[i]);
    }
    // clone with any namespace flag (one rule per flag: libseccomp ANDs within a rule). clone3
    // hides its flags in memory, so it reports ENOSYS and the C library falls back to clone.
    const uint64_t namespaces[] = {CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET,
                                   CLONE_NEWCGROUP, CLONE_NEWTIME};
    for (size_t i = 0; i < sizeof namespaces / sizeof namespaces[0]; i++) {
        if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
                             SCMP_A0(SCMP_CMP_MASKED_EQ, namespaces[i], namespaces[i])) != 0) fail("seccomp clone rule");
    }
    if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0) != 0) fail("seccomp clone3 rule");
    // Sockets: AF_UNIX only.
    if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), SCMP_SYS(socket), 1, SCMP_A0(SCMP_CMP_NE, AF_UNIX)) != 0)
        fail("seccomp socket rule");
    // Typing into the controlling terminal of someone else.
    if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(ioctl), 1, SCMP_A1(SCMP_CMP_MASKED_EQ, 0xFFFFFFFFu, TIOCSTI)) != 0)
        fail("seccomp ioctl rule");
    if (seccomp_load(ctx) != 0) fail("seccomp_load");
    seccomp_release(ctx);
}

static void set_limit(int resource, long value, const char *name) {
    struct rlimit limit = {.rlim_cur = (rlim_t)value, .rlim_max = (rlim_t)value};
    if (setrlimit(resource, &limit) != 0) fail("setrlimit %s", name);
}

/// In the payload's process: the last steps before exec.
static void become_payload(void) {
    if (setsid() < 0) fail("setsid");
    // Descriptors 0-2 only.
    for (int fd = 3; fd < 1024; fd++) close(fd);
    set_limit(RLIMIT_CPU, opt.cpu_seconds, "cpu");
    set_limit(RLIMIT_AS, opt.memory_bytes, "memory");
    set_limit(RLIMIT_NPROC, opt.pids, "pids");
    set_limit(RLIMIT_FSIZE, opt.fsize_bytes, "fsize");
    set_limit(RLIMIT_NOFILE, opt.nofile, "nofile");
    set_limit(RLIMIT_CORE, 0, "core");
    // Every capability out of the bounding set, then a uid with none: setresuid to a non-zero
    // uid clears the permitted and effective sets; ambient and inheritable stay empty.
    for (int cap = 0; cap <= CAP_LAST_CAP; cap++) prctl(PR_CAPBSET_DROP, cap, 0, 0, 0);
    if (setgroups(0, NULL) != 0 && errno != EPERM) fail("setgroups");
    errno = 0;
    if (setresgid(SANDBOX_UID, SANDBOX_UID, SANDBOX_UID) != 0) fail("setresgid");
    if (setresuid(SANDBOX_UID, SANDBOX_UID, SANDBOX_UID) != 0) fail("setresuid");
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) fail("no_new_privs");
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) fail("dumpable");
    apply_seccomp();
    char *env[MAX_ENV + 4];
    int n = 0;
    env[n++] = "PATH=/usr/local/bin:/usr/bin:/bin";
    env[n++] = "HOME=/workspace";
    env[n++] = "LANG=C.UTF-8";
    for (int i = 0; i < opt.env_count; i++) env[n++] = opt.env[i];
    env[n] = NULL;
    execvpe(opt.argv[0], opt.argv, env);
    fail("exec %s", opt.argv[0]);
}

/// Pid 1 of the sandbox: builds the root, starts the payload, reaps everything, and exits with
/// the payload's status (taking every other process of the namespace with it).
static int sandbox_init(void *unused) {
    (void)unused;
    char go;
    close(sync_pipe[1]);
    if (read(sync_pipe[0], &go, 1) != 1) _exit(125);  // the launcher writes the id maps first
    close(sync_pipe[0]);
    // Become the namespace's root (host uid --host-uid + 1): until now this process still had
    // host root's ids, which mean nothing inside and cannot own a file here.
    if (setresgid(0, 0, 0) != 0 || setresuid(0, 0, 0) != 0) fail("become the sandbox's root");
    if (opt.workspace) {
        workspace_fd = open(opt.workspace, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (workspace_fd < 0) fail("open workspace %s", opt.workspace);
    }
    if (sethostname("sandbox", 7) != 0) fail("sethostname");
    build_root();
    pid_t payload = fork();
    if (payload < 0) fail("fork");
    if (payload == 0) become_payload();
    // The init's own privileges are not needed any more either, and the payload (same uid) may
    // not look into it.
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    for (int cap = 0; cap <= CAP_LAST_CAP; cap++) prctl(PR_CAPBSET_DROP, cap, 0, 0, 0);
    setresgid(SANDBOX_UID, SANDBOX_UID, SANDBOX_UID);
    setresuid(SANDBOX_UID, SANDBOX_UID, SANDBOX_UID);
    for (int fd = 0; fd < 1024; fd++) close(fd);
    int status = 0;
    for (;;) {
        int s;
        pid_t reaped = waitpid(-1, &s, 0);
        if (reaped == payload) { status = s; break; }
        if (reaped < 0 && errno != EINTR) break;
    }
    if (WIFEXITED(status)) _exit(WEXITSTATUS(status));
    // Report the payload's signal as 128+N (pid 1 cannot kill itself with most signals).
    _exit(128 + WTERMSIG(status));
}

static long long now_micros(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

int main(int argc, char **argv) {
    parse(argc, argv);
    if (geteuid() != 0) { errno = 0; fail("must run as root (it maps the sandbox user to --host-uid %ld)", opt.host_uid); }
    // Nothing of laloD's environment goes in: pid 1 of the sandbox is this process's child, and
    // the payload could read its environment through /proc/1/environ.
    clearenv();
    if (pipe2(sync_pipe, O_CLOEXEC) != 0) fail("pipe");
    long long start = now_micros();
    static char stack[1 << 16] __attribute__((aligned(16)));
    int flags = CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP
        | SIGCHLD;
    pid_t child = clone(sandbox_init, stack + sizeof stack, flags, NULL);
    if (child < 0) fail("clone");
    close(sync_pipe[0]);
    // Two unprivileged host ids and nothing else: the sandbox user (what the payload runs as and
    // what owns the files it writes) and, one above it, the sandbox's root, which only the
    // sandbox's own pid 1 uses while it builds the mounts. Host root is never mapped.
    char path[64], map[96];
    snprintf(map, sizeof map, "0 %ld 1\n%d %ld 1\n", opt.host_uid + 1, SANDBOX_UID, opt.host_uid);
    snprintf(path, sizeof path, "/proc/%d/uid_map", child);
    write_file(path, map);
    snprintf(path, sizeof path, "/proc/%d/setgroups", child);
    write_file(path, "deny");
    snprintf(path, sizeof path, "/proc/%d/gid_map", child);
    write_file(path, map);
    if (write(sync_pipe[1], "g", 1) != 1) fail("start the sandbox");
    close(sync_pipe[1]);

    // Wall time: wait on a pidfd for the child's exit; at the deadline, SIGKILL pid 1 and with it
    // the whole namespace, however its processes forked or detached.
    int status = 0;
    bool timed_out = false;
    long long deadline = start + opt.wall_ms * 1000LL;
    int pidfd = (int)syscall(SYS_pidfd_open, child, 0);
    if (pidfd < 0) fail("pidfd_open");
    for (;;) {
        long long left = deadline - now_micros();
        struct pollfd ready = {.fd = pidfd, .events = POLLIN};
        int n = poll(&ready, 1, left > 0 ? (int)((left + 999) / 1000) : 0);
        if (n < 0 && errno != EINTR) fail("poll");
        if (n > 0) break;
        if (n == 0 && now_micros() >= deadline) {
            timed_out = true;
            kill(child, SIGKILL);
            break;
        }
    }
    while (waitpid(child, &status, 0) < 0) {
        if (errno != EINTR) fail("waitpid");
    }
    close(pidfd);
    long long duration = now_micros() - start;
    int exit_code = -1, signal_number = -1;
    if (WIFEXITED(status)) {
        int code = WEXITSTATUS(status);
        if (code > 128 && code < 128 + 65) signal_number = code - 128; else exit_code = code;
    } else if (WIFSIGNALED(status)) {
        signal_number = WTERMSIG(status);
    }
    if (fcntl(3, F_GETFD) >= 0) {
        char code_text[16] = "null", signal_text[16] = "null", line[256];
        if (exit_code >= 0) snprintf(code_text, sizeof code_text, "%d", exit_code);
        if (signal_number >= 0) snprintf(signal_text, sizeof signal_text, "%d", signal_number);
        int n = snprintf(line, sizeof line, "{\"exitCode\":%s,\"signal\":%s,\"timedOut\":%s,\"durationMicros\":%lld}\n",
                         code_text, signal_text, timed_out ? "true" : "false", duration);
        if (write(3, line, (size_t)n) < 0) { /* the caller went away */ }
    }
    if (signal_number > 0) return 128 + signal_number;
    return exit_code < 0 ? 125 : exit_code;
}
