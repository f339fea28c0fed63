#!/usr/bin/env python3
"""A Prometheus metrics endpoint whose bodies the test sets: the stand-in for an LLM server's
/metrics (vLLM, llama.cpp, TGI: none can run here). Each exposition is written by the test in
the server's own format (Tests/ModelUsageTests/ServerFixtures.swift).

  PUT /__body/<name>   (body: the exposition; header Content-Type: the type to answer with)
  GET /<name>/metrics  -> the last body put for <name>, with its Content-Type; 404 before any
  GET /__hits/<name>   -> {"hits": n}: how many times /<name>/metrics was served
  GET /metrics         -> with --root NAME, what /NAME/metrics serves (a server's own path, as a
                          discovered server is scraped); 404 without

--process-tag TEXT only puts TEXT in the process's command line (discovery matches command lines).
--body-file PATH (with --root) serves NAME's body from PATH, read at every request, so a
stand-in restarted by a test (new PID, same --port) answers at once with the counters the test
wrote; its Content-Type is the Prometheus text format's.
--listen-after SECONDS waits that long before it listens, as a server loading its model.

Prints "LISTENING <port>" once listening; logs to stderr.
"""
import argparse
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BODIES = {}
HITS = {}
ROOT = None
BODY_FILE = None
LOCK = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def _send(self, status, body, content_type="text/plain; charset=utf-8"):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_PUT(self):
        parts = self.path.strip("/").split("/")
        if len(parts) != 2 or parts[0] != "__body":
            self._send(404, b"not found\n")
            return
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        content_type = self.headers.get("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
        with LOCK:
            BODIES[parts[1]] = (body, content_type)
        self._send(204, b"")

    def do_GET(self):
        parts = self.path.strip("/").split("/")
        if parts == ["metrics"] and ROOT is not None:
            parts = [ROOT, "metrics"]
        if len(parts) == 2 and parts[0] == "__hits":
            with LOCK:
                hits = HITS.get(parts[1], 0)
            self._send(200, json.dumps({"hits": hits}).encode(), "application/json")
            return
        if len(parts) == 2 and parts[1] == "metrics":
            with LOCK:
                entry = BODIES.get(parts[0])
                if BODY_FILE is not None and parts[0] == ROOT:
                    try:
                        with open(BODY_FILE, "rb") as body_file:
                            entry = (body_file.read(), "text/plain; version=0.0.4; charset=utf-8")
                    except OSError:
                        entry = None
                if entry is not None:
                    HITS[parts[0]] = HITS.get(parts[0], 0) + 1
            if entry is None:
                self._send(404, b"no body set\n")
                return
            self._send(200, entry[0], entry[1])
            return
        self._send(404, b"not found\n")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--root")
    parser.add_argument("--process-tag")
    parser.add_argument("--body-file")
    parser.add_argument("--listen-after", type=float, default=0)
    arguments = parser.parse_args()
    global ROOT, BODY_FILE
    ROOT = arguments.root
    BODY_FILE = arguments.body_file
    if arguments.listen_after > 0:
        time.sleep(arguments.listen_after)
    server = ThreadingHTTPServer((arguments.host, arguments.port), Handler)
    server.daemon_threads = True
    print(f"LISTENING {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
