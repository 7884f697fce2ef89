// lalo-sandbox: builds a sandbox and runs one command in it (docs/sandbox.md, native backend).
//
// laloD never forks its own multi-threaded process into a sandbox; it starts this small,
// single-threaded, statically linked program instead. As root it puts the workspace behind an
// id-mapped mount (optionally under an overlay that stages every change), creates the sandbox's
// cgroup, and clones a child into new user, pid, mount, network, ipc, uts and cgroup
// namespaces, mapping two unprivileged host ids (never host root). The child, pid 1 of its
// namespace, builds a minimal read-only root (host /usr, /lib*, /bin, /sbin; fresh /proc;
// minimal /dev; size-limited tmpfs /tmp; the workspace), then forks the payload: setsid,
// rlimits, cleared environment, descriptors 0-2 only (stdout and stderr are pipes to the
// launcher), every capability dropped, no_new_privs, the seccomp filter, exec. When the
// payload exits, pid 1 exits and the kernel kills whatever else is left in the namespace; when
// the wall time runs out the launcher kills pid 1, with the same effect.
//
// Usage: lalo-sandbox [options] -- COMMAND [ARG...]
//   --workspace DIR      bound read-write at /workspace (the working directory); its files
//                        belong to the sandbox user inside, and what the sandbox creates is
//                        stored with the workspace owner's ids
//   --stage DIR          stage changes: /workspace is an overlay of the workspace, and every
//                        change lands in DIR/upper (overlayfs format); the workspace is untouched
//   --host-uid N         host uid (and gid) the sandbox user maps to; the sandbox's root maps
//                        to N+1 (default 200000; both must be unprivileged and unused)
//   --wall-ms N          wall-clock limit (default 10000)
//   --cpu-seconds N      RLIMIT_CPU              --memory-bytes N   cgroup memory limit
//   --pids N             cgroup pids limit       --fsize-bytes N    RLIMIT_FSIZE
//   --nofile N           RLIMIT_NOFILE           --tmpfs-bytes N    size of /tmp
//   --tmpfs-inodes N     inodes of /tmp          --output-bytes N   stdout and stderr kept, each
//   --cgroup-parent NAME cgroup the sandboxes' cgroups go under (default "lalo")
//   --run-dir DIR        where each --host-uid keeps its lock and the network namespace it
//                        reuses run after run (default /run/lalo-sandbox; "" keeps nothing)
//   --env NAME=VALUE     (repeatable)
// Standard input goes to the payload. Its stdout and stderr are copied to the launcher's, up
// to --output-bytes each; the rest is counted and dropped. The outcome is written as one JSON
// line to descriptor 3 if it is open:
//   {"exitCode":N|null,"signal":N|null,"timedOut":bool,"limit":"time"|"memory"|"pids"|
//    "fileSize"|"output"|null,"durationMicros":N,"cpuMicros":N,"memoryPeakBytes":N|null,
//    "stdoutBytes":N,"stderrBytes":N,"stdoutTruncated":bool,"stderrTruncated":bool,
//    "keptSlot":bool}   (whether the run used its slot's kept network namespace and cgroup)
// Exit status: the payload's, 128+signal when killed, 125 when the sandbox could not be built.

#define _GNU_SOURCE
#include "launcher.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct options opt = {
    .host_uid = 200000, .wall_ms = 10000, .cpu_seconds = 10, .memory_bytes = 512L << 20, .pids = 64,
    .fsize_bytes = 64L << 20, .nofile = 256, .tmpfs_bytes = 64L << 20, .tmpfs_inodes = 4096, .output_bytes = 1L << 20,
    .cgroup_parent = "lalo", .run_dir = "/run/lalo-sandbox",
};

/// Launcher → pid 1: "the id maps are written" (one byte).
static int go_pipe[2];
/// Launcher → payload: the seccomp program (EOF when complete).
static int filter_pipe[2];
/// Payload's stdout and stderr → launcher.
static int out_pipe[2], err_pipe[2];

void fail(const char *format, ...) {
    int saved = errno;
    va_list args;
    va_start(args, format);
    fprintf(stderr, "lalo-sandbox: ");
    vfprintf(stderr, format, args);
    if (saved) fprintf(stderr, ": %s", strerror(saved));
    fprintf(stderr, "\n");
    va_end(args);
    cgroup_abandon();
    _exit(125);
}

void write_id_maps(pid_t pid, const char *map) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/uid_map", (int)pid);
    write_file(path, map);
    snprintf(path, sizeof path, "/proc/%d/setgroups", (int)pid);
    write_file(path, "deny");
    snprintf(path, sizeof path, "/proc/%d/gid_map", (int)pid);
    write_file(path, map);
}

