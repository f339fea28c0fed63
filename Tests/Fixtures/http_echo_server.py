"""HTTP/1.1 test server for the HTTP transport tests (keep-alive, one thread per connection).

usage: http_echo_server.py                 listens on 127.0.0.1, an ephemeral port; prints the port
       http_echo_server.py --unix PATH     listens on a unix socket at PATH; prints "ready"

Routes (any method):
  /echo...           200, JSON: method, path (with query), headers [[name, value], ...], body_hex,
                     connection (a number per accepted connection), request_on_connection,
                     client_port (0 over a unix socket)
  /status/N          status N; headers X-Test-Header and X-Multi twice; body "status N"
  /gzip              a text body; gzip-encoded when the request's Accept-Encoding offers gzip
  /stall?seconds=N   prints "stalled" on stdout, waits N seconds, then answers 200
  /bytes/N           N bytes of "x"
"""
import gzip
import http.server
import itertools
import os
import socketserver
import sys
import threading
import time
import urllib.parse

GZIP_TEXT = ("hello gzip " * 200).encode()
connection_numbers = itertools.count(1)
connection_lock = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        with connection_lock:
            self.connection_number = next(connection_numbers)
        self.requests_on_connection = 0

    def log_message(self, format, *args):
        pass

    def do_GET(self):
        self.route()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_GET

    def route(self):
        self.requests_on_connection += 1
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parsed = urllib.parse.urlsplit(self.path)
        parts = parsed.path.strip("/").split("/")
        if parts[0] == "echo":
            self.echo(body)
        elif parts[0] == "status":
            code = int(parts[1])
            extra = [("X-Test-Header", "Mixed-Case Value"), ("X-Multi", "first"), ("X-Multi", "second")]
            self.answer(code, b"" if code in (204, 304) else f"status {code}".encode(), extra)
        elif parts[0] == "gzip":
            if "gzip" in (self.headers.get("Accept-Encoding") or ""):
                self.answer(200, gzip.compress(GZIP_TEXT), [("Content-Encoding", "gzip")])
            else:
                self.answer(200, GZIP_TEXT)
        elif parts[0] == "stall":
            seconds = float(urllib.parse.parse_qs(parsed.query).get("seconds", ["30"])[0])
            print("stalled", flush=True)
            time.sleep(seconds)
            self.answer(200, b"late")
        elif parts[0] == "bytes":
            self.answer(200, b"x" * int(parts[1]))
        else:
            self.answer(404, b"no such route")

    def echo(self, body):
        import json

        port = self.client_address[1] if isinstance(self.client_address, tuple) else 0
        document = {
            "method": self.command,
            "path": self.path,
            "headers": [[name, value] for name, value in self.headers.items()],
            "body_hex": body.hex(),
            "connection": self.connection_number,
            "request_on_connection": self.requests_on_connection,
            "client_port": port,
        }
        self.answer(200, json.dumps(document).encode(), [("Content-Type", "application/json")])

    def answer(self, code, body, extra_headers=()):
        self.send_response(code)
        for name, value in extra_headers:
            self.send_header(name, value)
        if code not in (204, 304):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and code not in (204, 304):
            self.wfile.write(body)


class TCPServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True


class UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


if len(sys.argv) == 3 and sys.argv[1] == "--unix":
    if os.path.exists(sys.argv[2]):
        os.unlink(sys.argv[2])
    server = UnixServer(sys.argv[2], Handler)
    print("ready", flush=True)
else:
    server = TCPServer(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
server.serve_forever()
