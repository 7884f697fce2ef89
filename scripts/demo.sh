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

# The workflow, all five steps on the embedded model: interpret (with the judge's confidence and
# laloD's checks of the request), plan (a step at a time, each value checked against the request,
# then the critic), approve, execute (staged, verified), review the diff and commit. The model
# plans alone, at the default threshold; --yes approves the plan and accepts the result.
run_and_show() {
    printf '\n%s$ laloctl run "%s" --tools file --yes --rating 5%s\n' "$bold" "$1" "$plain"
    "$bin/laloctl" run "$1" --tools file --yes --rating 5 || echo "(the workflow did not commit: exit $?)"
    local id
    id=$("$bin/laloctl" workflow list -o json | python3 -c 'import json,sys; w=json.load(sys.stdin)["workflows"]; print(w[0]["id"] if w else "")')
    if [ -n "$id" ] && [ -e "$dir/state/workspaces/$id/$2" ]; then
        printf '\n%s$ cat <state>/workspaces/%s/%s%s\n' "$bold" "$id" "$2" "$plain"
        cat "$dir/state/workspaces/$id/$2"; echo
    fi
}
run_and_show "Create notes.txt containing the words: remember the milk" notes.txt
run_and_show "Save the word Paris to city.txt" city.txt
# A request that does not say what it means is asked back, not guessed at: laloD's checks see the
# unresolved "it"; nothing is planned or written. Without a terminal laloctl run exits with 5.
printf '\n%s$ laloctl run "fix it" --tools file%s\n' "$bold" "$plain"
"$bin/laloctl" run "fix it" --tools file || echo "(waiting for an answer: exit $?)"
step "$bin/laloctl" workflow list
id=$("$bin/laloctl" workflow list --state committed -o json | python3 -c 'import json,sys; w=json.load(sys.stdin)["workflows"]; print(w[-1]["id"] if w else "")')
if [ -n "$id" ]; then
    step "$bin/laloctl" workflow get "$id"
fi
# Code in the sandbox, with a person in the loop: the model plans, the operator replaces its plan
# with their own (a file write and a Python step), approves it, and reviews the staged diff
# before anything reaches the workspace; accepting applies it in one atomic swap. (The 135M model
# cannot write this program itself; `make eval` shows what it gets right.)
state() { "$bin/laloctl" workflow get "$1" -o json | python3 -c 'import json,sys; w=json.load(sys.stdin)["workflow"]; print(w["state"], w.get("planHash") or "")'; }
settle() {
    for _ in $(seq 1 600); do
        read -r s h < <(state "$1")
        case "$s" in interpreting|planning|executing) sleep 0.2 ;;
                     *) echo "$s $h"; return ;; esac
    done
}
cat > "$dir/plan.json" <<'JSON'
[
  {"tool": "file", "arguments": {"operation": "write", "path": "numbers.txt", "content": "3\n5\n8\n13\n21\n"}},
  {"tool": "code.run", "arguments": {"language": "python", "outputs": ["summary.txt"],
   "code": "nums = [int(line) for line in open('numbers.txt')]\nwith open('summary.txt', 'w') as f:\n    f.write(f'count {len(nums)}\\nsum {sum(nums)}\\nmean {sum(nums) / len(nums):.1f}\\n')\nprint('summed', len(nums), 'numbers as uid', __import__('os').getuid())"}}
]
JSON
request="Write the numbers 3, 5, 8, 13 and 21 to numbers.txt and use Python to summarise them in summary.txt"
# Threshold 0: the workflow never stops to ask, since the operator replaces the plan anyway.
code_id=$("$bin/laloctl" workflow start "$request" --tools file,code.run --threshold 0 -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
read -r s hash < <(settle "$code_id")
if [ "${s:-}" = awaiting_approval ]; then
    printf '\n%s$ cat plan.json%s\n' "$bold" "$plain"; cat "$dir/plan.json"
    step "$bin/laloctl" workflow edit "$code_id" --plan-hash "$hash" --steps "$dir/plan.json"
    read -r s hash < <(state "$code_id")
    step "$bin/laloctl" workflow approve "$code_id" --plan-hash "$hash"
    read -r s hash < <(settle "$code_id")
    step "$bin/laloctl" workflow get "$code_id"
    printf '\n%s$ ls <state>/workspaces/%s   # staged: nothing yet%s\n' "$bold" "$code_id" "$plain"
    ls "$dir/state/workspaces/$code_id"
    step "$bin/laloctl" workflow approve "$code_id"
    printf '\n%s$ cat <state>/workspaces/%s/summary.txt%s\n' "$bold" "$code_id" "$plain"
    cat "$dir/state/workspaces/$code_id/summary.txt"
fi
step "$bin/laloctl" tool executions
