#define _GNU_SOURCE
#include "sandbox_policy.h"

#include <errno.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <fcntl.h>

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

const lalo_denied_syscall lalo_denied_syscalls[] = {
    // Namespaces and mounts.
    {"unshare", EPERM}, {"setns", EPERM}, {"mount", EPERM}, {"umount", EPERM}, {"umount2", EPERM},
    {"pivot_root", EPERM}, {"chroot", EPERM}, {"move_mount", EPERM}, {"open_tree", EPERM}, {"fsopen", EPERM},
    {"fsmount", EPERM}, {"fsconfig", EPERM}, {"fspick", EPERM}, {"mount_setattr", EPERM},
    // Looking into or driving other processes.
    {"ptrace", EPERM}, {"process_vm_readv", EPERM}, {"process_vm_writev", EPERM}, {"kcmp", EPERM},
    {"pidfd_getfd", EPERM},
    // Kernel keyrings.
    {"keyctl", EPERM}, {"add_key", EPERM}, {"request_key", EPERM},
    // bpf, perf, io_uring, userfaultfd.
    {"bpf", EPERM}, {"perf_event_open", EPERM}, {"io_uring_setup", EPERM}, {"io_uring_enter", EPERM},
    {"io_uring_register", EPERM}, {"userfaultfd", EPERM},
    // Modules, reboot, kexec.
    {"init_module", EPERM}, {"finit_module", EPERM}, {"delete_module", EPERM}, {"create_module", EPERM},
    {"reboot", EPERM}, {"kexec_load", EPERM}, {"kexec_file_load", EPERM},
    // Host-wide state.
    {"swapon", EPERM}, {"swapoff", EPERM}, {"acct", EPERM}, {"settimeofday", EPERM}, {"clock_settime", EPERM},
    {"clock_adjtime", EPERM}, {"adjtimex", EPERM}, {"quotactl", EPERM}, {"lookup_dcookie", EPERM},
    {"syslog", EPERM}, {"personality", EPERM}, {"open_by_handle_at", EPERM}, {"name_to_handle_at", EPERM},
    {"vhangup", EPERM}, {"iopl", EPERM}, {"ioperm", EPERM}, {"fanotify_init", EPERM},
    // openat2 keeps its mode in a struct the filter cannot read, so the set-id rule below could
    // not see it; ENOSYS makes callers fall back to openat, which it can.
    {"openat2", ENOSYS},
};
const int lalo_denied_syscall_count = sizeof lalo_denied_syscalls / sizeof lalo_denied_syscalls[0];

const uint64_t lalo_denied_clone_flags[] = {
    CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWCGROUP, CLONE_NEWTIME,
};
const int lalo_denied_clone_flag_count = sizeof lalo_denied_clone_flags / sizeof lalo_denied_clone_flags[0];

const int lalo_clone3_error = ENOSYS;
const int lalo_allowed_socket_family = AF_UNIX;
const int lalo_socket_error = EAFNOSUPPORT;
const uint64_t lalo_denied_ioctl_request = TIOCSTI;

lalo_denied_syscall lalo_denied_syscall_at(int index) { return lalo_denied_syscalls[index]; }
uint64_t lalo_denied_clone_flag_at(int index) { return lalo_denied_clone_flags[index]; }

const lalo_mode_syscall lalo_mode_syscalls[] = {
    {"chmod", 1, -1}, {"fchmod", 1, -1}, {"fchmodat", 2, -1}, {"fchmodat2", 2, -1}, {"creat", 1, -1},
    {"mknod", 1, -1}, {"mknodat", 2, -1}, {"open", 2, 1}, {"openat", 3, 2},
};
const int lalo_mode_syscall_count = sizeof lalo_mode_syscalls / sizeof lalo_mode_syscalls[0];
const uint64_t lalo_denied_mode_bits[] = {S_ISUID, S_ISGID};
const int lalo_denied_mode_bit_count = 2;
const uint64_t lalo_o_creat = O_CREAT;

lalo_mode_syscall lalo_mode_syscall_at(int index) { return lalo_mode_syscalls[index]; }
