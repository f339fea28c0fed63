"""Drives the official `ollama` and `openai` Python clients against an Ollama / OpenAI-compatible
server (llm_upstream.py, directly or through the metering proxy), for the metering-proxy tests.

usage: llm_clients.py --provider ollama|openai --base-url http://127.0.0.1:PORT [--scenario NAME ...]

--base-url is the server root: the ollama client gets it as host, the openai client gets
BASE/v1 with api_key "test". --scenario (repeatable, or several names after one flag) picks
scenarios; default: all of the provider's, in the order below.

Prints ONE JSON object on stdout:
  {"provider": "ollama"|"openai",
   "results":  {scenario: what the client returned as plain JSON (pydantic model_dump(mode="json"));
                for a stream, the list of its chunks},
   "expected": [{"model", "requests", "tokens_input", "tokens_output", "tokens_known",
                 "requests_tokens_unknown"}, ...]}   (sorted by model)
`expected` sums, per model, the model-use scenarios (generate, chat, embed, completions, embeddings;
not tags/ps/models) from what the client received: Ollama prompt_eval_count / eval_count of the
final (done) object (a missing figure is 0: Ollama leaves zeros out), OpenAI usage.prompt_tokens /
completion_tokens; embeddings have 0 output tokens. An OpenAI stream without
stream_options.include_usage carries no usage: that request counts in `requests` and
`requests_tokens_unknown` but adds nothing to the token sums; tokens_known is false for a model
with any such request.

Nothing is stripped from the results: llm_upstream.py answers deterministically and neither client
adds anything per call to model_dump() (openai keeps the x-request-id in a private attribute,
`_request_id`, which model_dump leaves out), so a direct run and a proxied run must print equal
"results" and "expected".

The openai client runs with max_retries=0 (by default it retries 408/409/429/5xx and connection
errors twice, which would hide proxy failures and change request counts). Any exception: message on
stderr, exit 1, nothing on stdout.
"""
import argparse
import json
import sys

import ollama
import openai

TIMEOUT = 60.0


def dump(value):
    if isinstance(value, list):
        return [dump(item) for item in value]
    return value.model_dump(mode="json")


class Expected:
    def __init__(self):
        self.models = {}

    def add(self, model, tokens_input=None, tokens_output=None):
        """One request for `model`; tokens None means the client got no usage for it."""
        entry = self.models.setdefault(model, {"model": model, "requests": 0, "tokens_input": 0, "tokens_output": 0,
                                               "tokens_known": True, "requests_tokens_unknown": 0})
        entry["requests"] += 1
        if tokens_input is None or tokens_output is None:
            entry["requests_tokens_unknown"] += 1
            entry["tokens_known"] = False
        else:
            entry["tokens_input"] += tokens_input
            entry["tokens_output"] += tokens_output

    def document(self):
        return [self.models[name] for name in sorted(self.models)]


# --- ollama ---------------------------------------------------------------------------------------

def ollama_counts(final):
    # Ollama omits zero figures (e.g. prompt_eval_count for a cached prompt): missing means 0.
    return final.prompt_eval_count or 0, final.eval_count or 0


def ollama_final(chunks):
    finals = [chunk for chunk in chunks if chunk.done]
    if len(finals) != 1 or not chunks[-1].done:
        raise RuntimeError(f"stream has {len(finals)} final (done) objects, last done={chunks[-1].done if chunks else None}")
    return finals[0]


def run_ollama(base_url, scenarios, expected):
    client = ollama.Client(host=base_url, timeout=TIMEOUT)

    def generate():
        response = client.generate(model="llama3.2", prompt="Why is the sky blue?", stream=False)
        expected.add("llama3.2", *ollama_counts(response))
        return dump(response)

    def generate_stream():
        chunks = list(client.generate(model="mistral", prompt="Tell me a short story please",
                                      options={"num_predict": 7}, stream=True))
        expected.add("mistral", *ollama_counts(ollama_final(chunks)))
        return dump(chunks)

    def chat():
        response = client.chat(model="llama3.2", messages=[
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Hello there, how are you?"},
        ], options={"num_predict": 3}, stream=False)
        expected.add("llama3.2", *ollama_counts(response))
        return dump(response)

    def chat_stream():
        chunks = list(client.chat(model="mistral", messages=[{"role": "user", "content": "Count to four"}],
                                  stream=True))
        expected.add("mistral", *ollama_counts(ollama_final(chunks)))
        return dump(chunks)

    def generate_omit_zeros():
        # llm_upstream's "omit-zeros" model leaves prompt_eval_count out of the final object.
        chunks = list(client.generate(model="omit-zeros", prompt="cached prompt words", stream=True))
        final = ollama_final(chunks)
        if final.prompt_eval_count is not None:
            raise RuntimeError("omit-zeros: prompt_eval_count unexpectedly present")
        expected.add("omit-zeros", *ollama_counts(final))
        return dump(chunks)

    def embed():
        response = client.embed(model="llama3.2", input=["first text here", "second text"])
        expected.add("llama3.2", response.prompt_eval_count or 0, 0)
        return dump(response)

    def tags():
        return dump(client.list())

    def ps():
        return dump(client.ps())

    table = {"generate": generate, "generate_stream": generate_stream, "chat": chat, "chat_stream": chat_stream,
             "generate_omit_zeros": generate_omit_zeros, "embed": embed, "tags": tags, "ps": ps}
    try:
        return run_table(table, scenarios)
    finally:
        client.close()


