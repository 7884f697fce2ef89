// Memory and pids limits in a cgroup: cgroup v2 where the host has it, otherwise the v1 memory
// and pids controllers (this machine has only v1). rlimits cover the rest (CPU time, file size,
// open files); the pid namespace makes sure nothing outlives pid 1.
//
// A run that holds its slot (slot.c) uses the slot's cgroup, LALO_PARENT/slot-UID, which stays
// between runs: creating and removing a memory cgroup costs about half a millisecond a run,
// and a removed one lingers in the kernel as long as page cache is charged to it. What a run
// reports must then be its own: the event counters (pids refused, OOM kills) are read before and
// after, and the memory peak is reset at the start (v2 before Linux 6.12 cannot: no peak is
// reported then). Anything unexpected in a kept cgroup (a process still in it, a limit the
// kernel will not take) and the run falls back to a cgroup of its own, sbx-PID, removed at the
// end as before.
#define _GNU_SOURCE
#include "launcher.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static bool v2;
/// The launcher, which created the cgroups (fail() in a child must not remove them).
static pid_t owner;
/// The slot's cgroup is kept after the run; a run's own is removed.
static bool kept;
static char memory_dir[PATH_MAX], pids_dir[PATH_MAX];
/// Counters at the start of the run (-1: not read, a fresh cgroup starts at zero).
static long long pids_refused_before, oom_kills_before;
/// v2: memory.peak opened and reset at the start; reading it through the same descriptor gives
/// the peak since then.
static int peak_fd = -1;

static bool make_dir(const char *path) { return mkdir(path, 0755) == 0 || errno == EEXIST; }

static void require_dir(const char *path) {
    if (!make_dir(path)) {
        fail("create cgroup %s (laloD needs a writable cgroup file system: run it as root under systemd with Delegate=yes, "
             "or mount the memory and pids controllers)", path);
    }
}

static bool try_write(const char *dir, const char *file, const char *text) {
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    return try_write_file(path, text);
}

static bool set_value(const char *dir, const char *file, long long value) {
    char text[32];
    snprintf(text, sizeof text, "%lld", value);
    return try_write(dir, file, text);
}

/// The number after `key` in a "key value" file, or -1.
static long long read_key(const char *dir, const char *file, const char *key) {
    char path[PATH_MAX + 64], line[256];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    FILE *f = fopen(path, "re");
    if (!f) return -1;
    long long value = -1;
    size_t key_length = strlen(key);
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, key, key_length) == 0 && line[key_length] == ' ') {
            value = atoll(line + key_length + 1);
            break;
        }
    }
    fclose(f);
    return value;
}

static long long read_number(const char *dir, const char *file) {
    char path[PATH_MAX + 64], text[32] = {0};
    snprintf(path, sizeof path, "%s/%s", dir, file);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t n = read(fd, text, sizeof text - 1);
    close(fd);
    return n > 0 ? atoll(text) : -1;
}

