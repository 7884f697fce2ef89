// The payload's file system: a tmpfs root with the host's system directories read-only, a fresh
// /proc, a minimal /dev, a size-limited /tmp and the workspace (id-mapped, optionally staged).
#define _GNU_SOURCE
#include <dirent.h>
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
#define OVERFLOW_ID 65534

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
    char byte, path[64], map[96];
    if (read(ready[0], &byte, 1) != 1) fail("user namespace for the workspace's id mapping");
    close(ready[0]);
    // Also disk id 65534 (nobody) as 0: overlayfs does its own work (whiteouts, the work
    // directory) as the mounter, id 0, and in the id-mapped stage an id without a mapping cannot
    // be stored at all (EOVERFLOW). The same fixed id for every slot, so that a whiteout one run
    // left is still mapped in the next, whichever slot runs it.
    snprintf(map, sizeof map, "0 %ld 1\n%d 0 1\n", opt.host_uid, OVERFLOW_ID);
    write_id_maps(holder, map);
    snprintf(path, sizeof path, "/proc/%d/ns/user", holder);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) fail("open %s", path);
    kill(holder, SIGKILL);
    waitpid(holder, NULL, 0);
    return fd;
}

/// Removes `name` under `dirfd` and everything beneath it, never following a symbolic link.
static void remove_tree(int dirfd, const char *name) {
    int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0) {
        DIR *dir = fdopendir(fd);
        if (!dir) fail("fdopendir %s", name);
        struct dirent *entry;
        while ((entry = readdir(dir))) {
            if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0) continue;
            if (entry->d_type == DT_DIR) remove_tree(fd, entry->d_name);
            else if (unlinkat(fd, entry->d_name, 0) != 0 && errno == EISDIR) remove_tree(fd, entry->d_name);
        }
        closedir(dir);
        if (unlinkat(dirfd, name, AT_REMOVEDIR) != 0 && errno != ENOENT) fail("remove %s", name);
    } else if (errno != ENOENT) {
        if (unlinkat(dirfd, name, 0) != 0 && errno != ENOENT) fail("remove %s", name);
    }
}

/// Where the sandbox finds its workspace: a tmpfs over /tmp in the launcher's private mount
/// namespace (the sandbox's pid 1 later puts its own root over /tmp), so that pid 1, which is
/// only the sandbox's root and cannot search laloD's 0700 directories, can reach it.
#define WORKSPACE_MOUNT "/tmp/workspace"
#define LOWER_MOUNT "/tmp/lower"
#define STAGE_MOUNT "/tmp/stage"

const char *prepare_workspace(void) {
    if (!opt.workspace) return NULL;
    if (opt.host_uid == OVERFLOW_ID) fail("--host-uid %d is the overflow id", OVERFLOW_ID);
    struct stat st;
    if (stat(opt.workspace, &st) != 0 || !S_ISDIR(st.st_mode)) fail("workspace %s", opt.workspace);
    if (unshare(CLONE_NEWNS) != 0) fail("unshare the launcher's mount namespace");
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) fail("make / private");
    int userns = idmap_namespace();
    int tree = (int)syscall(SYS_open_tree, AT_FDCWD, opt.workspace, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
    if (tree < 0) fail("open_tree %s", opt.workspace);
    struct mount_attr attr = {.attr_set = MOUNT_ATTR_IDMAP | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, .userns_fd = (unsigned)userns};
    if (syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH, &attr, sizeof attr) != 0) fail("id-map the workspace");
    // The stage (upper and work directories) is id-mapped like the workspace: what the sandbox
    // writes there is stored as the workspace owner's, whatever slot ran it, so a later run in
    // another slot, and laloD's own staged writes (root, 0600), read and write the same files.
    int stage_tree = -1;
    if (opt.stage) {
        char upper[PATH_MAX], work[PATH_MAX];
        snprintf(upper, sizeof upper, "%s/upper", opt.stage);
        snprintf(work, sizeof work, "%s/work", opt.stage);
        // The work directory is overlayfs's scratch space; what an earlier run (another slot,
        // whose id this mount does not map) left there would make the mount fall back to
        // read-only, so every run starts with an empty one.
        remove_tree(AT_FDCWD, work);
        const char *dirs[] = {upper, work};
        for (int i = 0; i < 2; i++) {
            if (mkdir(dirs[i], 0700) != 0 && errno != EEXIST) fail("mkdir %s", dirs[i]);
        }
        stage_tree = (int)syscall(SYS_open_tree, AT_FDCWD, opt.stage, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
        if (stage_tree < 0) fail("open_tree %s", opt.stage);
        if (syscall(SYS_mount_setattr, stage_tree, "", AT_EMPTY_PATH, &attr, sizeof attr) != 0) fail("id-map the stage");
    }
    close(userns);
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
    if (mkdir(STAGE_MOUNT, 0755) != 0) fail("mkdir " STAGE_MOUNT);
    if (syscall(SYS_move_mount, stage_tree, "", AT_FDCWD, STAGE_MOUNT, MOVE_MOUNT_F_EMPTY_PATH) != 0) fail("move_mount stage");
    close(stage_tree);

    // Staged: the workspace is the lower layer and everything the sandbox changes lands in
    // STAGE/upper (overlayfs format: whiteouts for deletions) for laloD to diff, commit or
    // discard; redirect_dir, metacopy and index stay off so the upper layer is a plain tree.
    const char *options = "lowerdir=" LOWER_MOUNT ",upperdir=" STAGE_MOUNT "/upper,workdir=" STAGE_MOUNT "/work,"
                          "redirect_dir=off,metacopy=off,index=off,xino=off";
    if (mount("overlay", WORKSPACE_MOUNT, "overlay", MS_NOSUID | MS_NODEV, options) != 0) fail("overlay with upper layer %s/upper", opt.stage);
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