# --- openai ---------------------------------------------------------------------------------------

def openai_usage(usage):
    if usage is None:
        return None, None
    return usage.prompt_tokens, usage.completion_tokens


def openai_stream_usage(chunks):
    usages = [chunk.usage for chunk in chunks if getattr(chunk, "usage", None) is not None]
    if len(usages) > 1:
        raise RuntimeError(f"stream has {len(usages)} chunks with usage")
    return openai_usage(usages[0] if usages else None)


def run_openai(base_url, scenarios, expected):
    client = openai.OpenAI(base_url=base_url + "/v1", api_key="test", max_retries=0, timeout=TIMEOUT)
    messages = [{"role": "system", "content": "You are a helpful assistant."},
                {"role": "user", "content": "Say hello to the world"}]

    def chat():
        response = client.chat.completions.create(model="llama3.2", messages=messages, max_tokens=4)
        expected.add("llama3.2", *openai_usage(response.usage))
        return dump(response)

    def chat_stream():
        chunks = list(client.chat.completions.create(model="mistral", messages=messages, stream=True))
        if any(chunk.usage is not None for chunk in chunks):
            raise RuntimeError("usage in a stream without include_usage")
        expected.add("mistral", None, None)  # no usage without include_usage: tokens unknown
        return dump(chunks)

    def chat_stream_usage():
        chunks = list(client.chat.completions.create(model="mistral", messages=messages, max_tokens=6, stream=True,
                                                     stream_options={"include_usage": True}))
        tokens = openai_stream_usage(chunks)
        if tokens[0] is None:
            raise RuntimeError("no usage in a stream with include_usage")
        expected.add("mistral", *tokens)
        return dump(chunks)

    def completions():
        response = client.completions.create(model="llama3.2", prompt="Say this is a test", max_tokens=6)
        expected.add("llama3.2", *openai_usage(response.usage))
        return dump(response)

    def completions_stream():
        chunks = list(client.completions.create(model="mistral", prompt="Once upon a time", stream=True,
                                                stream_options={"include_usage": True}))
        tokens = openai_stream_usage(chunks)
        if tokens[0] is None:
            raise RuntimeError("no usage in a stream with include_usage")
        expected.add("mistral", *tokens)
        return dump(chunks)

    def embeddings():
        # No encoding_format: the client sends "base64" and decodes the float32 vectors itself.
        response = client.embeddings.create(model="llama3.2", input=["alpha beta", "gamma"])
        expected.add("llama3.2", response.usage.prompt_tokens, 0)
        return dump(response)

    def embeddings_float():
        response = client.embeddings.create(model="mistral", input="delta epsilon zeta", encoding_format="float")
        expected.add("mistral", response.usage.prompt_tokens, 0)
        return dump(response)

    def models():
        return dump(list(client.models.list()))

    table = {"chat": chat, "chat_stream": chat_stream, "chat_stream_usage": chat_stream_usage,
             "completions": completions, "completions_stream": completions_stream, "embeddings": embeddings,
             "embeddings_float": embeddings_float, "models": models}
    try:
        return run_table(table, scenarios)
    finally:
        client.close()


# --- main -----------------------------------------------------------------------------------------

SCENARIOS = {
    "ollama": ["generate", "generate_stream", "chat", "chat_stream", "generate_omit_zeros", "embed", "tags", "ps"],
    "openai": ["chat", "chat_stream", "chat_stream_usage", "completions", "completions_stream", "embeddings",
               "embeddings_float", "models"],
}


def run_table(table, scenarios):
    results = {}
    for name in scenarios:
        try:
            results[name] = table[name]()
        except Exception as error:
            raise RuntimeError(f"scenario {name!r} failed: {type(error).__name__}: {error}") from error
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--provider", required=True, choices=sorted(SCENARIOS))
    parser.add_argument("--base-url", required=True, help="server root, e.g. http://127.0.0.1:11434")
    parser.add_argument("--scenario", action="extend", nargs="+", default=None, metavar="NAME",
                        help="scenarios to run (default: all of the provider's)")
    args = parser.parse_args()
    scenarios = args.scenario or SCENARIOS[args.provider]
    unknown = [name for name in scenarios if name not in SCENARIOS[args.provider]]
    if unknown:
        parser.error(f"unknown {args.provider} scenario(s) {unknown}; known: {SCENARIOS[args.provider]}")
    base_url = args.base_url.rstrip("/")
    expected = Expected()
    try:
        runner = run_ollama if args.provider == "ollama" else run_openai
        results = runner(base_url, scenarios, expected)
    except Exception as error:
        sys.stderr.write(f"llm_clients: {error}\n")
        sys.stderr.flush()
        return 1
    json.dump({"provider": args.provider, "results": results, "expected": expected.document()}, sys.stdout,
              sort_keys=True)
    sys.stdout.write("\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
