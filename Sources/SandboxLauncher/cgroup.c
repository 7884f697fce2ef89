// Memory and pids limits in a cgroup of the sandbox's own: cgroup v2 where the host has it,
// otherwise the v1 memory and pids controllers (this machine has only v1). rlimits cover the
// rest (CPU time, file size, open files); the pid namespace makes sure nothing outlives pid 1.
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
static char memory_dir[PATH_MAX], pids_dir[PATH_MAX];

static void make_dir(const char *path) {
    if (mkdir(path, 0755) != 0 && errno != EEXIST) {
        fail("create cgroup %s (laloD needs a writable cgroup file system: run it as root under systemd with Delegate=yes, "
             "or mount the memory and pids controllers)", path);
    }
}

static void set_value(const char *dir, const char *file, long long value) {
    char path[PATH_MAX + 64], text[32];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    snprintf(text, sizeof text, "%lld", value);
    write_file(path, text);
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

void cgroup_create(void) {
    v2 = access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0;
    owner = getpid();
    char name[64];
    snprintf(name, sizeof name, "sbx-%d", (int)getpid());
    if (v2) {
        char parent[PATH_MAX];
        snprintf(parent, sizeof parent, "/sys/fs/cgroup/%s", opt.cgroup_parent);
        delegate("/sys/fs/cgroup");
        make_dir(parent);
        delegate(parent);
        snprintf(memory_dir, sizeof memory_dir, "%s/%s", parent, name);
        make_dir(memory_dir);
        set_value(memory_dir, "memory.max", opt.memory_bytes);
        set_value(memory_dir, "memory.swap.max", 0);
        set_value(memory_dir, "pids.max", opt.pids);
        return;
    }
    char parent[PATH_MAX];
    snprintf(parent, sizeof parent, "/sys/fs/cgroup/memory/%s", opt.cgroup_parent);
    make_dir(parent);
    snprintf(memory_dir, sizeof memory_dir, "%s/%s", parent, name);
    make_dir(memory_dir);
    set_value(memory_dir, "memory.limit_in_bytes", opt.memory_bytes);
    // Swap counts too where the kernel accounts it (memsw must be set after the plain limit).
    if (access("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes", F_OK) == 0)
        set_value(memory_dir, "memory.memsw.limit_in_bytes", opt.memory_bytes);
    snprintf(parent, sizeof parent, "/sys/fs/cgroup/pids/%s", opt.cgroup_parent);
    make_dir(parent);
    snprintf(pids_dir, sizeof pids_dir, "%s/%s", parent, name);
    make_dir(pids_dir);
    set_value(pids_dir, "pids.max", opt.pids);
}

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

const char *cgroup_finish(long long *memory_peak) {
    const char *hit = NULL;
    const char *pids_events_dir = v2 ? memory_dir : pids_dir;
    if (read_key(pids_events_dir, "pids.events", "max") > 0) hit = "pids";
    long long oom = v2 ? read_key(memory_dir, "memory.events", "oom_kill") : read_key(memory_dir, "memory.oom_control", "oom_kill");
    if (oom > 0) hit = "memory";
    *memory_peak = -1;
    char path[PATH_MAX + 64], text[32] = {0};
    snprintf(path, sizeof path, "%s/%s", memory_dir, v2 ? "memory.peak" : "memory.max_usage_in_bytes");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        if (read(fd, text, sizeof text - 1) > 0) *memory_peak = atoll(text);
        close(fd);
    }
    remove_dir(memory_dir);
    if (!v2) remove_dir(pids_dir);
    return hit;
}

void cgroup_abandon(void) {
    if (!owner || getpid() != owner) return;
    owner = 0;
    if (memory_dir[0]) rmdir(memory_dir);
    if (pids_dir[0]) rmdir(pids_dir);
}
