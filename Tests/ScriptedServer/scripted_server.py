#!/usr/bin/env python3
"""Scripted HTTP/1.1 server standing in for the OpenAI / Anthropic HTTP APIs in tests.

Usage: python3 scripted_server.py [SCRIPT.json] [--port N] [--verbose] [--ignore-stdin]

Binds 127.0.0.1 (port 0 = kernel-chosen), prints exactly one line "PORT <n>" to stdout,
then serves until SIGTERM/SIGINT or EOF on stdin. See README.md for the script format.
Python 3.11 standard library only.
"""

import argparse
import json
import os
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

VERBOSE = False


def _vlog(msg):
    if VERBOSE:
        sys.stderr.write("scripted_server: %s\n" % msg)
        sys.stderr.flush()


def compact(value):
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


# --------------------------------------------------------------------------- script


class ScriptError(ValueError):
    pass


_REPLY_BODY_KINDS = ("json", "body", "sse", "close")


def validate_script(script):
    """Returns the list of exchanges, or raises ScriptError."""
    if not isinstance(script, dict) or not isinstance(script.get("exchanges"), list):
        raise ScriptError('script must be an object with an "exchanges" array')
    exchanges = script["exchanges"]
    for i, ex in enumerate(exchanges):
        where = "exchanges[%d]" % i
        if not isinstance(ex, dict):
            raise ScriptError("%s: must be an object" % where)
        unknown = set(ex) - {"expect", "reply", "repeat", "comment"}
        if unknown:
            raise ScriptError("%s: unknown keys %s" % (where, sorted(unknown)))
        expect = ex.get("expect", {})
        if not isinstance(expect, dict):
            raise ScriptError("%s.expect: must be an object" % where)
        unknown = set(expect) - {"method", "path", "headers", "headersAbsent", "json"}
        if unknown:
            raise ScriptError("%s.expect: unknown keys %s" % (where, sorted(unknown)))
        if "headers" in expect and not isinstance(expect["headers"], dict):
            raise ScriptError("%s.expect.headers: must be an object" % where)
        if "headersAbsent" in expect and not isinstance(expect["headersAbsent"], list):
            raise ScriptError("%s.expect.headersAbsent: must be an array" % where)
        reply = ex.get("reply")
        if not isinstance(reply, dict):
            raise ScriptError("%s.reply: required object" % where)
        unknown = set(reply) - {
            "status", "reason", "headers", "json", "body", "delayMs",
            "sse", "eventDelayMs", "cutAfter", "close",
        }
        if unknown:
            raise ScriptError("%s.reply: unknown keys %s" % (where, sorted(unknown)))
        kinds = [k for k in _REPLY_BODY_KINDS if k in reply]
        if len(kinds) > 1:
            raise ScriptError("%s.reply: at most one of %s, got %s" % (where, _REPLY_BODY_KINDS, kinds))
        if "sse" in reply and not isinstance(reply["sse"], list):
            raise ScriptError("%s.reply.sse: must be an array" % where)
        if "body" in reply and not isinstance(reply["body"], str):
            raise ScriptError("%s.reply.body: must be a string" % where)
        if "headers" in reply and not isinstance(reply["headers"], dict):
            raise ScriptError("%s.reply.headers: must be an object" % where)
        for key in ("status", "delayMs", "eventDelayMs", "cutAfter"):
            if key in reply and (not isinstance(reply[key], (int, float)) or isinstance(reply[key], bool)):
                raise ScriptError("%s.reply.%s: must be a number" % (where, key))
        repeat = ex.get("repeat", 1)
        if not isinstance(repeat, int) or isinstance(repeat, bool) or repeat < 1:
            raise ScriptError("%s.repeat: must be an integer >= 1" % where)
    return exchanges


def _type_name(v):
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    return "object"


