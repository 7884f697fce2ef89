#!/usr/bin/env bash
# `make demo`: start laloD on a temporary state directory and socket, show what it does, stop it.
set -euo pipefail
bin=${BIN:-.build/debug}
dir=$(mktemp -d /tmp/lalo-demo.XXXXXX)
trap 'kill -TERM "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true; rm -rf "$dir"' EXIT
export LALO_SOCKET="$dir/laloD.sock"

# The shipped configuration plus one drop-in: the local model installed by `make local-model`.
mkdir -p "$dir/etc/laloD.toml.d"
cp etc/lalo/laloD.toml "$dir/etc/laloD.toml"
cat > "$dir/etc/laloD.toml.d/demo.toml" <<TOML
[localModel]
python = "${LALO_LOCAL_MODEL:-/var/lib/lalo/local-model}/venv/bin/python"
TOML
"$bin/laloD" --config "$dir/etc/laloD.toml" --state-dir "$dir/state" --log-level error &
pid=$!
for _ in $(seq 1 100); do [ -S "$LALO_SOCKET" ] && break; sleep 0.05; done

if [ -t 1 ]; then bold=$'\033[1m' plain=$'\033[0m'; else bold="" plain=""; fi
step() { printf '\n%s$ %s%s\n' "$bold" "$*" "$plain"; "$@"; }
step "$bin/laloctl" status
step "$bin/laloctl" whoami
step "$bin/laloctl" role define auditor --permission audit.read --inherits viewer --description "Reads the audit log"
step "$bin/laloctl" role list
printf '\n%s$ echo {"jsonrpc":"2.0","id":1,"method":"session.whoami"} | socat - UNIX-CONNECT:$LALO_SOCKET%s\n' "$bold" "$plain"
echo '{"jsonrpc":"2.0","id":1,"method":"session.whoami"}' | socat -t1 - "UNIX-CONNECT:$LALO_SOCKET"
step "$bin/laloctl" audit query --limit 20
step "$bin/laloctl" audit verify

# Secrets: the value goes in on stdin and never comes back out.
printf '\n%s$ printf %%s "sk-demo-not-a-real-key" | laloctl secret set openai --description "OpenAI API key"%s\n' "$bold" "$plain"
printf %s "sk-demo-not-a-real-key" | "$bin/laloctl" secret set openai --description "OpenAI API key"
step "$bin/laloctl" secret list
step "$bin/laloctl" secret rotate
step "$bin/laloctl" audit query --kind secret

# Models: every role maps to the embedded llama.cpp server until a provider is configured.
step "$bin/laloctl" model list
step "$bin/laloctl" model test chat
step "$bin/laloctl" ask --max-tokens 60 "In one sentence, what is a Linux daemon?"
step "$bin/laloctl" model usage
