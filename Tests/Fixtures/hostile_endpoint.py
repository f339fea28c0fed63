#!/usr/bin/env python3
"""A hostile LLM server: the /metrics and /api/ps a local process could serve on a port the agent
scrapes, one case a path. Each case answers a small, valid vLLM exposition (or an empty /api/ps)
until it is armed, then its hostile answer:

  GET  /<case>/metrics    extreme  vLLM counters of 1e14 s latency with a count of 1, 1e308 tokens,
                                   NaN and -Inf, and a process start time in the future
                          names    16 models named with 200 KB each (3.2 MB: within the default
                                   body bound, so the names themselves are cut)
                          series   200,000 series of one custom metric
                          labels   a custom metric series with 100 labels and 200 KB values
                          huge     a 50 MB body
                          trickle  a body sent 1 byte a second (never finished while the test runs)
  GET  /<case>/api/ps     models   10,000 loaded models, the first 5 named with 200 KB each
  POST /__arm/<case>      from now on answer the hostile body
  GET  /__hits/<case>     {"hits": n}: requests served for <case>
  GET  /metrics           with --root CASE, what /CASE/metrics serves

Prints "LISTENING <port>" once listening; logs nothing.
"""
import argparse
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ARMED = set()
HITS = {}
ROOT = None
LOCK = threading.Lock()

BENIGN = (
    "# TYPE vllm:request_success_total counter\n"
    'vllm:request_success_total{finished_reason="stop",model_name="m"} 1\n'
    "# TYPE vllm:prompt_tokens_total counter\n"
    'vllm:prompt_tokens_total{model_name="m"} 10\n'
    "# TYPE vllm:generation_tokens_total counter\n"
    'vllm:generation_tokens_total{model_name="m"} 20\n'
    "# TYPE vllm:num_requests_running gauge\n"
    'vllm:num_requests_running{model_name="m"} 0\n'
).encode()

LONG = "x" * 200_000


def extreme():
    start = time.time() + 10 * 365 * 86400
    return (
        "# TYPE process_start_time_seconds gauge\n"
        f"process_start_time_seconds {start}\n"
        "# TYPE vllm:e2e_request_latency_seconds histogram\n"
        'vllm:e2e_request_latency_seconds_sum{model_name="m"} 1e14\n'
        'vllm:e2e_request_latency_seconds_count{model_name="m"} 1\n'
        'vllm:e2e_request_latency_seconds_sum{model_name="n"} 1e308\n'
        'vllm:e2e_request_latency_seconds_count{model_name="n"} 1e308\n'
        "# TYPE vllm:request_success_total counter\n"
        'vllm:request_success_total{finished_reason="stop",model_name="m"} 1e308\n'
        'vllm:request_success_total{finished_reason="stop",model_name="n"} NaN\n'
        "# TYPE vllm:prompt_tokens_total counter\n"
        'vllm:prompt_tokens_total{model_name="m"} 1.8446744073709552e19\n'
        'vllm:prompt_tokens_total{model_name="n"} -Inf\n'
        "# TYPE vllm:generation_tokens_total counter\n"
        'vllm:generation_tokens_total{model_name="m"} +Inf\n'
        'vllm:generation_tokens_total{model_name="n"} -5\n'
        "# TYPE vllm:num_requests_running gauge\n"
        'vllm:num_requests_running{model_name="m"} 1e308\n'
    ).encode()


def names():
    lines = ["# TYPE vllm:request_success_total counter"]
    for index in range(16):
        lines.append(f'vllm:request_success_total{{finished_reason="stop",model_name="{index}{LONG}"}} {index + 1}')
    return ("\n".join(lines) + "\n").encode()


def series():
    lines = ["# TYPE vllm:num_requests_running gauge"]
    lines += [f'vllm:num_requests_running{{model_name="m{index}"}} {index}' for index in range(200_000)]
    return ("\n".join(lines) + "\n").encode()


def labels():
    pairs = ",".join(f'l{index}="v"' for index in range(100))
    return (
        "# TYPE vllm:num_requests_running gauge\n"
        f"vllm:num_requests_running{{{pairs}}} 1\n"
        f'vllm:num_requests_running{{model_name="{LONG}"}} 2\n'
    ).encode()


def loaded_models():
    models = [
        {"name": f"{index}{LONG if index < 5 else ''}", "model": "x", "size": 1 << 30, "size_vram": 1 << 29}
        for index in range(10_000)
    ]
    return json.dumps({"models": models}).encode()


CACHE = {}


def cached(name, make):
    """Each hostile body is made once: the server answers at once, as a real one would."""
    with LOCK:
        if name not in CACHE:
            CACHE[name] = make()
        return CACHE[name]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def _send(self, status, body, content_type="text/plain; version=0.0.4; charset=utf-8"):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        parts = self.path.strip("/").split("/")
        if len(parts) == 2 and parts[0] == "__arm":
            with LOCK:
                ARMED.add(parts[1])
            self._send(204, b"")
            return
        self._send(404, b"not found\n")

    def do_GET(self):
        parts = self.path.strip("/").split("/")
        if parts == ["metrics"] and ROOT is not None:
            parts = [ROOT, "metrics"]
        if len(parts) == 2 and parts[0] == "__hits":
            with LOCK:
                hits = HITS.get(parts[1], 0)
            self._send(200, json.dumps({"hits": hits}).encode(), "application/json")
            return
        if len(parts) < 2:
            self._send(404, b"not found\n")
            return
        case, rest = parts[0], "/".join(parts[1:])
        with LOCK:
            HITS[case] = HITS.get(case, 0) + 1
            armed = case in ARMED
        if rest == "api/ps":
            body = cached("models", loaded_models) if armed else json.dumps({"models": []}).encode()
            self._send(200, body, "application/json")
            return
        if rest != "metrics":
            self._send(404, b"not found\n")
            return
        if not armed:
            self._send(200, BENIGN)
        elif case == "extreme":
            self._send(200, extreme())
        elif case == "names":
            self._send(200, cached("names", names))
        elif case == "series":
            self._send(200, cached("series", series))
        elif case == "labels":
            self._send(200, cached("labels", labels))
        elif case == "huge":
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(50 << 20))
            self.end_headers()
            chunk = b"# filler comment line to make the body large ........................\n" * 1024
            sent = 0
            try:
                while sent < 50 << 20:
                    piece = chunk[: (50 << 20) - sent]
                    self.wfile.write(piece)
                    sent += len(piece)
            except OSError:
                pass
        elif case == "trickle":
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", "1000000")
            self.end_headers()
            try:
                for _ in range(1_000_000):
                    self.wfile.write(b"#")
                    self.wfile.flush()
                    time.sleep(1)  # the hostile pace itself, not a synchronisation
            except OSError:
                pass
        else:
            self._send(404, b"unknown case\n")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--root")
    arguments = parser.parse_args()
    global ROOT
    ROOT = arguments.root
    server = ThreadingHTTPServer((arguments.host, arguments.port), Handler)
    server.daemon_threads = True
    print(f"LISTENING {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
