// What the launcher needs beyond musl when scripts/build-launcher.sh links it against musl.
// Nothing when it is built against glibc.
#define _GNU_SOURCE
#include <features.h>
#if !defined(__GLIBC__)
#include "launcher.h"

#include <stdarg.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

int close_range(unsigned first, unsigned last, int flags) { return (int)syscall(SYS_close_range, first, last, flags); }

/// libseccomp's static archive is built against glibc with _FORTIFY_SOURCE; its text export
/// (seccomp_export_pfc, never called here) prints through the checked fprintf.
int __fprintf_chk(FILE *stream, int flag, const char *format, ...);
int __fprintf_chk(FILE *stream, int flag, const char *format, ...) {
    (void)flag;
    va_list arguments;
    va_start(arguments, format);
    int written = vfprintf(stream, format, arguments);
    va_end(arguments);
    return written;
}
#else
typedef int lalo_glibc_needs_nothing_more;
#endif
