"""Shared base of the strict stand-in servers (loki_server.py, orchestrator_server.py).

A server built on this module listens on 127.0.0.1 (--port 0: a free port), prints exactly one
line "LISTENING <port>" on stdout, and serves HTTP/1.1 with keep-alive (every response with a
body carries Content-Length) until SIGTERM or SIGINT, then exits 0. Nothing else is ever
written to stdout; --verbose logs one line per request on stderr.

Control API (requests under /control are never logged, faulted or counted):
  POST /control/faults    {"script": [<response>, ...], "then": <response> | null}   -> 204
                          <response> = {"status": 500, "retry_after": "2", "body": "text",
                                        "delay_ms": 250, "drop": false}
                          The script answers the next len(script) ingest requests in order, then
                          `then` answers every further one (null: back to normal handling).
                          "drop": true closes the connection without answering (a transport failure).
                          Ingest requests are POSTs to the server's ingest path(s); other requests
                          (wrong path or method) are logged but never take a fault.
                          A faulted request is still read, parsed and logged, never accepted.
  GET  /control/requests  every non-control request so far, in arrival order: index,
                          received_monotonic, received_unix, method, path, headers (lowercased
                          names), status (null while unanswered or when dropped), reason (the error
                          returned, or null), body_json, faulted, body_bytes; a faulted request also
                          has validation_status/validation_reason (what normal handling would have
                          answered); servers may add keys (loki: accepted_entries)
  GET  /control/accepted  what the server accepted (server-specific shape)
  POST /control/reset     clears the request log, accepted data and faults                -> 204
  anything else under /control -> 404
"""
import argparse
import http.server
import json
import signal
import socket
import socketserver
import sys
import threading
import time
import urllib.parse
import zlib

ABSOLUTE_BODY_LIMIT = 256 * 1024 * 1024  # beyond this a body is not even drained: the connection closes


def log(message):
    sys.stderr.write(message.rstrip("\n") + "\n")
    sys.stderr.flush()


def strict_json_loads(data):
    """json.loads that accepts only UTF-8 and rejects NaN/Infinity (which Python allows)."""

    def no_constants(name):
        raise ValueError(f"invalid JSON value {name}")

    text = data.decode("utf-8") if isinstance(data, (bytes, bytearray)) else data
    return json.loads(text, parse_constant=no_constants)


def media_type(value):
    """('application/json', {'charset': 'utf-8'}) from a Content-Type value; ('', {}) when absent."""
    if not value:
        return "", {}
    parts = [part.strip() for part in value.split(";")]
    params = {}
    for part in parts[1:]:
        if "=" in part:
            name, _, val = part.partition("=")
            params[name.strip().lower()] = val.strip().strip('"')
    return parts[0].lower(), params


def is_json_content_type(value):
    kind, params = media_type(value)
    return kind == "application/json" and params.get("charset", "utf-8").lower() in ("utf-8", "utf8")


class Request:
    """One non-control request as the application sees it."""

    def __init__(self, method, raw_path, headers, body, body_too_large, received_bytes):
        self.method = method
        self.raw_path = raw_path
        split = urllib.parse.urlsplit(raw_path)
        self.path = split.path
        self.query = split.query
        self.headers = headers  # lowercased name -> value (repeats joined with ", ")
        self.body = body  # bytes as received (None when too large)
        self.body_too_large = body_too_large
        self.received_bytes = received_bytes

    def header(self, name):
        return self.headers.get(name.lower())


class Response:
    def __init__(self, status, body=b"", content_type=None, headers=(), reason=None, body_json=None, log_extra=None):
        self.status = status
        self.log_extra = log_extra or {}  # extra keys for the request log
        self.body = body if isinstance(body, bytes) else body.encode("utf-8")
        self.content_type = content_type
        self.headers = list(headers)
        self.reason = reason  # what goes in the request log's "reason" (None on success)
        self.body_json = body_json  # the parsed request body, for the request log