bool try_write_file(const char *path, const char *text) {
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return false;
    bool written = write(fd, text, strlen(text)) == (ssize_t)strlen(text);
    close(fd);
    return written;
}

void write_file(const char *path, const char *text) {
    if (!try_write_file(path, text)) fail("write %s", path);
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
        else if (strcmp(a, "--stage") == 0) opt.stage = v;
        else if (strcmp(a, "--host-uid") == 0) opt.host_uid = number(a, v);
        else if (strcmp(a, "--wall-ms") == 0) opt.wall_ms = number(a, v);
        else if (strcmp(a, "--cpu-seconds") == 0) opt.cpu_seconds = number(a, v);
        else if (strcmp(a, "--memory-bytes") == 0) opt.memory_bytes = number(a, v);
        else if (strcmp(a, "--pids") == 0) opt.pids = number(a, v);
        else if (strcmp(a, "--fsize-bytes") == 0) opt.fsize_bytes = number(a, v);
        else if (strcmp(a, "--nofile") == 0) opt.nofile = number(a, v);
        else if (strcmp(a, "--tmpfs-bytes") == 0) opt.tmpfs_bytes = number(a, v);
        else if (strcmp(a, "--tmpfs-inodes") == 0) opt.tmpfs_inodes = number(a, v);
        else if (strcmp(a, "--output-bytes") == 0) opt.output_bytes = number(a, v);
        else if (strcmp(a, "--run-dir") == 0) opt.run_dir = v;
        else if (strcmp(a, "--cgroup-parent") == 0) {
            if (!*v || strchr(v, '/') || strcmp(v, "..") == 0) { errno = 0; fail("--cgroup-parent must be a plain name"); }
            opt.cgroup_parent = v;
        } else if (strcmp(a, "--env") == 0) {
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
    if (opt.stage && !opt.workspace) { errno = 0; fail("--stage needs --workspace"); }
    if (opt.pids < 1 || opt.memory_bytes < (1L << 20) || opt.wall_ms < 1) { errno = 0; fail("limits too small"); }
    opt.argv = &argv[i];
}

static void set_limit2(int resource, long soft, long hard, const char *name) {
    struct rlimit limit = {.rlim_cur = (rlim_t)soft, .rlim_max = (rlim_t)hard};
    if (setrlimit(resource, &limit) != 0) fail("setrlimit %s", name);
}

static void set_limit(int resource, long value, const char *name) { set_limit2(resource, value, value, name); }

/// In the payload's process: the last steps before exec.
static void become_payload(void) {
    if (setsid() < 0) fail("setsid");
    if (dup2(out_pipe[1], 1) < 0 || dup2(err_pipe[1], 2) < 0) fail("dup2");
    // Descriptors 0-2 only (the filter pipe stays until the filter is read).
    int filter_fd = filter_pipe[0];
    if (filter_fd > 3) close_range(3, (unsigned)filter_fd - 1, 0);
    close_range((unsigned)filter_fd + 1, ~0U, 0);
    // SIGXCPU at the limit, SIGKILL a second later (equal soft and hard limits would race).
    set_limit2(RLIMIT_CPU, opt.cpu_seconds, opt.cpu_seconds + 1, "cpu");
    // The number of processes is the pids cgroup's; RLIMIT_NPROC counts per host uid, which
    // laloD gives each concurrent sandbox its own of: a looser second line, so that the cgroup
    // (which reports what it refused) is what stops a fork bomb.
    set_limit(RLIMIT_NPROC, 2 * opt.pids + 16, "pids");
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
    load_seccomp(filter_fd);
    close(filter_fd);
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

static const char *sandbox_workspace;

/// Pid 1 dies with the launcher, whatever kills it (the deadline is the launcher's to keep):
/// SIGKILL as the parent-death signal, which the kernel clears at every change of credentials, so
/// this is called again after each. Had the launcher died before, the go pipe says so: the
/// launcher holds its write end for as long as it lives.
static void die_with_launcher(void) {
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) _exit(125);
    struct pollfd launcher = {.fd = go_pipe[0], .events = POLLIN};
    if (poll(&launcher, 1, 0) != 0 && (launcher.revents & (POLLHUP | POLLERR | POLLNVAL))) _exit(125);
}

/// Pid 1 of the sandbox: builds the root, starts the payload, reaps everything, and exits with
/// the payload's status (taking every other process of the namespace with it).
static int sandbox_init(void *unused) {
    (void)unused;
    char go;
    if (slot_lock_fd() >= 0) close(slot_lock_fd());
    close(go_pipe[1]);
    close(filter_pipe[1]);
    close(out_pipe[0]);
    close(err_pipe[0]);
    die_with_launcher();
    if (read(go_pipe[0], &go, 1) != 1) _exit(125);  // the launcher writes the id maps first
    // Become the namespace's root (host uid --host-uid + 1): until now this process still had
    // host root's ids, which mean nothing inside and cannot own a file here.
    if (setresgid(0, 0, 0) != 0 || setresuid(0, 0, 0) != 0) fail("become the sandbox's root");
    die_with_launcher();
    if (sethostname("sandbox", 7) != 0) fail("sethostname");
    build_root(sandbox_workspace);
    pid_t payload = fork();
    if (payload < 0) fail("fork");
    if (payload == 0) become_payload();
    // The init's own privileges are not needed any more either, and the payload (same uid) may
    // not look into it.
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    for (int cap = 0; cap <= CAP_LAST_CAP; cap++) prctl(PR_CAPBSET_DROP, cap, 0, 0, 0);
    setresgid(SANDBOX_UID, SANDBOX_UID, SANDBOX_UID);
    setresuid(SANDBOX_UID, SANDBOX_UID, SANDBOX_UID);
    die_with_launcher();
    close_range(0, ~0U, 0);
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

/// One captured stream: copied to `to` up to the cap, the rest counted and dropped.
struct stream {
    int from, to;
    long long total, kept;
};

/// Reads what is there; false at end of file.
static bool pump(struct stream *s) {
    static char buffer[65536];
    ssize_t n = read(s->from, buffer, sizeof buffer);
    if (n < 0) return errno == EINTR || errno == EAGAIN;
    if (n == 0) return false;
    s->total += n;
    long long room = opt.output_bytes - s->kept;
    long long keep = n < room ? n : (room > 0 ? room : 0);
    for (long long written = 0; written < keep;) {
        ssize_t w = write(s->to, buffer + written, (size_t)(keep - written));
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) { s->to = -1; break; }  // nobody reads any more: keep counting
        written += w;
    }
    s->kept += keep;
    return true;
}

int main(int argc, char **argv) {
    // Whether the caller wants the report, before anything this program opens could take fd 3.
    bool report = fcntl(3, F_GETFD) >= 0;
    parse(argc, argv);
    if (geteuid() != 0) { errno = 0; fail("must run as root (it maps the sandbox user to --host-uid %ld)", opt.host_uid); }
    // Nothing of laloD's environment goes in: pid 1 of the sandbox is this process's child, and
    // the payload could read its environment through /proc/1/environ.
    clearenv();
    signal(SIGPIPE, SIG_IGN);
    long long start = now_micros();
    // Before prepare_workspace makes the launcher's mount namespace private: the slot's network
    // namespace is kept as a mount in the host's.
    bool slot_held = slot_acquire();
    cgroup_create(slot_held);
    // The slot's network namespace only together with the slot's cgroup, which was found empty:
    // every process of a sandbox is in its cgroup and cannot leave it, so no process of an
    // earlier run in this slot is left to share the namespace with.
    bool slot_network = cgroup_kept() && slot_enter_network();
    sandbox_workspace = prepare_workspace();
    if (pipe2(go_pipe, O_CLOEXEC) != 0 || pipe2(filter_pipe, O_CLOEXEC) != 0 || pipe2(out_pipe, O_CLOEXEC) != 0
        || pipe2(err_pipe, O_CLOEXEC) != 0)
        fail("pipe");
    static char stack[1 << 16] __attribute__((aligned(16)));
    int flags = CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP
        | SIGCHLD;
    if (slot_network) flags &= ~CLONE_NEWNET;
    pid_t child = clone(sandbox_init, stack + sizeof stack, flags, NULL);
    if (child < 0) fail("clone");
    close(go_pipe[0]);
    close(filter_pipe[0]);
    close(out_pipe[1]);
    close(err_pipe[1]);
    cgroup_enter(child);
    // Two unprivileged host ids and nothing else: the sandbox user (what the payload runs as and
    // what owns the files it writes) and, one above it, the sandbox's root, which only the
    // sandbox's own pid 1 uses while it builds the mounts. Host root is never mapped.
    char map[96];
    snprintf(map, sizeof map, "0 %ld 1\n%d %ld 1\n", opt.host_uid + 1, SANDBOX_UID, opt.host_uid);
    write_id_maps(child, map);
    if (write(go_pipe[1], "g", 1) != 1) fail("start the sandbox");
    // go_pipe[1] stays open while the launcher lives (see die_with_launcher).
    // While pid 1 builds the mounts: the seccomp program for the payload.
    export_seccomp(filter_pipe[1]);
    close(filter_pipe[1]);

    // Until pid 1 is gone and both streams are at their end; at the deadline, SIGKILL pid 1 and
    // with it the whole namespace, however its processes forked or detached.
    bool timed_out = false, exited = false;
    long long deadline = start + opt.wall_ms * 1000LL;
    int pidfd = (int)syscall(SYS_pidfd_open, child, 0);
    if (pidfd < 0) fail("pidfd_open");
    struct stream out = {.from = out_pipe[0], .to = 1}, err = {.from = err_pipe[0], .to = 2};
    bool out_open = true, err_open = true;
    while (!exited || out_open || err_open) {
        struct pollfd ready[3] = {
            {.fd = exited ? -1 : pidfd, .events = POLLIN},
            {.fd = out_open ? out.from : -1, .events = POLLIN},
            {.fd = err_open ? err.from : -1, .events = POLLIN},
        };
        long long left = deadline - now_micros();
        int n = poll(ready, 3, timed_out ? 1000 : (left > 0 ? (int)((left + 999) / 1000) : 0));
        if (n < 0 && errno != EINTR) fail("poll");
        if (n > 0) {
            if (ready[0].revents) exited = true;
            if (ready[1].revents && !pump(&out)) out_open = false;
            if (ready[2].revents && !pump(&err)) err_open = false;
        }
        if (!timed_out && !exited && now_micros() >= deadline) {
            timed_out = true;
            kill(child, SIGKILL);
        }
        // Once pid 1 is gone every process of the namespace is dying; the streams end with them.
        if (n == 0 && timed_out) break;
    }
    int status = 0;
    struct rusage usage = {0};
    while (wait4(child, &status, 0, &usage) < 0) {
        if (errno != EINTR) fail("waitpid");
    }
    close(pidfd);
    long long duration = now_micros() - start;
    long long memory_peak = -1;
    const char *limit = cgroup_finish(&memory_peak);
    int exit_code = -1, signal_number = -1;
    if (WIFEXITED(status)) {
        int code = WEXITSTATUS(status);
        if (code > 128 && code < 128 + 65) signal_number = code - 128; else exit_code = code;
    } else if (WIFSIGNALED(status)) {
        signal_number = WTERMSIG(status);
    }
    // The limit that explains the outcome, the most decisive first.
    long long cpu = (long long)usage.ru_utime.tv_sec * 1000000LL + usage.ru_utime.tv_usec
        + (long long)usage.ru_stime.tv_sec * 1000000LL + usage.ru_stime.tv_usec;
    bool cpu_spent = signal_number == SIGKILL && cpu >= opt.cpu_seconds * 1000000LL;
    if (timed_out || signal_number == SIGXCPU || cpu_spent) limit = "time";
    else if (limit && strcmp(limit, "memory") == 0) { /* killed by the OOM killer */ }
    else if (signal_number == SIGXFSZ) limit = "fileSize";
    else if (!limit && (out.total > out.kept || err.total > err.kept)) limit = "output";
    if (report) {
        char code_text[16] = "null", signal_text[16] = "null", limit_text[32] = "null", peak_text[32] = "null", line[768];
        if (exit_code >= 0) snprintf(code_text, sizeof code_text, "%d", exit_code);
        if (signal_number >= 0) snprintf(signal_text, sizeof signal_text, "%d", signal_number);
        if (limit) snprintf(limit_text, sizeof limit_text, "\"%s\"", limit);
        if (memory_peak >= 0) snprintf(peak_text, sizeof peak_text, "%lld", memory_peak);
        int n = snprintf(line, sizeof line,
                         "{\"exitCode\":%s,\"signal\":%s,\"timedOut\":%s,\"limit\":%s,\"durationMicros\":%lld,"
                         "\"cpuMicros\":%lld,\"memoryPeakBytes\":%s,\"stdoutBytes\":%lld,\"stderrBytes\":%lld,"
                         "\"stdoutTruncated\":%s,\"stderrTruncated\":%s,\"keptSlot\":%s}\n",
                         code_text, signal_text, timed_out ? "true" : "false", limit_text, duration, cpu, peak_text,
                         out.total, err.total, out.total > out.kept ? "true" : "false",
                         err.total > err.kept ? "true" : "false", slot_network && slot_network_kept() ? "true" : "false");
        if (write(3, line, (size_t)n) < 0) { /* the caller went away */ }
    }
    if (signal_number > 0) return 128 + signal_number;
    return exit_code < 0 ? 125 : exit_code;
}
