// Shared between the parts of lalo-sandbox (see main.c for what the program does).
#ifndef LALO_LAUNCHER_H
#define LALO_LAUNCHER_H

#include <stdbool.h>
#include <sys/types.h>

#if !defined(__GLIBC__)
/// musl 1.2.3 has the system call but no wrapper (musl.c).
int close_range(unsigned first, unsigned last, int flags);
#endif

#define SANDBOX_UID 1000
#define MAX_ENV 64

struct options {
    const char *workspace;  // bound at /workspace
    const char *stage;      // when set: /workspace is an overlay whose upper layer is STAGE/upper
    long host_uid;
    long wall_ms;
    long cpu_seconds, memory_bytes, pids, fsize_bytes, nofile, tmpfs_bytes, tmpfs_inodes, output_bytes;
    const char *cgroup_parent;
    const char *run_dir;    // where slots keep their lock and network namespace (slot.c); "" for none
    char *env[MAX_ENV + 1];
    int env_count;
    char **argv;
};

extern struct options opt;

/// Prints "lalo-sandbox: MESSAGE[: errno text]" and exits 125 (the sandbox could not be built).
void fail(const char *format, ...) __attribute__((format(printf, 1, 2), noreturn));
void write_file(const char *path, const char *text);
/// Writes `text` to the existing file `path`; false if it cannot.
bool try_write_file(const char *path, const char *text);
/// Writes `map` as the uid and gid map of `pid`'s user namespace, with setgroups denied.
void write_id_maps(pid_t pid, const char *map);

// root.c: the file system the payload sees.
/// In the launcher, before the sandbox exists: a private mount namespace in which the workspace
/// is replaced by an id-mapped view of itself (files owned by host uid 0 — laloD's — belong to
/// the sandbox user inside; what the sandbox creates is stored as uid 0 on the host) and,
/// with --stage, an overlay over that view. Returns the directory the sandbox binds at /workspace.
const char *prepare_workspace(void);
/// In the sandbox's pid 1: the new root, pivoted into and read-only.
void build_root(const char *workspace);

// filter.c: the seccomp filter.
void export_seccomp(int fd);
void load_seccomp(int fd);

// slot.c: what a --host-uid keeps between runs.
/// Takes the slot's lock; false when the run must keep nothing (lock taken, no run directory).
bool slot_acquire(void);
/// Owned by root and writable by nobody else.
struct stat;
bool root_alone(const struct stat *st);
/// Whether --run-dir is root's own directory, writable by nobody else (the filter cache may be
/// read from it).
bool run_dir_trusted(void);
/// The lock's descriptor (-1 without one), which the sandbox's processes close.
int slot_lock_fd(void);
/// With the lock: moves the launcher into the slot's network namespace, creating and keeping it
/// the first time. True when the sandbox must not get a network namespace of its own.
bool slot_enter_network(void);
/// Whether that namespace is the slot's kept one (false when it could not be kept).
bool slot_network_kept(void);

// cgroup.c: memory and pids limits in a cgroup (v2, or v1 controllers): the slot's, kept
// between runs, when `slot_held`, or else one of the run's own.
void cgroup_create(bool slot_held);
/// Whether the run uses the slot's kept cgroup.
bool cgroup_kept(void);
void cgroup_enter(pid_t pid);
/// Which cgroup limit was hit ("memory", "pids") during this run or NULL; then a run's own
/// cgroups are removed.
const char *cgroup_finish(long long *memory_peak);
/// After a failure in the launcher: removes what cgroup_create made.
void cgroup_abandon(void);

#endif
