"""A strict stand-in for an Ollama server and an OpenAI-compatible server, for the metering-proxy
integration tests. Python 3 standard library only.

usage: llm_upstream.py [--port 0] [--host 127.0.0.1] [--require-api-key] [--verbose]
prints exactly one line "LISTENING <port>" on stdout once listening (nothing else ever goes to stdout);
SIGTERM or SIGINT ends it (exit 0). --verbose logs one line per request on stderr; unexpected
handler errors always go to stderr.

One server answers both APIs, as documented in Ollama's docs/api.md and the OpenAI API reference:
  GET  /  HEAD /                 "Ollama is running"
  GET  /api/version              {"version": "0.6.3"}
  POST /api/generate             NDJSON stream (stream defaults to true) or one JSON object
  POST /api/chat                 same, with message: {role: "assistant", content}
  POST /api/embed                {model, embeddings: [[...]], total_duration, load_duration, prompt_eval_count}
  GET  /api/tags  HEAD /api/tags {models: [...]} (three fixed models)
  GET  /api/ps                   {models: [...]} (llama3.2:latest and nomic-embed-text:latest loaded)
  POST /v1/chat/completions      chat.completion, or SSE chat.completion.chunk events (stream defaults to false)
  POST /v1/completions           text_completion, or SSE text_completion events
  POST /v1/embeddings            {object: "list", data: [{object: "embedding", index, embedding}], model, usage}
                                 (encoding_format "float" or "base64": little-endian float32, base64)
  GET  /v1/models                {object: "list", data: [{id, object: "model", created, owned_by}]}
  GET  /v1/models/<id>           one of those, else 404 model_not_found
Side endpoint (not part of either API, never recorded):
  GET    /__requests             JSON array of every other request so far, in arrival order:
                                 {method, path, query, headers: [[name, value], ...] (as received, in
                                 arrival order), body (UTF-8, invalid bytes replaced), body_base64, body_bytes,
                                 peer_port (the client's TCP port: one per connection)}
  DELETE /__requests             clears it (204)

Strictness. Wrong method on a known path: 405 (Ollama paths: gin's text/plain "405 method not allowed";
/v1 paths: OpenAI's JSON error). Unknown path: 404 (under /v1/: OpenAI JSON error, elsewhere gin's
"404 page not found"). POST bodies must be a JSON object (400 otherwise). OpenAI paths also require
Content-Type: application/json, reject unknown body parameters ("Unrecognized request argument
supplied") and check the types of the parameters used here. Ollama, like the real server (gin's
ShouldBindJSON), ignores Content-Type and unknown fields. Errors use each server's own shape: Ollama
{"error": "..."}; OpenAI {"error": {"message", "type", "param", "code"}}.
Required: `model` everywhere (Ollama 400 "model is required"; OpenAI 400 "you must provide a model
parameter"); OpenAI: `messages` (non-empty), `prompt`, `input`. Ollama, as the real server does,
answers a generate without `prompt` or a chat without `messages` with a "load" response
({"model", "created_at", "response": "", "done": true, "done_reason": "load"}, plain JSON even when
streaming was asked for) and an embed without `input` with "embeddings": [].
--require-api-key: /v1 requests without "Authorization: Bearer <key>" get OpenAI's 401.
Any model name is accepted.

Responses are a pure function of the request body (fixed created_at "2025-01-01T00:00:00Z",
created 1735689600, ids from a SHA-256 of the body), so a direct and a proxied call get identical bodies.
Tokens: input = whitespace-separated words of the prompt (chat: of all message contents; embeddings:
of all inputs; a token-id array counts its length). Output = options.num_predict (Ollama; negative: the
default) / max_completion_tokens or max_tokens (OpenAI) if given, else 5; at most 16384 (Ollama
clamps, OpenAI answers 400). Output text "tok0 tok1 ...": streams send one chunk per output token.
Ollama's final object carries done_reason "stop", total_duration, load_duration, prompt_eval_count,
prompt_eval_duration, eval_count, eval_duration (nanoseconds: load 1e6, prompt_eval 1e6 per input
token, eval 1e7 per output token, total their sum); like Ollama (Go omitempty) a zero figure is left
out. /api/generate's final object also has "context": [1, ..., input + output] (not in fault streams). Model "omit-zeros" also leaves out prompt_eval_count (as Ollama does when the prompt was cached).
OpenAI: usage {prompt_tokens, completion_tokens, total_tokens, *_details}; in a stream only with
stream_options {"include_usage": true}: then every chunk has "usage": null and one last chunk before
[DONE] has "choices": [] and the usage.

Fault modes, chosen by the model name, on /api/generate, /api/chat, /v1/chat/completions,
/v1/completions (all but fault-500 always answer with a stream, whatever `stream` says; OpenAI fault
streams always carry usage, as if include_usage were set):
  fault-close-midstream  the first 3 token chunks (OpenAI: after the role chunk), then the TCP
                         connection is closed (FIN) without the terminating zero-length chunk.
  fault-malformed        2 token chunks, one line/event that is not JSON ("{not valid json"), then a
                         valid final object with usage counting 2 output tokens (OpenAI: finish
                         chunk, usage chunk, [DONE]).
  fault-truncated-final  all token chunks, then the final object (Ollama: the done line; OpenAI: the
                         usage event, after the finish chunk) cut in half (no [DONE]); the chunked
                         body then ends properly.
  fault-huge-<N>         about N bytes of body: max(1, N // 65536) chunks of exactly 65536 bytes each
                         (one NDJSON object / one SSE event with a long response/content string),
                         then the final object(s); output tokens = number of those chunks. Generated on
                         the fly from one pre-built chunk.
  fault-slow             5 token chunks, one every 200 ms, then the final object (5 output tokens).
  fault-slow-head        nothing for 1 s (not even the status line), then a whole normal stream.
  fault-500              500 with the server's error shape (also on /api/embed and /v1/embeddings).
"""
import base64
import hashlib
import http.server
import json
import re
import signal
import socket
import struct
import sys
import threading
import time
import urllib.parse