def text_response(status, message, body_json=None, headers=(), log_extra=None):
    """A Go-style (http.Error) plain-text answer."""
    return Response(status, message + "\n", "text/plain; charset=utf-8",
                    [("X-Content-Type-Options", "nosniff")] + list(headers), reason=message, body_json=body_json,
                    log_extra=log_extra)


def json_response(status, document, reason=None, body_json=None, headers=()):
    return Response(status, json.dumps(document), "application/json", headers, reason=reason, body_json=body_json)


FAULT_KEYS = {"status", "retry_after", "body", "delay_ms", "drop"}


def parse_fault(value, where):
    """A validated fault response, or raises ValueError naming the problem."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValueError(f"{where} must be an object or null")
    unknown = set(value) - FAULT_KEYS
    if unknown:
        raise ValueError(f"{where} has unknown keys {sorted(unknown)}; allowed: {sorted(FAULT_KEYS)}")
    status = value.get("status")
    drop = value.get("drop", False)
    if not isinstance(drop, bool):
        raise ValueError(f"{where}.drop must be a boolean")
    if not drop and (not isinstance(status, int) or isinstance(status, bool) or not 200 <= status <= 599):
        raise ValueError(f"{where}.status must be an integer 200..599")
    retry_after = value.get("retry_after")
    if isinstance(retry_after, int) and not isinstance(retry_after, bool):
        retry_after = str(retry_after)
    if retry_after is not None and not isinstance(retry_after, str):
        raise ValueError(f"{where}.retry_after must be a string")
    body = value.get("body")
    if body is not None and not isinstance(body, str):
        raise ValueError(f"{where}.body must be a string")
    delay = value.get("delay_ms", 0)
    if not isinstance(delay, (int, float)) or isinstance(delay, bool) or delay < 0:
        raise ValueError(f"{where}.delay_ms must be a non-negative number")
    return {"status": status, "retry_after": retry_after, "body": body, "delay_ms": delay, "drop": drop}


class App:
    """What a concrete server provides. All methods but `validate` run under `self.lock`."""

    name = "strict-http"
    max_body_bytes = 16 * 1024 * 1024

    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.requests = []
        self.script = []
        self.then = None
        self.reset_accepted()

    # --- to override -------------------------------------------------------------------------
    def reset_accepted(self):
        pass

    def accepted_document(self):
        return {}

    def is_ingest(self, method, path):
        """Requests that faults apply to (the ingest endpoints with their method)."""
        return False

    def validate(self, request):
        """Stateless handling (outside the lock): a Response, plus a `commit(dry_run)` callable
        or None. commit runs under the lock, may look at and (unless dry_run) change the stored
        state, and returns the final Response."""
        raise NotImplementedError

    def body_too_large(self, request):
        return text_response(413, f"request body too large: {request.received_bytes} bytes, "
                                  f"limit: {self.max_body_bytes} bytes")

    def fault_response(self, fault, request):
        status = fault["status"]
        if fault["body"] is not None:
            body = fault["body"]
        else:
            body = "" if status < 300 else f"injected fault: HTTP {status}"
        headers = [("Retry-After", fault["retry_after"])] if fault["retry_after"] is not None else []
        content_type = "text/plain; charset=utf-8"
        if body:
            try:
                json.loads(body)
                content_type = "application/json"
            except ValueError:
                pass
        return Response(status, body, content_type if body else None, headers, reason=body or None)

    # --- shared ------------------------------------------------------------------------------
    def begin(self, handler, received_monotonic, received_unix):
        """Registers a request (in arrival order) and takes the fault that answers it, if any."""
        with self.lock:
            entry = {
                "index": len(self.requests),
                "received_monotonic": received_monotonic,
                "received_unix": received_unix,
                "method": handler.command,
                "path": handler.path,
                "headers": handler.lowered_headers(),
                "status": None,
                "reason": None,
                "body_json": None,
                "faulted": False,
            }
            self.requests.append(entry)
            fault = None
            if self.is_ingest(handler.command, urllib.parse.urlsplit(handler.path).path):
                if self.script:
                    fault = self.script.pop(0)
                elif self.then is not None:
                    fault = self.then
            entry["faulted"] = fault is not None
            return entry, fault

    def control(self, method, path, body):
        if method == "POST" and path == "/control/faults":
            try:
                document = strict_json_loads(body or b"")
                if not isinstance(document, dict):
                    raise ValueError("body must be a JSON object")
                unknown = set(document) - {"script", "then"}
                if unknown:
                    raise ValueError(f"unknown keys {sorted(unknown)}")
                script = document.get("script", [])
                if not isinstance(script, list):
                    raise ValueError("script must be a list")
                parsed = [parse_fault(item, f"script[{i}]") for i, item in enumerate(script)]
                if any(item is None for item in parsed):
                    raise ValueError("script items must be objects")
                then = parse_fault(document.get("then"), "then")
            except ValueError as error:
                return text_response(400, f"bad fault script: {error}")
            with self.lock:
                self.script = parsed
                self.then = then
            return Response(204)
        if method == "GET" and path == "/control/requests":
            with self.lock:
                document = json.dumps(self.requests)
            return Response(200, document, "application/json")
        if method == "GET" and path == "/control/accepted":
            with self.lock:
                document = json.dumps(self.accepted_document())
            return Response(200, document, "application/json")
        if method == "POST" and path == "/control/reset":
            with self.lock:
                self.requests = []
                self.script = []
                self.then = None
                self.reset_accepted()
            return Response(204)
        return text_response(404, "404 page not found")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    app = None  # set by serve()

    def version_string(self):
        return self.app.name

    def log_message(self, format, *args):
        if self.app.args.verbose:
            log(f"{self.app.name}: {self.address_string()} {format % args}")

    def log_error(self, format, *args):
        log(f"{self.app.name}: {self.address_string()} {format % args}")

    def __getattr__(self, name):
        # Every method reaches `route` (BaseHTTPRequestHandler answers 501 for a missing do_X).
        if name.startswith("do_"):
            return self.route
        raise AttributeError(name)

    def lowered_headers(self):
        headers = {}
        for name, value in self.headers.items():
            key = name.lower()
            headers[key] = headers[key] + ", " + value if key in headers else value
        return headers

    def read_body(self, limit):
        """(body or None when over `limit`, bytes received). Drains an oversized body so the
        connection stays usable, up to ABSOLUTE_BODY_LIMIT."""
        kept = bytearray()
        total = 0

        def take(chunk):
            nonlocal total
            total += len(chunk)
            if total <= limit:
                kept.extend(chunk)

        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                remaining = size
                while remaining:
                    chunk = self.rfile.read(min(remaining, 1 << 20))
                    if not chunk:
                        raise ConnectionError("body ended early")
                    take(chunk)
                    remaining -= len(chunk)
                    if total > ABSOLUTE_BODY_LIMIT:
                        self.close_connection = True
                        return None, total
                self.rfile.readline(3)
        else:
            length = int(self.headers.get("Content-Length") or 0)
            if length > ABSOLUTE_BODY_LIMIT:
                self.close_connection = True
                return None, length
            remaining = length
            while remaining:
                chunk = self.rfile.read(min(remaining, 1 << 20))
                if not chunk:
                    raise ConnectionError("body ended early")
                take(chunk)
                remaining -= len(chunk)
        return (bytes(kept) if total <= limit else None), total

    def send(self, response):
        self.send_response(response.status)
        for name, value in response.headers:
            self.send_header(name, value)
        bodiless = response.status in (204, 304) or response.status < 200
        if not bodiless:
            if response.content_type:
                self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if not bodiless and self.command != "HEAD":
            self.wfile.write(response.body)
        self.wfile.flush()

    def route(self):
        received_monotonic, received_unix = time.monotonic(), time.time()
        path = urllib.parse.urlsplit(self.path).path
        try:
            if path == "/control" or path.startswith("/control/"):
                body, _ = self.read_body(1 << 20)
                return self.send(self.app.control(self.command, path, body))
            self.ingest(received_monotonic, received_unix)
        except (BrokenPipeError, ConnectionResetError):
            # The client hung up before the answer (its timeout, during a stalled answer): not
            # the request's fault, and the request log already shows it unanswered.
            self.close_connection = True
        except (ValueError, ConnectionError) as error:
            self.close_connection = True
            log(f"{self.app.name}: bad request framing: {error}")

    def ingest(self, received_monotonic, received_unix):
        app = self.app
        entry, fault = app.begin(self, received_monotonic, received_unix)
        body, received = self.read_body(app.max_body_bytes)
        request = Request(self.command, self.path, entry["headers"], body, body is None, received)
        if request.body_too_large:
            response, commit = app.body_too_large(request), None
        else:
            response, commit = app.validate(request)
        with app.lock:
            if commit is not None:
                response = commit(dry_run=fault is not None)
            entry["body_json"] = response.body_json
            entry["body_bytes"] = received
            if fault is not None:
                entry["validation_status"] = response.status
                entry["validation_reason"] = response.reason
                if fault["drop"]:
                    response = Response(0, reason="connection closed without an answer (fault)")
                else:
                    response = app.fault_response(fault, request)
            else:
                entry.update(response.log_extra)
        if fault is not None and fault["delay_ms"]:
            time.sleep(fault["delay_ms"] / 1000)
        with app.lock:  # status and reason appear together, once answered (null while in flight)
            entry["reason"] = response.reason
            entry["status"] = None if fault is not None and fault["drop"] else response.status
        if fault is not None and fault["drop"]:
            self.close_connection = True
            if app.args.verbose:
                log(f"{app.name}: dropped the connection of request {entry['index']} (fault)")
            return
        self.send(response)


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def server_bind(self):
        # HTTPServer.server_bind resolves the host's FQDN, which can stall without DNS.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def handle_error(self, request, client_address):
        error = sys.exc_info()[1]
        if isinstance(error, (ConnectionError, BrokenPipeError, socket.timeout)):
            return
        log(f"error while serving {client_address}: {error!r}")


def argument_parser(description):
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to bind; 0 (default) picks a free one")
    parser.add_argument("--verbose", action="store_true", help="log every request on stderr")
    return parser


def decode_content_encoding(body, encoding, limit):
    """The body with Content-Encoding gzip/deflate undone, or None when it decodes to more than
    `limit` bytes; raises ValueError for other encodings or a corrupt body."""
    encoding = (encoding or "").strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding in ("gzip", "x-gzip"):
        wbits_choices = [16 + zlib.MAX_WBITS]
    elif encoding == "deflate":
        wbits_choices = [zlib.MAX_WBITS, -zlib.MAX_WBITS]  # zlib-wrapped, or raw as some clients send
    else:
        raise ValueError(f"Content-Encoding {json.dumps(encoding)} not supported")
    last_error = None
    for wbits in wbits_choices:
        try:
            output = bytearray()
            data = body
            while data:
                decoder = zlib.decompressobj(wbits)
                output += decoder.decompress(data, limit + 1 - len(output))
                if len(output) > limit:
                    return None
                if not decoder.eof:
                    raise ValueError("compressed body is truncated")
                data = decoder.unused_data if wbits > 16 else b""  # gzip may hold several members
            return bytes(output)
        except zlib.error as error:
            last_error = error
    raise ValueError(f"cannot decode {encoding} body: {last_error}")


def serve(app):
    """Binds, prints "LISTENING <port>", serves until SIGTERM/SIGINT, exits 0."""
    handler = type("BoundHandler", (Handler,), {"app": app})
    server = Server((app.args.host, app.args.port), handler)

    def stop(signum, frame):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"LISTENING {server.server_address[1]}", flush=True)
    sys.stdout = sys.stderr  # nothing else may reach stdout
    try:
        server.serve_forever(poll_interval=0.1)
    finally:
        server.server_close()
    sys.exit(0)
