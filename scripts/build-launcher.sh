#!/bin/sh
# Builds the native sandbox launcher, lalo-sandbox (Sources/SandboxLauncher, C), into $1.
#
# It is linked statically, and against musl where musl-gcc is installed (Debian: musl-tools):
# glibc's start-up sizes the CPU's caches with a few dozen cpuid instructions, each of which
# traps to the hypervisor in a VM — about 0.6 ms of every sandbox's start on the machine the
# benchmark figures come from (docs/sandbox.md). Without musl-gcc it falls back to the system
# compiler and a static glibc. It is not a SwiftPM target because SwiftPM links every
# executable through swiftc, against glibc and with the Swift runtime.
#
# libseccomp comes from the distribution's static archive, built against glibc; of glibc it
# needs only __fprintf_chk, for the filter-as-text export the launcher never calls, which
# Sources/SandboxLauncher/musl.c provides (with close_range, which musl 1.2.3 lacks).
set -eu
out=${1:?usage: build-launcher.sh OUTPUT}
root=$(cd "$(dirname "$0")/.." && pwd)
sources="$root/Sources/SandboxLauncher/*.c $root/Sources/SandboxPolicy/sandbox_policy.c"
flags="-O2 -static -Wall -Wextra -Werror -Wno-missing-field-initializers -I$root/Sources/SandboxPolicy/include"
mkdir -p "$(dirname "$out")"
if command -v musl-gcc >/dev/null 2>&1; then
    libdir=$(pkg-config --variable=libdir libseccomp 2>/dev/null || echo /usr/lib/x86_64-linux-gnu)
    # musl's compiler sees only musl's headers: the kernel's and libseccomp's are added by name.
    include="$root/.build/musl-include"
    mkdir -p "$include"
    for path in /usr/include/linux /usr/include/asm-generic /usr/include/seccomp.h /usr/include/seccomp-syscalls.h; do
        ln -sfn "$path" "$include/$(basename "$path")"
    done
    ln -sfn "/usr/include/$(gcc -print-multiarch)/asm" "$include/asm"
    # shellcheck disable=SC2086
    musl-gcc $flags -idirafter "$include" -o "$out.tmp" $sources "$libdir/libseccomp.a"
else
    # shellcheck disable=SC2086
    cc $flags -o "$out.tmp" $sources -lseccomp
fi
mv -f "$out.tmp" "$out"
