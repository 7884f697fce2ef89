#!/bin/sh
# Builds a small root file system tarball for the Docker sandbox backend from this host's own
# programs (nothing is downloaded): a shell, coreutils and the other tools the tests and the
# demo use, Python 3 with its standard library, and the shared libraries they load.
#
#   scripts/sandbox-rootfs.sh OUT.tar            then   docker import OUT.tar lalo-sandbox:latest
set -eu
out=${1:?usage: sandbox-rootfs.sh OUT.tar}
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
programs="sh dash bash cat ls echo dd sleep id env mkdir rm cp mv tr grep head tail wc sort true false printf
  test kill ps setsid unshare mount su python3 chmod touch ln stat yes seq uname hostname find sed awk"
mkdir -p "$root/usr/bin" "$root/usr/lib" "$root/etc" "$root/tmp" "$root/workspace" "$root/proc" "$root/dev" "$root/run"
for name in $programs; do
  path=
  for dir in /usr/bin /usr/sbin /bin /sbin; do [ -x "$dir/$name" ] && { path=$dir/$name; break; }; done
  [ -n "$path" ] || continue
  real=$(readlink -f "$path")
  mkdir -p "$root$(dirname "$real")"
  cp -p "$real" "$root$real"
  [ "$real" = "/usr/bin/$name" ] || ln -sf "$real" "$root/usr/bin/$name"
  ldd "$real" 2>/dev/null | awk '/=>/ { print $3 } /^\t\/lib/ { print $1 }' | while read -r lib; do
    [ -f "$lib" ] || continue
    mkdir -p "$root$(dirname "$lib")"
    cp -pL "$lib" "$root$lib"
  done
done
# Python's standard library (without its tests) and the extension modules' libraries.
py=$(python3 -c 'import sys; print(f"python{sys.version_info.major}.{sys.version_info.minor}")')
tar -C / --exclude="usr/lib/$py/test" --exclude='__pycache__' -cf - "usr/lib/$py" | tar -C "$root" -xf -
for so in "$root/usr/lib/$py/lib-dynload/"*.so; do
  ldd "$so" 2>/dev/null | awk '/=>/ { print $3 }' | while read -r lib; do
    if [ -f "$lib" ] && [ ! -e "$root$lib" ]; then mkdir -p "$root$(dirname "$lib")"; cp -pL "$lib" "$root$lib"; fi
  done
done
# The dynamic loader and merged-/usr links.
for link in bin sbin lib lib64; do
  if [ -L "/$link" ]; then ln -sfn "$(readlink "/$link")" "$root/$link"; fi
done
if [ -e /lib64/ld-linux-x86-64.so.2 ]; then mkdir -p "$root/usr/lib64"; cp -pL /lib64/ld-linux-x86-64.so.2 "$root/usr/lib64/"; fi
echo 'sandbox:x:1000:1000:sandbox:/workspace:/bin/sh' > "$root/etc/passwd"
echo 'root:x:0:0:root:/root:/bin/sh' >> "$root/etc/passwd"
echo 'sandbox:x:1000:' > "$root/etc/group"
chmod 1777 "$root/tmp"
tar -C "$root" --numeric-owner -cf "$out" .