def _strict_equal(a, b):
    """JSON equality: booleans never equal numbers; arrays/objects compared deeply."""
    if _type_name(a) != _type_name(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_strict_equal(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_strict_equal(x, y) for x, y in zip(a, b))
    return a == b


def json_subset_diff(expected, actual, path="json"):
    """None if `actual` contains `expected` (objects: listed keys recursively; arrays and
    scalars: equal), else a description of the first difference."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return "%s: expected an object, got %s" % (path, _type_name(actual))
        for key, value in expected.items():
            sub = "%s.%s" % (path, key)
            if key not in actual:
                return "%s: missing (expected %s)" % (sub, compact(value))
            diff = json_subset_diff(value, actual[key], sub)
            if diff:
                return diff
        return None
    if not _strict_equal(expected, actual):
        return "%s: expected %s, got %s" % (path, compact(expected), compact(actual))
    return None


class Script:
    """Exchange queue; all access under `lock`."""

    def __init__(self, exchanges):
        self.lock = threading.Lock()
        self.log = []
        self.set_exchanges(exchanges)

    def set_exchanges(self, exchanges):
        self.exchanges = exchanges
        self.position = 0          # index of the current exchange
        self.served = 0            # requests already served by the current exchange

    def remaining(self):
        if self.position >= len(self.exchanges):
            return 0
        total = self.exchanges[self.position].get("repeat", 1) - self.served
        for ex in self.exchanges[self.position + 1:]:
            total += ex.get("repeat", 1)
        return total

    def mismatches(self):
        return sum(1 for e in self.log if e["mismatch"] is not None)

    def take(self, req):
        """Matches `req` against the current exchange. Returns (index, reply) on match
        (consuming it) or (None, mismatch text)."""
        if self.position >= len(self.exchanges):
            return None, "no exchange left for %s %s (script has %d)" % (
                req["method"], req["path"], len(self.exchanges))
        ex = self.exchanges[self.position]
        diff = match_expect(ex.get("expect", {}), req)
        if diff:
            return None, "exchange %d: %s" % (self.position, diff)
        index = self.position
        self.served += 1
        if self.served >= ex.get("repeat", 1):
            self.position += 1
            self.served = 0
        return index, ex["reply"]


def match_expect(expect, req):
    if "method" in expect and expect["method"] != req["method"]:
        return "method: expected %s, got %s" % (expect["method"], req["method"])
    if "path" in expect and expect["path"] != req["path"]:
        return "path: expected %s, got %s" % (expect["path"], req["path"])
    for name, value in expect.get("headers", {}).items():
        values = req["_header_values"].get(name.lower())
        if not values:
            return "header %s: missing (expected %s)" % (name.lower(), compact(value))
        if str(value) not in values:
            return "header %s: expected %s, got %s" % (
                name.lower(), compact(value), compact(", ".join(values)))
    for name in expect.get("headersAbsent", []):
        if req["_header_values"].get(str(name).lower()):
            return "header %s: expected absent, got %s" % (
                str(name).lower(), compact(", ".join(req["_header_values"][str(name).lower()])))
    if "json" in expect:
        if req["json"] is None and req["body"].strip() != "null":
            return "json: request body is not JSON (%s)" % compact(req["body"][:200])
        diff = json_subset_diff(expect["json"], req["json"])
        if diff:
            return diff
    return None


# --------------------------------------------------------------------------- SSE


def encode_event(event):
    """Returns the bytes for one SSE event (see README)."""
    if isinstance(event, str):
        return _data_lines(event).encode("utf-8") + b"\n"
    if isinstance(event, dict) and "raw" in event and isinstance(event["raw"], str):
        return event["raw"].encode("utf-8")
    if isinstance(event, dict) and "comment" in event:
        return (": %s\n\n" % event["comment"]).encode("utf-8")
    if isinstance(event, dict) and ("event" in event or "data" in event):
        out = ""
        if "event" in event:
            out += "event: %s\n" % event["event"]
        if "data" in event:
            data = event["data"]
            out += _data_lines(data if isinstance(data, str) else compact(data))
        return (out + "\n").encode("utf-8")
    return ("data: %s\n\n" % compact(event)).encode("utf-8")


def _data_lines(text):
    # One "data:" line per line of text, so multi-line strings stay valid SSE.
    return "".join("data: %s\n" % line for line in text.split("\n"))


# --------------------------------------------------------------------------- HTTP


class ClientGone(Exception):
    pass


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ScriptedServer/1.0"
    sys_version = ""

    # ---- plumbing

    def log_message(self, format, *args):  # noqa: A002 (stdlib signature)
        _vlog("%s - %s" % (self.address_string(), format % args))

    def _write(self, data):
        try:
            self.wfile.write(data)
            self.wfile.flush()
        except OSError as exc:  # BrokenPipe, ConnectionReset, ... : the client went away
            raise ClientGone() from exc

    def _end_headers(self):
        try:
            self.end_headers()
        except OSError as exc:
            raise ClientGone() from exc

    def _read_body(self):
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            chunks = []
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    raise ClientGone()
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while True:  # trailers up to the empty line
                        trailer = self.rfile.readline(65537)
                        if not trailer or trailer in (b"\r\n", b"\n"):
                            break
                    break
                data = self.rfile.read(size)
                if len(data) < size:
                    raise ClientGone()
                chunks.append(data)
                self.rfile.readline(65537)  # CRLF after the chunk
            return b"".join(chunks)
        length = self.headers.get("Content-Length")
        if length:
            n = int(length)
            data = self.rfile.read(n) if n > 0 else b""
            if len(data) < n:
                raise ClientGone()
            return data
        return b""

    def _abort_connection(self):
        """Closes the socket without (the rest of) a response: the client sees EOF."""
        self.close_connection = True
        try:
            self.wfile.flush()
        except OSError:
            pass
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _send_simple(self, status, payload, content_type="application/json", extra_headers=None,
                     reason=None):
        body = payload if isinstance(payload, bytes) else compact(payload).encode("utf-8")
        self.send_response(status, reason)
        names = set()
        for name, value in (extra_headers or {}).items():
            for v in (value if isinstance(value, list) else [value]):
                self.send_header(name, str(v))
            names.add(name.lower())
        if "content-type" not in names and content_type:
            self.send_header("Content-Type", content_type)
        if "content-length" not in names:
            self.send_header("Content-Length", str(len(body)))
        self._end_headers()
        if self.command != "HEAD":
            self._write(body)
        else:
            self.wfile.flush()

    # ---- dispatch

    def do_GET(self):
        self._dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    def _dispatch(self):
        arrived = time.time()
        split = urlsplit(self.path)
        path, query = split.path, split.query
        script = self.server.script
        try:
            body = self._read_body()
        except (ClientGone, ValueError, OSError):
            self.close_connection = True
            return

        if path.startswith("/__"):
            self._control(path, body)
            return

        header_values = {}
        for name, value in self.headers.items():
            header_values.setdefault(name.lower(), []).append(value)
        text = body.decode("utf-8", errors="replace")
        try:
            parsed = json.loads(text) if text.strip() else None
        except ValueError:
            parsed = None
        entry = {
            "method": self.command,
            "path": path,
            "query": query,
            "headers": {k: ", ".join(v) for k, v in header_values.items()},
            "body": text,
            "json": parsed,
            "exchange": None,
            "mismatch": None,
            "clientDisconnected": False,
            "eventsSent": None,
            "time": arrived,
        }
        req = dict(entry, _header_values=header_values)
        with script.lock:
            index, result = script.take(req)
            if index is None:
                entry["mismatch"] = result
            else:
                entry["exchange"] = index
            script.log.append(entry)
        _vlog("%s %s -> %s" % (self.command, self.path,
                               "exchange %d" % index if index is not None else "MISMATCH " + result))
        try:
            if index is None:
                self._send_simple(599, {"error": {"message": "scripted server: " + result}},
                                  reason="Scripted Mismatch")
            else:
                self._reply(result, entry)
        except ClientGone:
            with script.lock:
                entry["clientDisconnected"] = True
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _reply(self, reply, entry):
        delay = reply.get("delayMs", 0)
        if delay:
            time.sleep(delay / 1000.0)
        if reply.get("close"):
            self._abort_connection()
            return
        status = int(reply.get("status", 200))
        headers = reply.get("headers", {})
        reason = reply.get("reason")
        if "sse" in reply:
            self._reply_sse(status, headers, reason, reply, entry)
        elif "json" in reply:
            self._send_simple(status, reply["json"], "application/json", headers, reason)
        elif "body" in reply:
            self._send_simple(status, reply["body"].encode("utf-8"), "text/plain; charset=utf-8",
                              headers, reason)
        else:
            self._send_simple(status, b"", None, headers, reason)

    def _reply_sse(self, status, headers, reason, reply, entry):
        script = self.server.script
        events = reply["sse"]
        cut_after = reply.get("cutAfter")
        event_delay = reply.get("eventDelayMs", 0) / 1000.0
        with script.lock:
            entry["eventsSent"] = 0
        self.send_response(status, reason)
        names = set()
        for name, value in headers.items():
            for v in (value if isinstance(value, list) else [value]):
                self.send_header(name, str(v))
            names.add(name.lower())
        if "content-type" not in names:
            self.send_header("Content-Type", "text/event-stream")
        if "cache-control" not in names:
            self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self._end_headers()
        to_send = events if cut_after is None else events[:int(cut_after)]
        for i, event in enumerate(to_send):
            if i > 0 and event_delay:
                time.sleep(event_delay)
            data = encode_event(event)
            if data:
                self._write(b"%x\r\n%s\r\n" % (len(data), data))
            with script.lock:
                entry["eventsSent"] = i + 1
        if cut_after is not None:
            self._abort_connection()
            return
        self._write(b"0\r\n\r\n")

    # ---- control endpoints (never consume exchanges, never logged)

    def _control(self, path, body):
        script = self.server.script
        try:
            if path == "/__log" and self.command == "GET":
                with script.lock:
                    payload = compact(script.log).encode("utf-8")
                self._send_simple(200, payload)
            elif path == "/__log" and self.command == "DELETE":
                with script.lock:
                    script.log = []
                self._send_simple(200, {"ok": True})
            elif path == "/__remaining" and self.command == "GET":
                with script.lock:
                    payload = {"remaining": script.remaining(), "mismatches": script.mismatches()}
                self._send_simple(200, payload)
            elif path == "/__script" and self.command in ("POST", "PUT"):
                try:
                    exchanges = validate_script(json.loads(body.decode("utf-8")))
                except (ValueError, ScriptError) as exc:
                    self._send_simple(400, {"error": {"message": "scripted server: bad script: %s" % exc}})
                    return
                with script.lock:
                    script.set_exchanges(exchanges)
                self._send_simple(200, {"ok": True, "exchanges": len(exchanges)})
            else:
                self._send_simple(404, {"error": {"message": "scripted server: unknown control "
                                                             "endpoint %s %s" % (self.command, path)}})
        except ClientGone:
            self.close_connection = True


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, ClientGone)):
            return
        if VERBOSE:
            super().handle_error(request, client_address)
        else:
            sys.stderr.write("scripted_server: error handling request: %r\n" % (exc,))


# --------------------------------------------------------------------------- main


def _watch_stdin():
    try:
        while os.read(0, 65536):
            pass
    except OSError:
        pass
    os._exit(0)


def main(argv=None):
    global VERBOSE
    ap = argparse.ArgumentParser(description="Scripted HTTP/1.1 server for tests.")
    ap.add_argument("script", nargs="?", help="script JSON file (default: no exchanges)")
    ap.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0 = kernel-chosen)")
    ap.add_argument("--verbose", action="store_true", help="log requests to stderr")
    ap.add_argument("--ignore-stdin", action="store_true",
                    help="do not exit on stdin EOF (manual use only)")
    args = ap.parse_args(argv)
    VERBOSE = args.verbose

    try:
        if args.script:
            with open(args.script, "r", encoding="utf-8") as f:
                exchanges = validate_script(json.load(f))
        else:
            exchanges = []
    except (OSError, ValueError, ScriptError) as exc:
        sys.stderr.write("scripted_server: cannot load script %s: %s\n" % (args.script, exc))
        return 2

    # Check stdin before the listening socket exists, so fd 0 cannot be the socket.
    watch_stdin = not args.ignore_stdin and sys.stdin is not None

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: os._exit(0))

    server = Server(("127.0.0.1", args.port), Handler)
    server.script = Script(exchanges)

    if watch_stdin:
        threading.Thread(target=_watch_stdin, name="stdin-watch", daemon=True).start()

    sys.stdout.write("PORT %d\n" % server.server_address[1])
    sys.stdout.flush()
    server.serve_forever(poll_interval=0.2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
