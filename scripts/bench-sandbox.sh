#!/bin/sh
# Runs lalo-sandbox-bench with a dockerd of its own (private socket, data root under a temporary
# directory) and the sandbox image imported from a rootfs tarball of this host's programs.
set -eu
command -v bwrap >/dev/null || { apt-get install -y -qq bubblewrap >/dev/null || true; }
dir=$(mktemp -d /tmp/lalo-bench-docker.XXXXXX)
cleanup() {
  [ -f "$dir/docker.pid" ] && kill "$(cat "$dir/docker.pid")" 2>/dev/null && sleep 2
  grep -o "$dir[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT
dockerd --host "unix://$dir/docker.sock" --data-root "$dir/data" --exec-root "$dir/exec" --pidfile "$dir/docker.pid" \
  --iptables=false --ip6tables=false --bridge=none --exec-opt native.cgroupdriver=cgroupfs >"$dir/dockerd.log" 2>&1 &
for _ in $(seq 1 60); do docker -H "unix://$dir/docker.sock" version >/dev/null 2>&1 && break; sleep 0.5; done
"$(dirname "$0")/sandbox-rootfs.sh" "$dir/rootfs.tar"
docker -H "unix://$dir/docker.sock" import "$dir/rootfs.tar" lalo-sandbox:latest >/dev/null
.build/release/lalo-sandbox-bench --runs "${RUNS:-300}" --docker-runs "${DOCKER_RUNS:-30}" --docker-host "unix://$dir/docker.sock"
