// The payload's file system: a tmpfs root with the host's system directories read-only, a fresh
// /proc, a minimal /dev, a size-limited /tmp and the workspace (id-mapped, optionally staged).
#define _GNU_SOURCE
#include "launcher.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/mount.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void write_file_new(const char *path, const char *text) {
    int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
    if (fd < 0) fail("create %s", path);
    if (write(fd, text, strlen(text)) != (ssize_t)strlen(text)) fail("write %s", path);
    close(fd);
}

/// A user namespace that maps id 0 to the sandbox user's host id: the id mapping of the
/// workspace mount. A file owned by the workspace's owner (id 0 on disk, laloD's files) shows
/// as the sandbox user's; what the sandbox user creates is stored as id 0.
static int idmap_namespace(void) {
    int ready[2];
    if (pipe2(ready, O_CLOEXEC) != 0) fail("pipe");
    pid_t holder = fork();
    if (holder < 0) fail("fork");
    if (holder == 0) {
        char byte = 0;
        if (unshare(CLONE_NEWUSER) != 0) _exit(1);
        if (write(ready[1], &byte, 1) != 1) _exit(1);
        pause();
        _exit(0);
    }
    close(ready[1]);
    char byte, path[64], map[64];
    if (read(ready[0], &byte, 1) != 1) fail("user namespace for the workspace's id mapping");
    close(ready[0]);
    snprintf(map, sizeof map, "0 %ld 1\n", opt.host_uid);
    write_id_maps(holder, map);
    snprintf(path, sizeof path, "/proc/%d/ns/user", holder);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) fail("open %s", path);
    kill(holder, SIGKILL);
    waitpid(holder, NULL, 0);
    return fd;
}

/// Where the sandbox finds its workspace: a tmpfs over /tmp in the launcher's private mount
/// namespace (the sandbox's pid 1 later puts its own root over /tmp), so that pid 1, which is
/// only the sandbox's root and cannot search laloD's 0700 directories, can reach it.
#define WORKSPACE_MOUNT "/tmp/workspace"
#define LOWER_MOUNT "/tmp/lower"

const char *prepare_workspace(void) {
    if (!opt.workspace) return NULL;
    struct stat st;
    if (stat(opt.workspace, &st) != 0 || !S_ISDIR(st.st_mode)) fail("workspace %s", opt.workspace);
    if (unshare(CLONE_NEWNS) != 0) fail("unshare the launcher's mount namespace");
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) fail("make / private");
    int userns = idmap_namespace();
    int tree = (int)syscall(SYS_open_tree, AT_FDCWD, opt.workspace, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
    if (tree < 0) fail("open_tree %s", opt.workspace);
    struct mount_attr attr = {.attr_set = MOUNT_ATTR_IDMAP | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, .userns_fd = (unsigned)userns};
    if (syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH, &attr, sizeof attr) != 0) fail("id-map the workspace");
    close(userns);
    // The upper and work directories are opened before /tmp (where they may live) is covered.
    int upper_fd = -1, work_fd = -1;
    if (opt.stage) {
        char upper[PATH_MAX], work[PATH_MAX];
        snprintf(upper, sizeof upper, "%s/upper", opt.stage);
        snprintf(work, sizeof work, "%s/work", opt.stage);
        const char *dirs[] = {upper, work};
        for (int i = 0; i < 2; i++) {
            if (mkdir(dirs[i], 0700) != 0 && errno != EEXIST) fail("mkdir %s", dirs[i]);
        }
        if (chown(upper, (uid_t)opt.host_uid, (gid_t)opt.host_uid) != 0 || chmod(upper, 0755) != 0) fail("chown %s", upper);
        upper_fd = open(upper, O_PATH | O_DIRECTORY | O_CLOEXEC);
        work_fd = open(work, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (upper_fd < 0 || work_fd < 0) fail("open %s", opt.stage);
    }
    if (mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "size=64k,mode=0755") != 0) fail("tmpfs for the workspace");
    if (mkdir(WORKSPACE_MOUNT, 0755) != 0) fail("mkdir " WORKSPACE_MOUNT);
    if (!opt.stage) {
        if (syscall(SYS_move_mount, tree, "", AT_FDCWD, WORKSPACE_MOUNT, MOVE_MOUNT_F_EMPTY_PATH) != 0) fail("move_mount workspace");
        close(tree);
        return WORKSPACE_MOUNT;
    }
    if (mkdir(LOWER_MOUNT, 0755) != 0) fail("mkdir " LOWER_MOUNT);
    if (syscall(SYS_move_mount, tree, "", AT_FDCWD, LOWER_MOUNT, MOVE_MOUNT_F_EMPTY_PATH) != 0) fail("move_mount workspace");
    close(tree);

    // Staged: the workspace is the lower layer and everything the sandbox changes lands in
    // STAGE/upper (overlayfs format: whiteouts for deletions) for laloD to diff, commit or
    // discard. The upper layer's root belongs to the sandbox user so it may create files at the
    // top; redirect_dir, metacopy and index stay off so the upper layer is a plain tree.
    char options[256];
    snprintf(options, sizeof options,
             "lowerdir=" LOWER_MOUNT ",upperdir=/proc/self/fd/%d,workdir=/proc/self/fd/%d,redirect_dir=off,metacopy=off,index=off,xino=off",
             upper_fd, work_fd);
    if (mount("overlay", WORKSPACE_MOUNT, "overlay", MS_NOSUID | MS_NODEV, options) != 0) fail("overlay with upper layer %s/upper", opt.stage);
    close(upper_fd);
    close(work_fd);
    return WORKSPACE_MOUNT;
}

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

void build_root(const char *workspace) {
    // The workspace is opened before anything is mounted over the path it lives under.
    int workspace_fd = -1;
    if (workspace) {
        workspace_fd = open(workspace, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (workspace_fd < 0) fail("open workspace %s", workspace);
    }
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
        if (mount(source, "workspace", NULL, MS_BIND | MS_REC, NULL) != 0) fail("bind workspace %s", workspace);
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