sys.dont_write_bytecode = True  # no __pycache__ next to the fixtures
import strict_http  # noqa: E402
from strict_http import log, strict_json_loads  # noqa: E402

NAME = "llm-upstream"
MAX_BODY_BYTES = 64 * 1024 * 1024
CREATED_AT = "2025-01-01T00:00:00Z"  # Ollama timestamps
CREATED = 1735689600  # OpenAI timestamps (the same instant)
EXPIRES_AT = "2099-01-01T00:00:00Z"  # /api/ps: far away, so no consumer thinks a model expired
DEFAULT_OUTPUT_TOKENS = 5
MAX_OUTPUT_TOKENS = 16384
EMBEDDING_DIMENSIONS = 8
HUGE_CHUNK_BYTES = 65536
SLOW_INTERVAL = 0.2
SLOW_CHUNKS = 5
SLOW_HEAD_DELAY = 1.0
SYSTEM_FINGERPRINT = "fp_llmupstream"
OLLAMA_VERSION = "0.6.3"


def digest_of(text):
    return hashlib.sha256(text.encode()).hexdigest()


def go_json(document):
    """Bytes as Go's encoding/json writes them: compact, UTF-8, <>& and U+2028/9 escaped."""
    text = json.dumps(document, separators=(",", ":"), ensure_ascii=False)
    for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                         ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, escape)
    return text.encode("utf-8", "replace")


def compact_json(document):
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8", "replace")


def pretty_json(document, indent=2):
    """OpenAI's non-streamed bodies are indented JSON."""
    return json.dumps(document, indent=indent, ensure_ascii=False).encode("utf-8", "replace")


def words(text):
    return len(text.split())


def output_text(count):
    return " ".join(f"tok{i}" for i in range(count))


def token_piece(i):
    """The i-th streamed piece; the pieces concatenate to output_text(n)."""
    return f"tok{i}" if i == 0 else f" tok{i}"


def embedding_vector(model, item, dimensions):
    """Deterministic values of the form (k + 0.5) / 128: exact in float32, never integral."""
    seed = hashlib.sha256(json.dumps([model, item]).encode()).digest()
    while len(seed) < dimensions:
        seed += hashlib.sha256(seed).digest()
    return [(seed[i] - 127.5) / 128 for i in range(dimensions)]


# --- fixed model tables ---------------------------------------------------------------------------

def _details(family, parameter_size, quantization, fmt="gguf"):
    return {"parent_model": "", "format": fmt, "family": family, "families": [family],
            "parameter_size": parameter_size, "quantization_level": quantization}


TAGS_MODELS = [
    {"name": "llama3.2:latest", "model": "llama3.2:latest", "modified_at": CREATED_AT, "size": 2019393189,
     "digest": digest_of("llama3.2:latest"), "details": _details("llama", "3.2B", "Q4_K_M")},
    {"name": "mistral:latest", "model": "mistral:latest", "modified_at": CREATED_AT, "size": 4113301824,
     "digest": digest_of("mistral:latest"), "details": _details("llama", "7.2B", "Q4_0")},
    {"name": "nomic-embed-text:latest", "model": "nomic-embed-text:latest", "modified_at": CREATED_AT,
     "size": 274302450, "digest": digest_of("nomic-embed-text:latest"),
     "details": _details("nomic-bert", "137M", "F16")},
]

PS_MODELS = [
    {"name": "llama3.2:latest", "model": "llama3.2:latest", "size": 3_825_819_519,
     "digest": digest_of("llama3.2:latest"), "details": _details("llama", "3.2B", "Q4_K_M"),
     "expires_at": EXPIRES_AT, "size_vram": 3_825_819_519, "context_length": 4096},
    {"name": "nomic-embed-text:latest", "model": "nomic-embed-text:latest", "size": 580_000_000,
     "digest": digest_of("nomic-embed-text:latest"), "details": _details("nomic-bert", "137M", "F16"),
     "expires_at": EXPIRES_AT, "size_vram": 0, "context_length": 2048},
]

OPENAI_MODELS = [{"id": model_id, "object": "model", "created": CREATED, "owned_by": "llm-upstream"}
                 for model_id in ("llama3.2", "mistral", "text-embedding-3-small")]

