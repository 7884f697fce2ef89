#!/usr/bin/env bash
# Installs the system packages LALO builds and tests with. Idempotent: it only calls apt-get
# when something is missing, so `make test` is quick on a prepared machine.
set -euo pipefail
packages=(
  pkg-config libsqlite3-dev libsystemd-dev libcurl4-openssl-dev libseccomp-dev  # build
  gcc musl-tools   # the sandbox launcher, linked statically against musl (scripts/build-launcher.sh)
  systemd          # systemd-analyze (unit hardening check), systemd-socket-activate (tests)
  socat jq         # the README's shell examples and the demo
  util-linux       # setpriv: tests run clients as other users; su, unshare, mount: sandbox tests
  bsdutils         # script: laloctl run on a pseudo-terminal
  procps           # ps: sandbox tests look for processes left behind
  docker.io        # dockerd: the Docker sandbox backend's tests start one on a private socket
  python3          # the scripted model server; payloads of the sandbox tests
  python3-venv python3-dev  # the local model's virtualenv on Debian's interpreter (scripts/setup-local-model.sh)
  passwd           # useradd/groupadd: tests create their own users
  sqlite3          # inspecting the store by hand
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