/// No process in the cgroup (a kept cgroup must be empty before a run goes in).
static bool empty(const char *dir) {
    char path[PATH_MAX + 32], byte;
    snprintf(path, sizeof path, "%s/cgroup.procs", dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    ssize_t n = read(fd, &byte, 1);
    close(fd);
    return n == 0;
}

/// Enables the memory and pids controllers for the children of `dir` (v2).
static void delegate(const char *dir) {
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/cgroup.subtree_control", dir);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) fail("open %s", path);
    // Already enabled is fine; a failure shows up when the limits are written.
    if (write(fd, "+memory +pids", 13) < 0) { /* see above */ }
    close(fd);
}

/// v1 memory limit, with swap (memsw) where the kernel accounts it: memsw may never be below
/// the plain limit, so which goes first depends on whether the limit rises or falls.
static bool set_memory_v1(const char *dir, long long bytes) {
    char probe[PATH_MAX + 32];
    snprintf(probe, sizeof probe, "%s/memory.memsw.limit_in_bytes", dir);
    if (access(probe, F_OK) != 0) return set_value(dir, "memory.limit_in_bytes", bytes);
    if (bytes > read_number(dir, "memory.limit_in_bytes"))
        return set_value(dir, "memory.memsw.limit_in_bytes", bytes) && set_value(dir, "memory.limit_in_bytes", bytes);
    return set_value(dir, "memory.limit_in_bytes", bytes) && set_value(dir, "memory.memsw.limit_in_bytes", bytes);
}

/// Creates (or, when kept, takes over) the cgroups named `name` under the parents and sets the
/// limits; false when a kept cgroup cannot be used for this run.
static bool set_up(const char *name) {
    char parent[512];  // the parent is a plain name (at most NAME_MAX)
    if (v2) {
        snprintf(parent, sizeof parent, "/sys/fs/cgroup/%s", opt.cgroup_parent);
        delegate("/sys/fs/cgroup");
        require_dir(parent);
        delegate(parent);
        snprintf(memory_dir, sizeof memory_dir, "%s/%s", parent, name);
        pids_dir[0] = 0;
        require_dir(memory_dir);
        if (kept) {
            if (!empty(memory_dir)) return false;
            pids_refused_before = read_key(memory_dir, "pids.events", "max");
            oom_kills_before = read_key(memory_dir, "memory.events", "oom_kill");
            char path[PATH_MAX + 32];
            snprintf(path, sizeof path, "%s/memory.peak", memory_dir);
            peak_fd = open(path, O_RDWR | O_CLOEXEC);
            // Resetting the peak through a descriptor is Linux 6.12 and later; before that the
            // run reports no peak rather than the slot's.
            if (peak_fd >= 0 && write(peak_fd, "reset\n", 6) != 6) {
                close(peak_fd);
                peak_fd = -1;
            }
        }
        return set_value(memory_dir, "memory.max", opt.memory_bytes) && set_value(memory_dir, "memory.swap.max", 0)
            && set_value(memory_dir, "pids.max", opt.pids);
    }
    snprintf(parent, sizeof parent, "/sys/fs/cgroup/memory/%s", opt.cgroup_parent);
    require_dir(parent);
    snprintf(memory_dir, sizeof memory_dir, "%s/%s", parent, name);
    require_dir(memory_dir);
    snprintf(parent, sizeof parent, "/sys/fs/cgroup/pids/%s", opt.cgroup_parent);
    require_dir(parent);
    snprintf(pids_dir, sizeof pids_dir, "%s/%s", parent, name);
    require_dir(pids_dir);
    if (kept) {
        if (!empty(memory_dir) || !empty(pids_dir)) return false;
        pids_refused_before = read_key(pids_dir, "pids.events", "max");
        oom_kills_before = read_key(memory_dir, "memory.oom_control", "oom_kill");
        if (!set_value(memory_dir, "memory.max_usage_in_bytes", 0)) return false;
    }
    return set_memory_v1(memory_dir, opt.memory_bytes) && set_value(pids_dir, "pids.max", opt.pids);
}

void cgroup_create(bool slot_held) {
    v2 = access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0;
    owner = getpid();
    char name[64];
    if (slot_held) {
        kept = true;
        snprintf(name, sizeof name, "slot-%ld", opt.host_uid);
        if (set_up(name)) return;
        if (peak_fd >= 0) close(peak_fd);
        peak_fd = -1;
    }
    kept = false;
    pids_refused_before = oom_kills_before = -1;
    snprintf(name, sizeof name, "sbx-%d", (int)getpid());
    if (!set_up(name)) fail("set the limits of cgroup %s", memory_dir);
}

bool cgroup_kept(void) { return kept; }

void cgroup_enter(pid_t pid) {
    char text[32];
    snprintf(text, sizeof text, "%d", (int)pid);
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/cgroup.procs", memory_dir);
    write_file(path, text);
    if (!v2) {
        snprintf(path, sizeof path, "%s/cgroup.procs", pids_dir);
        write_file(path, text);
    }
}

static void remove_dir(const char *dir) {
    if (!dir[0]) return;
    // The last process may still be leaving the cgroup for a moment after pid 1 was reaped.
    for (int attempt = 0; attempt < 200; attempt++) {
        if (rmdir(dir) == 0 || errno == ENOENT) return;
        if (errno != EBUSY) break;
        struct timespec pause = {.tv_sec = 0, .tv_nsec = 500000};
        nanosleep(&pause, NULL);
    }
    fprintf(stderr, "lalo-sandbox: could not remove cgroup %s: %s\n", dir, strerror(errno));
}

/// True when `after` went past the count at the start of the run.
static bool rose(long long after, long long before) { return after > (before > 0 ? before : 0); }

const char *cgroup_finish(long long *memory_peak) {
    const char *hit = NULL;
    if (rose(read_key(v2 ? memory_dir : pids_dir, "pids.events", "max"), pids_refused_before)) hit = "pids";
    long long oom = v2 ? read_key(memory_dir, "memory.events", "oom_kill") : read_key(memory_dir, "memory.oom_control", "oom_kill");
    if (rose(oom, oom_kills_before)) hit = "memory";
    *memory_peak = -1;
    if (peak_fd >= 0) {
        char text[32] = {0};
        if (pread(peak_fd, text, sizeof text - 1, 0) > 0) *memory_peak = atoll(text);
        close(peak_fd);
        peak_fd = -1;
    } else if (!(kept && v2)) {
        *memory_peak = read_number(memory_dir, v2 ? "memory.peak" : "memory.max_usage_in_bytes");
    }
    if (!kept) {
        remove_dir(memory_dir);
        if (!v2) remove_dir(pids_dir);
    }
    return hit;
}

void cgroup_abandon(void) {
    if (!owner || getpid() != owner || kept) return;
    owner = 0;
    if (memory_dir[0]) rmdir(memory_dir);
    if (pids_dir[0]) rmdir(pids_dir);
}