OLLAMA_ROUTES = {
    "/": ("GET", "HEAD"),
    "/api/version": ("GET", "HEAD"),
    "/api/generate": ("POST",),
    "/api/chat": ("POST",),
    "/api/embed": ("POST",),
    "/api/tags": ("GET", "HEAD"),
    "/api/ps": ("GET",),
}
OPENAI_ROUTES = {
    "/v1/chat/completions": ("POST",),
    "/v1/completions": ("POST",),
    "/v1/embeddings": ("POST",),
    "/v1/models": ("GET",),
}

# Body parameters the OpenAI API reference lists per endpoint (anything else: 400).
OPENAI_PARAMETERS = {
    "/v1/chat/completions": {
        "model", "messages", "audio", "frequency_penalty", "function_call", "functions", "logit_bias",
        "logprobs", "max_completion_tokens", "max_tokens", "metadata", "modalities", "n",
        "parallel_tool_calls", "prediction", "presence_penalty", "prompt_cache_key", "reasoning_effort",
        "response_format", "safety_identifier", "seed", "service_tier", "stop", "store", "stream",
        "stream_options", "temperature", "tool_choice", "tools", "top_logprobs", "top_p", "user",
        "verbosity", "web_search_options"},
    "/v1/completions": {
        "model", "prompt", "best_of", "echo", "frequency_penalty", "logit_bias", "logprobs", "max_tokens",
        "n", "presence_penalty", "seed", "stop", "stream", "stream_options", "suffix", "temperature",
        "top_p", "user"},
    "/v1/embeddings": {"model", "input", "dimensions", "encoding_format", "user"},
}
MESSAGE_ROLES = {"system", "developer", "user", "assistant", "tool", "function"}

HUGE = re.compile(r"^fault-huge-([0-9]{1,15})$")
STREAM_FAULTS = {
    "fault-close-midstream", "fault-malformed", "fault-truncated-final", "fault-slow", "fault-slow-head",
}


def fault_of(model):
    if model == "fault-500":
        return ("500", None)
    if model in STREAM_FAULTS:
        return (model[len("fault-"):], None)
    match = HUGE.match(model)
    if match:
        return ("huge", int(match.group(1)))
    return (None, None)


class ApiError(Exception):
    """An error answer: status plus the document for the server's error shape."""

    def __init__(self, status, message, param=None, code=None, error_type="invalid_request_error"):
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.error_type = error_type


# --- type checks ----------------------------------------------------------------------------------

def json_kind(value):
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def go_check(document, struct_name, field, go_type, allowed):
    """Go's json.Unmarshal type errors (null is accepted for anything, as Go does)."""
    value = document.get(field)
    if value is None or json_kind(value) in allowed:
        return value
    raise ApiError(400, f"json: cannot unmarshal {json_kind(value)} into Go struct field "
                        f"{struct_name}.{field} of type {go_type}")


OPENAI_TYPE_NAMES = {"string": "a string", "bool": "a boolean", "integer": "an integer", "number": "a number",
                     "array": "an array", "object": "an object"}


def openai_check(document, field, kind):
    """OpenAI's 'Invalid type' errors; null means "not given"."""
    value = document.get(field)
    if value is None:
        return None
    actual = json_kind(value)
    ok = actual == kind or (kind == "integer" and isinstance(value, int) and not isinstance(value, bool))
    if kind == "integer" and actual == "number" and not ok:
        actual = "a decimal"
    if not ok:
        got = OPENAI_TYPE_NAMES.get(actual, actual)
        raise ApiError(400, f"Invalid type for '{field}': expected {OPENAI_TYPE_NAMES[kind]}, but got {got} "
                            f"instead.", param=field, code="invalid_type")
    return value


def count_openai_content(content):
    if content is None:
        return 0
    if isinstance(content, str):
        return words(content)
    if isinstance(content, list):
        total = 0
        for part in content:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                total += words(part["text"])
        return total
    raise ApiError(400, "Invalid type for 'messages.content': expected one of a string or array of objects, "
                        "but got an object instead.", param="messages.content", code="invalid_type")


def count_input(value, field):
    """Tokens of an OpenAI prompt/input: a string, array of strings, array of token ids, or array of
    token-id arrays. Returns (token count, list of items)."""
    if isinstance(value, str):
        return words(value), [value]
    if isinstance(value, list) and value:
        if all(isinstance(item, str) for item in value):
            return sum(words(item) for item in value), list(value)
        if all(isinstance(item, int) and not isinstance(item, bool) for item in value):
            return len(value), [value]
        if all(isinstance(item, list) and item and all(isinstance(t, int) and not isinstance(t, bool) for t in item)
               for item in value):
            return sum(len(item) for item in value), list(value)
    if isinstance(value, list) and not value:
        raise ApiError(400, f"Invalid '{field}': empty array. Expected an array with minimum length 1, but got "
                            f"an empty array instead.", param=field, code="empty_array")
    raise ApiError(400, f"Invalid type for '{field}': expected one of a string, array of strings, array of "
                        f"integers, or array of arrays of integers, but got {OPENAI_TYPE_NAMES.get(json_kind(value), json_kind(value))} instead.",
                   param=field, code="invalid_type")


# --- the generation plan --------------------------------------------------------------------------

