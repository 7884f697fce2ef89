#!/usr/bin/env bash
# Self-test for scripted_server.py: exercises every reply kind with curl.
# Usage: Tests/ScriptedServer/selftest.sh   (exits non-zero on any failure)
set -u

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SERVER="$HERE/scripted_server.py"
TMP="$(mktemp -d)"
FAILS=0
PASSES=0
SERVER_PID=""

cleanup() {
    if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null; fi
    rm -rf "$TMP"
}
trap cleanup EXIT

ok()   { PASSES=$((PASSES + 1)); echo "ok   - $1"; }
fail() { FAILS=$((FAILS + 1)); echo "FAIL - $1"; }
check() { # check DESCRIPTION COMMAND...
    local what="$1"; shift
    if "$@"; then ok "$what"; else fail "$what"; fi
}
# jcheck FILE PYTHON-EXPRESSION: the expression sees the parsed JSON as `d`.
jcheck() {
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if eval(sys.argv[2]) else 1)' "$1" "$2"
}

cat >"$TMP/script.json" <<'EOF'
{"exchanges": [
  {"expect": {"method": "POST", "path": "/v1/chat/completions",
              "headers": {"Authorization": "Bearer sk-test"},
              "headersAbsent": ["x-api-key"],
              "json": {"model": "gpt-x", "messages": [{"role": "user", "content": "hi"}],
                       "options": {"n": 1}}},
   "reply": {"status": 200, "headers": {"x-a": "b"},
             "json": {"id": "chatcmpl-1", "choices": [{"message": {"role": "assistant", "content": "hello"}}]}}},
  {"expect": {"method": "POST", "path": "/v1/messages", "headers": {"x-api-key": "ak"}},
   "reply": {"status": 429, "headers": {"retry-after": "1"},
             "json": {"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}}}},
  {"reply": {"status": 200, "body": "{not json"}},
  {"reply": {"delayMs": 700, "json": {"slow": true}}},
  {"expect": {"path": "/v1/chat/completions", "json": {"stream": true}},
   "reply": {"sse": [
      {"id": "c1", "choices": [{"delta": {"content": "Hel"}}]},
      {"comment": "keep-alive"},
      {"event": "content_block_delta", "data": {"type": "content_block_delta", "delta": {"text": "lo"}}},
      {"event": "ping", "data": "plain"},
      "[DONE]"]}},
  {"reply": {"sse": ["one", "two", "three", "four"], "cutAfter": 2}},
  {"reply": {"close": true}},
  {"expect": {"method": "GET", "path": "/v1/models"}, "repeat": 2,
   "reply": {"json": {"data": [{"id": "m1"}]}}},
  {"expect": {"method": "POST", "path": "/chunked", "json": {"chunked": "yes"}},
   "reply": {"json": {"got": "chunked"}}},
  {"expect": {"method": "POST", "path": "/big"},
   "reply": {"json": {"got": "big"}}},
  {"expect": {"path": "/slow-stream"},
   "reply": {"sse": ["e1","e2","e3","e4","e5","e6","e7","e8","e9","e10",
                     "e11","e12","e13","e14","e15","e16","e17","e18","e19","e20"],
             "eventDelayMs": 300}}
]}
EOF

# ---------------------------------------------------------------- start
coproc SRV { exec python3 "$SERVER" "$TMP/script.json" 2>"$TMP/server.err"; }
SERVER_PID=$SRV_PID   # bash unsets SRV_PID when the coproc exits
PORT_LINE=""
read -t 10 -r PORT_LINE <&"${SRV[0]}" || true
if [[ ! "$PORT_LINE" =~ ^PORT\ ([0-9]+)$ ]]; then
    echo "FAIL - server did not print 'PORT <n>' (got '$PORT_LINE')"; cat "$TMP/server.err"; exit 1
fi
PORT="${BASH_REMATCH[1]}"
B="http://127.0.0.1:$PORT"
ok "server started: $PORT_LINE"

# ---------------------------------------------------------------- 0: JSON reply + expectations
code=$(curl -sS -o "$TMP/r0" -D "$TMP/h0" -w '%{http_code}' "$B/v1/chat/completions?beta=true" \
    -H 'authorization: Bearer sk-test' -H 'content-type: application/json' \
    -d '{"model":"gpt-x","stream":false,"messages":[{"role":"user","content":"hi"}],"options":{"n":1,"m":2}}')
check "json reply: status 200" [ "$code" = 200 ]
check "json reply: custom header x-a" grep -qi '^x-a: b' "$TMP/h0"
check "json reply: content-type application/json" grep -qi '^content-type: application/json' "$TMP/h0"
check "json reply: content-length set" grep -qi '^content-length: ' "$TMP/h0"
check "json reply: body" jcheck "$TMP/r0" 'd["choices"][0]["message"]["content"] == "hello"'

# ---------------------------------------------------------------- mismatch (599, not consumed)
code=$(curl -sS -o "$TMP/r1m" -w '%{http_code}' "$B/v1/wrong" -d '{}')
check "mismatch: status 599" [ "$code" = 599 ]
check "mismatch: error body names the difference" \
    jcheck "$TMP/r1m" '"scripted server:" in d["error"]["message"] and "path" in d["error"]["message"]'
code=$(curl -sS -o "$TMP/r1h" -w '%{http_code}' "$B/v1/messages" -d '{}')
check "mismatch: missing header -> 599" [ "$code" = 599 ]
check "mismatch: message names the header" jcheck "$TMP/r1h" '"x-api-key" in d["error"]["message"]'

# ---------------------------------------------------------------- 429 + retry-after
code=$(curl -sS -o "$TMP/r1" -D "$TMP/h1" -w '%{http_code}' "$B/v1/messages" -H 'x-api-key: ak' -d '{}')
check "429: status (exchange not consumed by the mismatches)" [ "$code" = 429 ]
check "429: retry-after header" grep -qi '^retry-after: 1' "$TMP/h1"
check "429: json error body" jcheck "$TMP/r1" 'd["error"]["type"] == "rate_limit_error"'

# ---------------------------------------------------------------- raw malformed body
curl -sS -o "$TMP/r2" -D "$TMP/h2" "$B/anything"
check "raw body: exact bytes" [ "$(cat "$TMP/r2")" = "{not json" ]
check "raw body: text/plain" grep -qi '^content-type: text/plain' "$TMP/h2"

# ---------------------------------------------------------------- delayMs
t=$(curl -sS -o "$TMP/r3" -w '%{time_total}' "$B/slow")
check "delayMs: took >= 0.7s (took $t)" python3 -c "import sys; sys.exit(0 if float('$t') >= 0.69 else 1)"
check "delayMs: body" jcheck "$TMP/r3" 'd["slow"] is True'
t=$(curl -sS -o /dev/null -w '%{time_total}' "$B/__remaining")
check "control endpoints are not delayed by script (took $t)" python3 -c "import sys; sys.exit(0 if float('$t') < 0.5 else 1)"

# ---------------------------------------------------------------- SSE full stream
curl -sS -N -o "$TMP/r4" -D "$TMP/h4" "$B/v1/chat/completions" -d '{"model":"m","stream":true}'
rc=$?
check "sse: curl exit 0 (rc=$rc)" [ "$rc" = 0 ]
check "sse: content-type text/event-stream" grep -qi '^content-type: text/event-stream' "$TMP/h4"
check "sse: chunked" grep -qi '^transfer-encoding: chunked' "$TMP/h4"
printf '%s\n' \
    'data: {"id":"c1","choices":[{"delta":{"content":"Hel"}}]}' '' \
    ': keep-alive' '' \
    'event: content_block_delta' \
    'data: {"type":"content_block_delta","delta":{"text":"lo"}}' '' \
    'event: ping' 'data: plain' '' \
    'data: [DONE]' '' >"$TMP/r4.expected"
check "sse: exact event bytes, final [DONE] arrives" cmp -s "$TMP/r4" "$TMP/r4.expected"

# ---------------------------------------------------------------- SSE cutAfter
curl -sS -N -o "$TMP/r5" "$B/cut" 2>"$TMP/e5"
rc=$?
check "sse cutAfter: curl exits non-zero (rc=$rc, expect 18)" [ "$rc" = 18 ]
check "sse cutAfter: first 2 events arrived" grep -q '^data: two$' "$TMP/r5"
check "sse cutAfter: third event not sent" bash -c "! grep -q three '$TMP/r5'"

# ---------------------------------------------------------------- close:true
curl -sS -o /dev/null "$B/close" 2>"$TMP/e6"
rc=$?
check "close: curl transport error (rc=$rc, expect 52)" [ "$rc" = 52 ]

# ---------------------------------------------------------------- keep-alive (repeat: 2)
curl -sS -v "$B/v1/models" "$B/v1/models" -o "$TMP/r7a" -o "$TMP/r7b" 2>"$TMP/e7"
rc=$?
check "keep-alive: curl exit 0" [ "$rc" = 0 ]
check "keep-alive: connection re-used" grep -qi 're-using existing connection' "$TMP/e7"
check "keep-alive: both replies" jcheck "$TMP/r7b" 'd["data"][0]["id"] == "m1"'

# ---------------------------------------------------------------- request bodies: chunked and Expect: 100-continue
code=$(curl -sS -o "$TMP/r8" -w '%{http_code}' "$B/chunked" -H 'Transfer-Encoding: chunked' \
    -H 'content-type: application/json' --data-binary '{"chunked":"yes"}')
check "chunked request body parsed (status $code)" [ "$code" = 200 ]
python3 -c 'import json; print(json.dumps({"pad": "x" * 200000}))' >"$TMP/big.json"
code=$(curl -sS -v -o "$TMP/r9" -w '%{http_code}' "$B/big" -H 'Expect: 100-continue' \
    --data-binary "@$TMP/big.json" 2>"$TMP/e9")
check "Expect: 100-continue answered (status $code)" [ "$code" = 200 ]
check "Expect: 100-continue saw 100 Continue" grep -q 'HTTP/1.1 100' "$TMP/e9"

# ---------------------------------------------------------------- client disconnect during slow SSE
curl -sS -N --max-time 1 -o "$TMP/r10" "$B/slow-stream" 2>/dev/null
rc=$?
check "slow sse: curl timed out (rc=$rc, expect 28)" [ "$rc" = 28 ]
sleep 1.2   # let the server's next writes hit the closed socket
curl -sS -o "$TMP/log1" "$B/__log"
check "slow sse: /__log shows clientDisconnected and eventsSent < 20" \
    jcheck "$TMP/log1" 'd[-1]["path"] == "/slow-stream" and d[-1]["clientDisconnected"] is True and isinstance(d[-1]["eventsSent"], int) and 1 <= d[-1]["eventsSent"] < 20'

# ---------------------------------------------------------------- /__log content
check "log: one entry per request (14), control requests not logged" jcheck "$TMP/log1" 'len(d) == 14'
check "log: entry fields" jcheck "$TMP/log1" \
    'all(set(e) == {"method","path","query","headers","body","json","exchange","mismatch","clientDisconnected","eventsSent","time"} for e in d)'
check "log: first request details" jcheck "$TMP/log1" \
    'd[0]["method"] == "POST" and d[0]["path"] == "/v1/chat/completions" and d[0]["query"] == "beta=true" and d[0]["headers"]["authorization"] == "Bearer sk-test" and d[0]["json"]["options"]["m"] == 2 and d[0]["exchange"] == 0 and d[0]["mismatch"] is None and d[0]["eventsSent"] is None and d[0]["clientDisconnected"] is False and isinstance(d[0]["time"], float)'
check "log: mismatches recorded, not consumed" jcheck "$TMP/log1" \
    'd[1]["mismatch"] and d[1]["exchange"] is None and d[2]["mismatch"] and d[3]["exchange"] == 1'
check "log: raw body text and json null" jcheck "$TMP/log1" \
    'd[4]["body"] == "" and d[4]["json"] is None and d[4]["exchange"] == 2'
check "log: full stream eventsSent == 5, not disconnected" jcheck "$TMP/log1" \
    'd[6]["eventsSent"] == 5 and d[6]["clientDisconnected"] is False'
check "log: cutAfter eventsSent == 2" jcheck "$TMP/log1" 'd[7]["eventsSent"] == 2'
check "log: repeat exchange consumed twice" jcheck "$TMP/log1" 'd[9]["exchange"] == 7 and d[10]["exchange"] == 7'
check "log: chunked body captured" jcheck "$TMP/log1" 'd[11]["json"] == {"chunked": "yes"}'
check "log: times ascending" jcheck "$TMP/log1" 'all(a["time"] <= b["time"] for a, b in zip(d, d[1:]))'

# ---------------------------------------------------------------- /__remaining
curl -sS -o "$TMP/rem1" "$B/__remaining"
check "remaining: 0 after the script, 2 mismatches" jcheck "$TMP/rem1" 'd["remaining"] == 0 and d["mismatches"] == 2'
code=$(curl -sS -o "$TMP/r11" -w '%{http_code}' "$B/extra")
check "no exchange left -> 599" [ "$code" = 599 ]
check "no exchange left: message" jcheck "$TMP/r11" '"no exchange left" in d["error"]["message"]'

# ---------------------------------------------------------------- /__script replacement
code=$(curl -sS -o "$TMP/s1" -w '%{http_code}' "$B/__script" \
    -d '{"exchanges":[{"expect":{"path":"/again"},"repeat":3,"reply":{"status":503,"json":{"error":"down"}}}]}')
check "script replace: accepted" [ "$code" = 200 ]
curl -sS -o "$TMP/rem2" "$B/__remaining"
check "script replace: remaining 3" jcheck "$TMP/rem2" 'd["remaining"] == 3'
code=$(curl -sS -o /dev/null -w '%{http_code}' "$B/again")
check "script replace: new exchange served (503)" [ "$code" = 503 ]
curl -sS -o "$TMP/rem3" "$B/__remaining"
check "script replace: remaining 2" jcheck "$TMP/rem3" 'd["remaining"] == 2'
curl -sS -o "$TMP/log2" "$B/__log"
check "script replace: log kept" jcheck "$TMP/log2" 'len(d) == 16 and d[-1]["path"] == "/again" and d[-1]["exchange"] == 0'
code=$(curl -sS -o "$TMP/s2" -w '%{http_code}' "$B/__script" -d '{"exchanges":[{"reply":{"json":1,"body":"x"}}]}')
check "script replace: invalid script -> 400" [ "$code" = 400 ]
code=$(curl -sS -o /dev/null -w '%{http_code}' -X DELETE "$B/__log")
curl -sS -o "$TMP/log3" "$B/__log"
check "DELETE /__log clears the log" jcheck "$TMP/log3" 'd == []'

check "server printed nothing on stderr" [ ! -s "$TMP/server.err" ]
[ -s "$TMP/server.err" ] && cat "$TMP/server.err"

# ---------------------------------------------------------------- lifecycle: stdin EOF, SIGTERM
exec {SRV_IN}>&"${SRV[1]}"-          # take the coproc's stdin pipe, then close it
exec {SRV_IN}>&-
gone=no
for _ in $(seq 1 50); do
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then gone=yes; break; fi
    sleep 0.1
done
check "server exits on stdin EOF" [ "$gone" = yes ]
[ "$gone" = yes ] && SERVER_PID=""

mkfifo "$TMP/in"
python3 "$SERVER" --port 0 <"$TMP/in" >"$TMP/port2" 2>"$TMP/err2" &
PID2=$!
exec {HOLD}>"$TMP/in"
for _ in $(seq 1 50); do [ -s "$TMP/port2" ] && break; sleep 0.1; done
check "second server (no script) started" grep -q '^PORT [0-9]*$' "$TMP/port2"
kill -TERM "$PID2"
wait "$PID2"
rc=$?
check "server exits 0 on SIGTERM (rc=$rc)" [ "$rc" = 0 ]
exec {HOLD}>&-

echo "# $PASSES passed, $FAILS failed"
[ "$FAILS" = 0 ]
