// What a slot (a --host-uid) keeps between runs: its network namespace and its cgroup
// (cgroup.c). Creating a network namespace and tearing it down again costs about a millisecond
// of CPU a run on a small machine, most of it in the kernel's deferred cleanup, which then
// competes with the next run; a memory cgroup costs about half that. laloD runs one sandbox per
// slot at a time and reuses a handful of slots, so each is created once and kept.
//
// One run per slot: the launcher holds an exclusive lock on RUN_DIR/slot-UID.lock for its
// lifetime. When the lock is taken (two launchers given the same --host-uid), the run directory
// is unusable or --run-dir is empty, the run gets a namespace and a cgroup of its own instead.
//
// Reusing the network namespace is safe because nothing of a run is left in it: the launcher
// creates it as host root, so no sandbox's user namespace has any capability over it (it cannot
// even bring its loopback device up); the payload's seccomp filter allows AF_UNIX sockets only;
// and when a run ends every process of it, and with them every socket, abstract names included,
// is gone. It is kept as an nsfs bind mount at RUN_DIR/net-UID, as `ip netns` does.
#define _GNU_SOURCE
#include "launcher.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

static int lock_fd = -1;
static bool trusted, network_kept;

bool slot_network_kept(void) { return network_kept; }

bool root_alone(const struct stat *st) { return st->st_uid == 0 && !(st->st_mode & 022); }

/// `path` and every directory above it are directories of root's that nobody else may write
/// (no symbolic link on the way), so that nobody but root can swap anything in it later.
static bool root_only(const char *path) {
    char prefix[PATH_MAX];
    size_t length = strlen(path);
    if (path[0] != '/' || length >= sizeof prefix) return false;
    // "/", then the path up to each further slash, then the whole path.
    for (size_t end = 0; end <= length; end++) {
        if (end > 0 && ((end < length && path[end] != '/') || path[end - 1] == '/')) continue;
        size_t n = end == 0 ? 1 : end;
        memcpy(prefix, path, n);
        prefix[n] = 0;
        struct stat st;
        if (lstat(prefix, &st) != 0 || !S_ISDIR(st.st_mode) || !root_alone(&st)) return false;
    }
    return true;
}

int slot_lock_fd(void) { return lock_fd; }

bool run_dir_trusted(void) { return trusted; }

bool slot_acquire(void) {
    if (!opt.run_dir || !*opt.run_dir) return false;
    if (mkdir(opt.run_dir, 0700) != 0 && errno != EEXIST) return false;
    // Root's own directory, on a path only root can change, or nothing in it is trusted.
    if (!root_only(opt.run_dir)) return false;
    trusted = true;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/slot-%ld.lock", opt.run_dir, opt.host_uid);
    int fd = open(path, O_CREAT | O_RDWR | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) return false;
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        close(fd);
        return false;
    }
    lock_fd = fd;
    return true;
}

/// A network namespace other than the launcher's own (never the host's).
static bool usable(int fd) {
    struct stat ns, own;
    return ioctl(fd, NS_GET_NSTYPE) == CLONE_NEWNET && fstat(fd, &ns) == 0 && stat("/proc/self/ns/net", &own) == 0
        && (ns.st_ino != own.st_ino || ns.st_dev != own.st_dev);
}

bool slot_enter_network(void) {
    if (lock_fd < 0) return false;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/net-%ld", opt.run_dir, opt.host_uid);
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0) {
        bool entered = usable(fd) && setns(fd, CLONE_NEWNET) == 0;
        close(fd);
        if (entered) return network_kept = true;
        umount2(path, MNT_DETACH | UMOUNT_NOFOLLOW);  // not what it should be: replaced below
    }
    // A new namespace for the launcher (the sandbox's pid 1 inherits it), kept for the next run.
    if (unshare(CLONE_NEWNET) != 0) fail("unshare the network namespace");
    fd = open(path, O_CREAT | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) return true;  // this run has its namespace; it is just not kept
    close(fd);
    network_kept = mount("/proc/self/ns/net", path, NULL, MS_BIND, NULL) == 0;
    return true;
}
