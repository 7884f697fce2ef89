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

# The workflow, all five steps on the embedded model: interpret (with the judge's confidence),
# plan (with the critic), approve, execute (snapshot, verify), review the diff and commit.
# The 135M-parameter model rarely words two interpretations alike, so the demo asks with a
# confidence threshold of 0.6 instead of the default 0.7; --answer answers any question it asks.
# A model this small may plan badly: the workflow retries, re-plans after a failed step and
# otherwise ends without touching anything, and the demo tries the request up to three times.
request="Create notes.txt containing the words: remember the milk"
printf '\n%s$ laloctl run "%s" --tools file --threshold 0.6 --yes --rating 5 --answer "notes.txt in the workspace"%s\n' "$bold" "$request" "$plain"
for attempt in 1 2 3; do
    if "$bin/laloctl" run "$request" --tools file --threshold 0.6 --yes --rating 5 \
        --answer "notes.txt in the workspace" --answer "the words: remember the milk"; then
        break
    fi
    echo "(attempt $attempt did not commit; trying again)"
done
step "$bin/laloctl" workflow list
id=$("$bin/laloctl" workflow list --state committed -o json | python3 -c 'import json,sys; w=json.load(sys.stdin)["workflows"]; print(w[0]["id"] if w else "")')
if [ -n "$id" ]; then
    step "$bin/laloctl" workflow get "$id"
    printf '\n%s$ ls -l <state>/workspaces/%s%s\n' "$bold" "$id" "$plain"
    ls -l "$dir/state/workspaces/$id"
fi
step "$bin/laloctl" tool executions
