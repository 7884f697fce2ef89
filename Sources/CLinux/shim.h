#ifndef LALO_CLINUX_SHIM_H
#define LALO_CLINUX_SHIM_H
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/xattr.h>

/// openat2(2) has no glibc wrapper and syscall(2) is variadic, which Swift cannot call.
static inline int lalo_openat2(int dirfd, const char *path, unsigned long long flags, unsigned long long mode,
                               unsigned long long resolve) {
    struct open_how how = { .flags = flags, .mode = mode, .resolve = resolve };
    return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
}

/// renameat2(2) is declared by glibc only under _GNU_SOURCE.
static inline int lalo_renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, unsigned int flags) {
    return (int)syscall(SYS_renameat2, olddirfd, oldpath, newdirfd, newpath, flags);
}

#ifndef O_PATH
#define O_PATH 010000000
#endif
/// O_PATH is hidden behind _GNU_SOURCE in glibc's headers.
static const int LALO_O_PATH = O_PATH;

static const unsigned long long LALO_RESOLVE_BENEATH = RESOLVE_BENEATH;
static const unsigned long long LALO_RESOLVE_NO_SYMLINKS = RESOLVE_NO_SYMLINKS;
static const unsigned long long LALO_RESOLVE_NO_MAGICLINKS = RESOLVE_NO_MAGICLINKS;
static const unsigned long long LALO_RESOLVE_NO_XDEV = RESOLVE_NO_XDEV;
static const unsigned int LALO_RENAME_NOREPLACE = RENAME_NOREPLACE;
static const unsigned int LALO_RENAME_EXCHANGE = RENAME_EXCHANGE;

/// copy_file_range(2) and syncfs(2) are declared only under _GNU_SOURCE.
static inline long lalo_copy_file_range(int in, int out, size_t length) {
    return syscall(SYS_copy_file_range, in, NULL, out, NULL, length, 0);
}
static inline int lalo_syncfs(int fd) { return (int)syscall(SYS_syncfs, fd); }

/// The overlayfs attribute that hides a lower directory's entries under an upper one.
static inline int lalo_set_opaque(int fd) { return fsetxattr(fd, "trusted.overlay.opaque", "y", 1, 0); }
static inline int lalo_is_opaque(int fd) {
    char value[2];
    ssize_t n = fgetxattr(fd, "trusted.overlay.opaque", value, sizeof value);
    return n == 1 && value[0] == 'y';
}

/// pipe2(2) is declared only under _GNU_SOURCE.
static inline int lalo_pipe2(int fds[2], int flags) { return (int)syscall(SYS_pipe2, fds, flags); }

/// posix_spawn_file_actions_addclosefrom_np (glibc 2.34) is declared only under _GNU_SOURCE.
extern int posix_spawn_file_actions_addclosefrom_np(posix_spawn_file_actions_t *, int);
static inline int lalo_spawn_addclosefrom(posix_spawn_file_actions_t *actions, int from) {
    return posix_spawn_file_actions_addclosefrom_np(actions, from);
}

/// prctl is variadic.
static inline int lalo_seccomp_mode(void) { return prctl(PR_GET_SECCOMP, 0, 0, 0, 0); }
#endif