class Plan:
    """What one generation request produces; builds the frames of its stream."""

    def __init__(self, api, kind, model, input_tokens, output_tokens, body, include_usage=False,
                 omit_prompt_count=False, with_context=True):
        self.api = api  # "ollama" | "openai"
        self.kind = kind  # ollama: "generate" | "chat"; openai: "chat" | "completions"
        self.model = model
        self.input_tokens = input_tokens
        self.output_tokens = output_tokens
        self.include_usage = include_usage
        self.omit_prompt_count = omit_prompt_count
        self.with_context = with_context  # generate's final "context" (left out of fault streams)
        digest = hashlib.sha256(body).hexdigest()
        self.request_id = "req_" + digest[:32]
        self.id = ("chatcmpl-" if kind == "chat" else "cmpl-") + digest[:24]

    # Ollama ------------------------------------------------------------------------------------
    def ollama_metrics(self, output_tokens):
        metrics = {
            "total_duration": 1_000_000 + 1_000_000 * self.input_tokens + 10_000_000 * output_tokens,
            "load_duration": 1_000_000,
            "prompt_eval_count": self.input_tokens,
            "prompt_eval_duration": 1_000_000 * self.input_tokens,
            "eval_count": output_tokens,
            "eval_duration": 10_000_000 * output_tokens,
        }
        if self.omit_prompt_count:
            del metrics["prompt_eval_count"]
        return {key: value for key, value in metrics.items() if value}  # Go's omitempty

    def ollama_object(self, text, done, output_tokens=0):
        document = {"model": self.model, "created_at": CREATED_AT}
        if self.kind == "generate":
            document["response"] = text
        else:
            document["message"] = {"role": "assistant", "content": text}
        document["done"] = done
        if done:
            document["done_reason"] = "stop"
            if self.kind == "generate" and self.with_context:
                document["context"] = list(range(1, self.input_tokens + output_tokens + 1))
            document.update(self.ollama_metrics(output_tokens))
        return document

    # OpenAI ------------------------------------------------------------------------------------
    def usage(self, output_tokens):
        return {"prompt_tokens": self.input_tokens, "completion_tokens": output_tokens,
                "total_tokens": self.input_tokens + output_tokens,
                "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                              "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}}

    def openai_chunk(self, choices, with_usage_key=True, usage=None):
        if self.kind == "chat":
            document = {"id": self.id, "object": "chat.completion.chunk", "created": CREATED, "model": self.model,
                        "service_tier": "default", "system_fingerprint": SYSTEM_FINGERPRINT, "choices": choices}
        else:
            document = {"id": self.id, "object": "text_completion", "created": CREATED, "choices": choices,
                        "model": self.model, "system_fingerprint": SYSTEM_FINGERPRINT}
        if self.include_usage and with_usage_key:
            document["usage"] = usage
        return document

    def openai_choice(self, text, finish_reason=None, role=False):
        if self.kind == "chat":
            if role:
                delta = {"role": "assistant", "content": text, "refusal": None}
            elif finish_reason is not None:
                delta = {}
            else:
                delta = {"content": text}
            return {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return {"text": text, "index": 0, "logprobs": None, "finish_reason": finish_reason}

    def openai_response(self):
        text = output_text(self.output_tokens)
        if self.kind == "chat":
            return {"id": self.id, "object": "chat.completion", "created": CREATED, "model": self.model,
                    "choices": [{"index": 0,
                                 "message": {"role": "assistant", "content": text, "refusal": None,
                                             "annotations": []},
                                 "logprobs": None, "finish_reason": "stop"}],
                    "usage": self.usage(self.output_tokens), "service_tier": "default",
                    "system_fingerprint": SYSTEM_FINGERPRINT}
        return {"id": self.id, "object": "text_completion", "created": CREATED, "model": self.model,
                "choices": [{"text": text, "index": 0, "logprobs": None, "finish_reason": "stop"}],
                "usage": self.usage(self.output_tokens), "system_fingerprint": SYSTEM_FINGERPRINT}

    # frames ------------------------------------------------------------------------------------
    @staticmethod
    def sse(document):
        return b"data: " + compact_json(document) + b"\n\n"

    def head_frames(self):
        """Frames before the first token (OpenAI chat: the role chunk)."""
        if self.api == "openai" and self.kind == "chat":
            return [self.sse(self.openai_chunk([self.openai_choice("", role=True)]))]
        return []

    def token_frame(self, piece):
        if self.api == "ollama":
            return go_json(self.ollama_object(piece, False)) + b"\n"
        return self.sse(self.openai_chunk([self.openai_choice(piece)]))

    def tail_frames(self, output_tokens):
        """The frames after the last token: [..., final frame carrying usage, terminator or None]."""
        if self.api == "ollama":
            return [go_json(self.ollama_object("", True, output_tokens)) + b"\n"]
        frames = [self.sse(self.openai_chunk([self.openai_choice("", finish_reason="stop")]))]
        if self.include_usage:
            frames.append(self.sse(self.openai_chunk([], usage=self.usage(output_tokens))))
        frames.append(b"data: [DONE]\n\n")
        return frames

    def padded_token_frame(self, size):
        """One token frame of exactly `size` bytes (a long run of "x")."""
        base = len(self.token_frame(""))
        frame = self.token_frame("x" * max(0, size - base))
        assert len(frame) == size or size < base, (len(frame), size)
        return frame


# --- the server -----------------------------------------------------------------------------------

class App:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.requests = []

    def record(self, entry):
        with self.lock:
            self.requests.append(entry)

    def recorded(self):
        with self.lock:
            return json.dumps(self.requests).encode()

    def clear(self):
        with self.lock:
            self.requests = []


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # every chunk leaves at once
    app = None  # set by serve()

    def version_string(self):
        return NAME

    def log_message(self, format, *args):
        if self.app.args.verbose:
            log(f"{NAME}: {self.address_string()} {format % args}")

    def log_error(self, format, *args):
        log(f"{NAME}: {self.address_string()} {format % args}")

    def __getattr__(self, name):
        # Every method reaches `route` (BaseHTTPRequestHandler answers 501 for a missing do_X).
        if name.startswith("do_"):
            return self.route
        raise AttributeError(name)

    # --- request ---------------------------------------------------------------------------------
    def read_body(self):
        """The body (Content-Length or chunked), or None when over MAX_BODY_BYTES."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            body = bytearray()
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    raise ConnectionError("body ended early")
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(body)
                if len(body) + size > MAX_BODY_BYTES:
                    return None
                chunk = self.rfile.read(size)
                if len(chunk) != size:
                    raise ConnectionError("body ended early")
                body += chunk
                self.rfile.readline(3)
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            return None
        body = self.rfile.read(length) if length else b""
        if len(body) != length:
            raise ConnectionError("body ended early")
        return body

    def route(self):
        split = urllib.parse.urlsplit(self.path)
        path = split.path
        try:
            body = self.read_body()
        except (ValueError, ConnectionError) as error:
            self.close_connection = True
            log(f"{NAME}: bad request framing: {error}")
            return
        if path == "/__requests":
            return self.requests_endpoint()
        raw = body if body is not None else b""
        self.app.record({
            "method": self.command,
            "path": path,
            "query": split.query,
            "headers": [[name, value] for name, value in self.headers.items()],
            "body": raw.decode("utf-8", "replace"),
            "body_base64": base64.b64encode(raw).decode(),
            "body_bytes": len(raw),
            "peer_port": self.client_address[1],
        })
        api = "openai" if path == "/v1" or path.startswith("/v1/") else "ollama"
        try:
            if body is None:
                self.close_connection = True
                raise ApiError(413, f"request body too large (limit {MAX_BODY_BYTES} bytes)")
            self.dispatch(api, path, body)
        except ApiError as error:
            self.send_error_shape(api, error)
        except (ConnectionError, socket.timeout):
            self.close_connection = True

    def requests_endpoint(self):
        if self.command == "GET":
            return self.send_body(200, self.app.recorded(), "application/json")
        if self.command == "DELETE":
            self.app.clear()
            return self.send_body(204, b"", None)
        return self.send_body(405, b"405 method not allowed", "text/plain", [("Allow", "GET, DELETE")])

    def dispatch(self, api, path, body):
        if api == "openai":
            if self.app.args.require_api_key:
                authorization = self.headers.get("Authorization") or ""
                if not authorization.startswith("Bearer ") or not authorization[7:].strip():
                    raise ApiError(401, "You didn't provide an API key. You need to provide your API key in an "
                                        "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).")
            methods = OPENAI_ROUTES.get(path)
            if methods is None and path.startswith("/v1/models/") and len(path) > len("/v1/models/"):
                methods = ("GET",)
            if methods is None:
                raise ApiError(404, f"Invalid URL ({self.command} {path})")
            if self.command not in methods:
                raise ApiError(405, f"Invalid method for URL ({self.command} {path})",
                               error_type="invalid_request_error")
            if path == "/v1/models":
                return self.send_openai(200, {"object": "list", "data": OPENAI_MODELS})
            if path.startswith("/v1/models/"):
                model_id = urllib.parse.unquote(path[len("/v1/models/"):])
                for model in OPENAI_MODELS:
                    if model["id"] == model_id:
                        return self.send_openai(200, model)
                raise ApiError(404, f"The model '{model_id}' does not exist", param="model", code="model_not_found")
            document = self.openai_body(path, body)
            if path == "/v1/embeddings":
                return self.openai_embeddings(document, body)
            return self.openai_generation(path, document, body)

        methods = OLLAMA_ROUTES.get(path)
        if methods is None:
            return self.send_body(404, b"404 page not found", "text/plain")
        if self.command not in methods:
            return self.send_body(405, b"405 method not allowed", "text/plain", [("Allow", ", ".join(methods))])
        if path == "/":
            return self.send_body(200, b"Ollama is running", "text/plain; charset=utf-8")
        if path == "/api/version":
            return self.send_ollama(200, {"version": OLLAMA_VERSION})
        if path == "/api/tags":
            return self.send_ollama(200, {"models": TAGS_MODELS})
        if path == "/api/ps":
            return self.send_ollama(200, {"models": PS_MODELS})
        struct_name = {"/api/generate": "GenerateRequest", "/api/chat": "ChatRequest", "/api/embed": "EmbedRequest"}[path]
        document = self.ollama_body(body, struct_name)
        if path == "/api/embed":
            return self.ollama_embed(document)
        return self.ollama_generation(path, struct_name, document, body)

    # --- Ollama ----------------------------------------------------------------------------------
    def ollama_body(self, body, struct_name):
        if not body.strip():
            raise ApiError(400, "missing request body")
        try:
            document = strict_json_loads(body)
        except UnicodeDecodeError:
            raise ApiError(400, "invalid character in request body: not UTF-8") from None
        except ValueError as error:
            position = getattr(error, "pos", 0) or 0
            text = body.decode("utf-8", "replace")
            if position >= len(text.rstrip()):
                raise ApiError(400, "unexpected EOF") from None
            raise ApiError(400, f"invalid character {text[position]!r} at offset {position}: {error}") from None
        if not isinstance(document, dict):
            raise ApiError(400, f"json: cannot unmarshal {json_kind(document)} into Go value of type api.{struct_name}")
        go_check(document, struct_name, "model", "string", {"string"})
        go_check(document, struct_name, "stream", "bool", {"bool"})
        go_check(document, struct_name, "options", "map[string]interface {}", {"object"})
        if not document.get("model"):
            raise ApiError(400, "model is required")
        return document

    def ollama_output_tokens(self, document):
        options = document.get("options") or {}
        value = options.get("num_predict")
        if value is None:
            return DEFAULT_OUTPUT_TOKENS
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ApiError(400, 'option "num_predict" must be of type integer')
        value = int(value)
        if value < 0:  # -1: until the model stops; -2: fill the context
            return DEFAULT_OUTPUT_TOKENS
        return min(value, MAX_OUTPUT_TOKENS)

    def ollama_generation(self, path, struct_name, document, body):
        model = document["model"]
        if path == "/api/generate":
            kind = "generate"
            for field in ("prompt", "system", "suffix", "template"):
                go_check(document, struct_name, field, "string", {"string"})
            prompt = document.get("prompt") or ""
            input_tokens = words(prompt)
            empty = prompt == ""
        else:
            kind = "chat"
            messages = go_check(document, struct_name, "messages", "[]api.Message", {"array"}) or []
            input_tokens = 0
            for message in messages:
                if not isinstance(message, dict):
                    raise ApiError(400, f"json: cannot unmarshal {json_kind(message)} into Go struct field "
                                        f"{struct_name}.messages of type api.Message")
                go_check(message, f"{struct_name}.messages", "role", "string", {"string"})
                content = go_check(message, f"{struct_name}.messages", "content", "string", {"string"})
                input_tokens += words(content or "")
            empty = not messages
        output_tokens = self.ollama_output_tokens(document)
        fault, size = fault_of(model)
        if fault == "500":
            raise ApiError(500, "llama runner process has terminated: exit status 2 (fault-500)")
        plan = Plan("ollama", kind, model, input_tokens, output_tokens, body,
                    omit_prompt_count=(model == "omit-zeros"), with_context=fault is None)
        if empty:  # Ollama only loads the model and says so, as one JSON body even when streaming
            answer = {"model": model, "created_at": CREATED_AT}
            if kind == "generate":
                answer["response"] = ""
            else:
                answer["message"] = {"role": "assistant", "content": ""}
            answer.update({"done": True, "done_reason": "load"})
            return self.send_ollama(200, answer)
        if fault is not None:
            return self.stream_fault(plan, fault, size, "application/x-ndjson")
        if document.get("stream") is False:
            answer = plan.ollama_object(output_text(output_tokens), True, output_tokens)
            return self.send_ollama(200, answer)
        return self.stream_normal(plan, "application/x-ndjson")

    def ollama_embed(self, document):
        model = document["model"]
        value = document.get("input")
        if value is None or isinstance(value, str):
            items = [value] if value else []
        elif isinstance(value, list) and all(isinstance(item, str) for item in value):
            items = list(value)
        else:
            raise ApiError(400, "invalid input type")
        dimensions = document.get("dimensions")
        if dimensions is None:
            dimensions = EMBEDDING_DIMENSIONS
        elif isinstance(dimensions, bool) or not isinstance(dimensions, int) or not 1 <= dimensions <= 4096:
            raise ApiError(400, "dimensions must be an integer between 1 and 4096")
        if fault_of(model)[0] == "500":
            raise ApiError(500, "llama runner process has terminated: exit status 2 (fault-500)")
        input_tokens = sum(words(item) for item in items)
        answer = {"model": model, "embeddings": [embedding_vector(model, item, dimensions) for item in items]}
        if items:
            answer.update({"total_duration": 1_000_000 + 1_000_000 * input_tokens, "load_duration": 1_000_000,
                           "prompt_eval_count": input_tokens})
            answer = {key: value for key, value in answer.items() if value != 0}  # omitempty
        return self.send_ollama(200, answer)

    # --- OpenAI ----------------------------------------------------------------------------------
    def openai_body(self, path, body):
        kind, params = strict_http.media_type(self.headers.get("Content-Type"))
        if kind != "application/json":
            shown = self.headers.get("Content-Type") or "none"
            raise ApiError(400, f"Invalid Content-Type header ({shown}), expected application/json. The OpenAI "
                                "API expects a JSON payload.")
        try:
            document = strict_json_loads(body)
        except ValueError:  # includes UnicodeDecodeError
            raise ApiError(400, "We could not parse the JSON body of your request. (HINT: This likely means you "
                                "aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, "
                                "but what was sent was not valid JSON. If you have trouble figuring out how to fix "
                                "this, please contact us through our help center at help.openai.com.)") from None
        if not isinstance(document, dict):
            raise ApiError(400, f"Invalid type for request body: expected an object, but got "
                                f"{OPENAI_TYPE_NAMES.get(json_kind(document), json_kind(document))} instead.",
                           code="invalid_type")
        for name in document:
            if name not in OPENAI_PARAMETERS[path]:
                raise ApiError(400, f"Unrecognized request argument supplied: {name}")
        if openai_check(document, "model", "string") is None or document["model"] == "":
            raise ApiError(400, "you must provide a model parameter")
        return document

    def openai_max_tokens(self, document, names):
        for name in names:
            value = openai_check(document, name, "integer")
            if value is None:
                continue
            if value < 1:
                raise ApiError(400, f"Invalid '{name}': integer below minimum value. Expected a value >= 1, but "
                                    f"got {value} instead.", param=name, code="integer_below_min_value")
            if value > MAX_OUTPUT_TOKENS:
                raise ApiError(400, f"{name} is too large: {value}. This model supports at most "
                                    f"{MAX_OUTPUT_TOKENS} completion tokens, whereas you provided {value}.",
                               param=name, code="invalid_value")
            return value
        return DEFAULT_OUTPUT_TOKENS

    def openai_generation(self, path, document, body):
        model = document["model"]
        stream = openai_check(document, "stream", "bool")
        stream_options = openai_check(document, "stream_options", "object")
        include_usage = False
        if stream_options is not None:
            if not stream:
                raise ApiError(400, "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
                               param="stream_options")
            include_usage = openai_check(stream_options, "include_usage", "bool") is True
        if path == "/v1/chat/completions":
            kind = "chat"
            if "messages" not in document or document["messages"] is None:
                raise ApiError(400, "Missing required parameter: 'messages'.", param="messages",
                               code="missing_required_parameter")
            messages = openai_check(document, "messages", "array")
            if not messages:
                raise ApiError(400, "Invalid 'messages': empty array. Expected an array with minimum length 1, "
                                    "but got an empty array instead.", param="messages", code="empty_array")
            input_tokens = 0
            for index, message in enumerate(messages):
                if not isinstance(message, dict):
                    raise ApiError(400, f"Invalid type for 'messages[{index}]': expected an object, but got "
                                        f"{OPENAI_TYPE_NAMES.get(json_kind(message), json_kind(message))} instead.",
                                   param=f"messages[{index}]", code="invalid_type")
                if "role" not in message:
                    raise ApiError(400, f"Missing required parameter: 'messages[{index}].role'.",
                                   param=f"messages[{index}].role", code="missing_required_parameter")
                if message["role"] not in MESSAGE_ROLES:
                    raise ApiError(400, f"Invalid value: '{message['role']}'. Supported values are: 'system', "
                                        f"'assistant', 'user', 'function', 'tool', and 'developer'.",
                                   param=f"messages[{index}].role", code="invalid_value")
                input_tokens += count_openai_content(message.get("content"))
            output_tokens = self.openai_max_tokens(document, ("max_completion_tokens", "max_tokens"))
        else:
            kind = "completions"
            if "prompt" not in document or document["prompt"] is None:
                raise ApiError(400, "Missing required parameter: 'prompt'.", param="prompt",
                               code="missing_required_parameter")
            input_tokens, _ = count_input(document["prompt"], "prompt")
            output_tokens = self.openai_max_tokens(document, ("max_tokens",))
        fault, size = fault_of(model)
        if fault == "500":
            raise ApiError(500, "The server had an error while processing your request. Sorry about that!",
                           error_type="server_error")
        plan = Plan("openai", kind, model, input_tokens, output_tokens, body,
                    include_usage=include_usage or fault is not None)
        if fault is not None:
            return self.stream_fault(plan, fault, size, "text/event-stream; charset=utf-8")
        if not stream:
            return self.send_openai(200, plan.openai_response(), [("x-request-id", plan.request_id)])
        return self.stream_normal(plan, "text/event-stream; charset=utf-8")

    def openai_embeddings(self, document, body):
        model = document["model"]
        if "input" not in document or document["input"] is None:
            raise ApiError(400, "Missing required parameter: 'input'.", param="input", code="missing_required_parameter")
        input_tokens, items = count_input(document["input"], "input")
        encoding = openai_check(document, "encoding_format", "string") or "float"
        if encoding not in ("float", "base64"):
            raise ApiError(400, f"Invalid value: '{encoding}'. Supported values are: 'float' and 'base64'.",
                           param="encoding_format", code="invalid_value")
        dimensions = openai_check(document, "dimensions", "integer")
        if dimensions is None:
            dimensions = EMBEDDING_DIMENSIONS
        elif not 1 <= dimensions <= 4096:
            raise ApiError(400, f"Invalid 'dimensions': expected a value between 1 and 4096, but got {dimensions} "
                                "instead.", param="dimensions", code="invalid_value")
        if fault_of(model)[0] == "500":
            raise ApiError(500, "The server had an error while processing your request. Sorry about that!",
                           error_type="server_error")
        data = []
        for index, item in enumerate(items):
            vector = embedding_vector(model, item, dimensions)
            if encoding == "base64":
                vector = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
            data.append({"object": "embedding", "index": index, "embedding": vector})
        answer = {"object": "list", "data": data, "model": model,
                  "usage": {"prompt_tokens": input_tokens, "total_tokens": input_tokens}}
        request_id = "req_" + hashlib.sha256(body).hexdigest()[:32]
        return self.send_openai(200, answer, [("x-request-id", request_id)])

    # --- answers ---------------------------------------------------------------------------------
    def send_body(self, status, body, content_type, headers=()):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        if status not in (204, 304):
            if content_type:
                self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if status not in (204, 304) and self.command != "HEAD":
            self.wfile.write(body)

    def send_ollama(self, status, document):
        self.send_body(status, go_json(document), "application/json; charset=utf-8")

    def send_openai(self, status, document, headers=()):
        self.send_body(status, pretty_json(document), "application/json", headers)

    def send_error_shape(self, api, error):
        if api == "openai":
            document = {"error": {"message": error.message, "type": error.error_type, "param": error.param,
                                  "code": error.code}}
            headers = [("Allow", ", ".join(OPENAI_ROUTES.get(urllib.parse.urlsplit(self.path).path, ("GET",))))] \
                if error.status == 405 else []
            self.send_body(error.status, pretty_json(document, indent=4), "application/json", headers)
        else:
            self.send_ollama(error.status, {"error": error.message})

    # --- streams ---------------------------------------------------------------------------------
    def start_stream(self, content_type, plan):
        self.chunked = self.request_version != "HTTP/1.0"
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        if plan.api == "openai":
            self.send_header("Cache-Control", "no-cache")
            self.send_header("x-request-id", plan.request_id)
        if self.chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.close_connection = True
            self.send_header("Connection", "close")
        self.end_headers()

    def frame_bytes(self, data):
        return (b"%x\r\n" % len(data)) + data + b"\r\n" if self.chunked else data

    def write_frame(self, data):
        if data:
            self.wfile.write(self.frame_bytes(data))

    def end_stream(self):
        if self.chunked:
            self.wfile.write(b"0\r\n\r\n")

    def stream_normal(self, plan, content_type):
        self.start_stream(content_type, plan)
        for frame in plan.head_frames():
            self.write_frame(frame)
        for i in range(plan.output_tokens):
            self.write_frame(plan.token_frame(token_piece(i)))
        for frame in plan.tail_frames(plan.output_tokens):
            self.write_frame(frame)
        self.end_stream()

    def stream_fault(self, plan, fault, size, content_type):
        if fault == "slow-head":
            time.sleep(SLOW_HEAD_DELAY)
            return self.stream_normal(plan, content_type)
        self.start_stream(content_type, plan)
        for frame in plan.head_frames():
            self.write_frame(frame)
        if fault == "close-midstream":
            for i in range(3):
                self.write_frame(plan.token_frame(token_piece(i)))
            self.abort_connection()
            return
        if fault == "malformed":
            for i in range(2):
                self.write_frame(plan.token_frame(token_piece(i)))
            self.write_frame(b"{not valid json\n" if plan.api == "ollama" else b"data: {not valid json\n\n")
            for frame in plan.tail_frames(2):
                self.write_frame(frame)
            self.end_stream()
            return
        if fault == "truncated-final":
            for i in range(plan.output_tokens):
                self.write_frame(plan.token_frame(token_piece(i)))
            tail = plan.tail_frames(plan.output_tokens)
            if plan.api == "openai":
                tail = tail[:-1]  # no [DONE] after the cut usage event
            for frame in tail[:-1]:
                self.write_frame(frame)
            self.write_frame(tail[-1][:len(tail[-1]) // 2])
            self.end_stream()
            return
        if fault == "slow":
            for i in range(SLOW_CHUNKS):
                time.sleep(SLOW_INTERVAL)
                self.write_frame(plan.token_frame(token_piece(i)))
            for frame in plan.tail_frames(SLOW_CHUNKS):
                self.write_frame(frame)
            self.end_stream()
            return
        if fault == "huge":
            count = max(1, size // HUGE_CHUNK_BYTES)
            frame = self.frame_bytes(plan.padded_token_frame(HUGE_CHUNK_BYTES))
            batch_frames = 16  # one write of 1 MiB carries 16 chunks of 64 KiB
            batch = frame * batch_frames
            full, rest = divmod(count, batch_frames)
            write = self.wfile.write
            for _ in range(full):
                write(batch)
            if rest:
                write(frame * rest)
            for frame in plan.tail_frames(count):
                self.write_frame(frame)
            self.end_stream()
            return
        raise AssertionError(fault)

    def abort_connection(self):
        """Closes the TCP connection (FIN) in the middle of the chunked body."""
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class Server(strict_http.Server):
    block_on_close = False  # SIGTERM must not wait for keep-alive connections or a stream in flight


def main():
    parser = strict_http.argument_parser(__doc__.splitlines()[0])
    parser.add_argument("--require-api-key", action="store_true",
                        help="/v1 requests need 'Authorization: Bearer <key>' (else OpenAI's 401)")
    args = parser.parse_args()
    app = App(args)
    handler = type("BoundHandler", (Handler,), {"app": app})
    server = Server((args.host, args.port), handler)

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


if __name__ == "__main__":
    main()
