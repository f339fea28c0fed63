"""A strict stand-in for Grafana Loki's push API (2.9/3.x with default limits), for integration tests.

usage: loki_server.py [--port 0] [--host 127.0.0.1] [--require-tenant] [--partial-accept]
                      [--allow-structured-metadata]
                      [--reject-old-samples-max-age 168h] [--creation-grace-period 10m]
                      [--max-line-size 262144] [--max-chunk-age 2h] [--max-body-bytes 4194304]
                      [--verbose]
prints "LISTENING <port>" once listening; SIGTERM ends it (exit 0). See README-servers.md.

POST /loki/api/v1/push   JSON push (Content-Encoding gzip/deflate decoded): 204 on success, else a
                         plain-text error naming the problem (400; 401 "no org id" with
                         --require-tenant and no X-Scope-OrgID; 413 over --max-body-bytes).
                         One invalid entry rejects the whole push; with --partial-accept the valid
                         entries are stored and the 400 names the others, as Loki does.
Other methods on that path 405, other paths 404. Control API: see strict_http.py.
GET /control/accepted -> {"streams": [{"tenant", "labels", "entries": [[ts, line], ...]}],
                          "entry_count": N, "duplicate_entries": N}
"""
import datetime
import json
import re
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ next to the fixtures
import strict_http  # noqa: E402
from strict_http import text_response  # noqa: E402

PUSH_PATH = "/loki/api/v1/push"
LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
DIGITS = re.compile(r"^[0-9]+$")
MAX_INT64 = 2**63 - 1
MAX_LABEL_NAMES = 15
MAX_LABEL_NAME_LENGTH = 1024
MAX_LABEL_VALUE_LENGTH = 2048
MAX_ERRORS_REPORTED = 20


def parse_duration(text):
    """Seconds in a Go duration ("168h", "10m", "1h30m", "90s", "0")."""
    if text.strip() == "0":
        return 0.0
    units = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)", text)
    if not parts or "".join(number + unit for number, unit in parts) != text.strip():
        raise ValueError(f"invalid duration {text!r}")
    return sum(float(number) * units[unit] for number, unit in parts)


def rfc3339(nanoseconds):
    """Go's time.RFC3339 rendering (whole seconds, UTC)."""
    seconds = nanoseconds // 1_000_000_000
    moment = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc) + datetime.timedelta(seconds=seconds)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def labels_string(labels):
    """Prometheus' rendering of a label set: {a="1", b="2"}, names sorted."""
    return "{" + ", ".join(f"{name}={json.dumps(labels[name], ensure_ascii=False)}" for name in sorted(labels)) + "}"


def utf8_length(text):
    return len(text.encode("utf-8", "surrogatepass"))


class Invalid(Exception):
    """A problem with the push as a whole (its shape), reported alone."""


class StreamInvalid(Invalid):
    """A problem with one stream's labels or values: with --partial-accept only that stream is dropped."""


class Loki(strict_http.App):
    name = "loki-stand-in"

    def __init__(self, args):
        self.max_body_bytes = args.max_body_bytes
        super().__init__(args)

    def reset_accepted(self):
        self.streams = {}  # (tenant, sorted label items) -> {"tenant", "labels", "entries", "seen", "newest"}
        self.entry_count = 0
        self.duplicate_entries = 0

    def accepted_document(self):
        return {
            "streams": [
                {"tenant": stream["tenant"], "labels": stream["labels"], "entries": stream["entries"]}
                for stream in self.streams.values()
            ],
            "entry_count": self.entry_count,
            "duplicate_entries": self.duplicate_entries,
        }

    def is_ingest(self, method, path):
        return path == PUSH_PATH and method == "POST"

    # --- handling ------------------------------------------------------------------------------
    def validate(self, request):
        if request.path != PUSH_PATH:
            return text_response(404, "404 page not found"), None
        if request.method != "POST":
            return text_response(405, "405 method not allowed", headers=[("Allow", "POST")]), None
        tenant = request.header("X-Scope-OrgID")
        if self.args.require_tenant and not tenant:
            return text_response(401, "no org id"), None
        if not request.header("User-Agent"):
            return text_response(400, "User-Agent header required"), None
        try:
            body = strict_http.decode_content_encoding(
                request.body, request.header("Content-Encoding"), self.max_body_bytes)
        except ValueError as error:
            return text_response(400, str(error)), None
        if body is None:
            return text_response(413, f"request body too large: more than {self.max_body_bytes} bytes "
                                      f"once decompressed, limit: {self.max_body_bytes} bytes"), None
        content_type = request.header("Content-Type")
        if not strict_http.is_json_content_type(content_type):
            return text_response(400, f"unsupported Content-Type {json.dumps(content_type or '')}: this "
                                      f"stand-in takes only application/json (Loki would parse the body "
                                      f"as snappy-compressed protobuf)"), None
        try:
            document = strict_http.strict_json_loads(body)
        except (ValueError, UnicodeDecodeError) as error:
            return text_response(400, f"invalid JSON in push request: {error}"), None
        try:
            streams, errors = self.check(document)
        except Invalid as error:
            return self.rejected([str(error)], document), None
        if errors and not self.args.partial_accept:
            return self.rejected(errors, document), None

        def commit(dry_run):
            return self.store(tenant or None, streams, errors, document, dry_run)

        return None, commit

    def rejected(self, errors, document, accepted=0):
        return text_response(400, self.join(errors), body_json=document, log_extra={"accepted_entries": accepted})

    @staticmethod
    def join(errors):
        shown = errors[:MAX_ERRORS_REPORTED]
        if len(errors) > len(shown):
            shown.append(f"... and {len(errors) - len(shown)} more errors")
        return "\n".join(shown)

    def check(self, document):
        """([(labels, key, rendered, [(ts, ts string, line, metadata or None)])], [errors]): the
        streams with their valid entries, and what was wrong with the others. Raises Invalid for
        a malformed push, and (without --partial-accept) for a stream with invalid labels."""
        if not isinstance(document, dict):
            raise Invalid("invalid push request: the body must be a JSON object with a \"streams\" list")
        streams = document.get("streams")
        if streams is None or streams == []:
            raise Invalid("error at least one valid stream is required for ingestion")
        if not isinstance(streams, list):
            raise Invalid("invalid push request: \"streams\" must be a list")
        now = time.time_ns()
        max_age = self.args.reject_old_samples_max_age
        limits = {
            "oldest": now - int(max_age * 1e9) if max_age > 0 else None,
            "newest": now + int(self.args.creation_grace_period * 1e9),
            "max_line": self.args.max_line_size,
        }
        errors = []
        checked = []
        previous_in_push = {}  # label key -> (ts, ts string) of the stream's last entry in this push
        for index, stream in enumerate(streams):
            try:
                checked.append(self.check_stream(f"streams[{index}]", stream, limits, previous_in_push, errors))
            except StreamInvalid as error:
                if not self.args.partial_accept:
                    raise
                errors.append(str(error))
        return checked, errors

    def check_stream(self, where, stream, limits, previous_in_push, errors):
        if not isinstance(stream, dict):
            raise Invalid(f"invalid push request: {where} must be an object with \"stream\" and \"values\"")
        labels = stream.get("stream")
        if labels is None or labels == {}:
            raise StreamInvalid(f"error at least one label pair is required per stream ({where})")
        if not isinstance(labels, dict):
            raise Invalid(f"invalid push request: {where}.stream must be an object of string labels")
        for name, value in labels.items():
            if not isinstance(value, str):
                raise Invalid(f"Error parsing labels '{where}.stream' with error: the value of label "
                              f"{json.dumps(name)} is not a string")
        rendered = labels_string(labels)
        for name in labels:
            if not LABEL_NAME.match(name):
                raise StreamInvalid(f"Error parsing labels '{rendered}' with error: invalid label name "
                                    f"{json.dumps(name, ensure_ascii=False)} (must match ^[a-zA-Z_][a-zA-Z0-9_]*$)")
            if name.startswith("__"):
                raise StreamInvalid(f"stream '{rendered}' has reserved label name: '{name}' "
                                    f"(names starting with \"__\" are reserved)")
        if len(labels) > MAX_LABEL_NAMES:
            raise StreamInvalid(f"entry for stream '{rendered}' has {len(labels)} label names; "
                                f"limit {MAX_LABEL_NAMES}")
        for name in sorted(labels):
            value = labels[name]
            if utf8_length(name) > MAX_LABEL_NAME_LENGTH:
                raise StreamInvalid(f"stream '{rendered}' has label name too long: '{name}'")
            if utf8_length(value) > MAX_LABEL_VALUE_LENGTH:
                raise StreamInvalid(f"stream '{rendered}' has label value too long: '{value}'")
            if value == "":
                raise StreamInvalid(f"stream '{rendered}' has an empty value for label '{name}' "
                                    f"(Loki would drop the label)")
        values = stream.get("values")
        if not isinstance(values, list):
            raise Invalid(f"invalid push request: {where}.values must be a list of [timestamp, line] arrays")
        if not values:
            raise StreamInvalid(f"stream '{rendered}' has no entries ({where}.values is empty)")
        key = tuple(sorted(labels.items()))
        entries = []
        oldest, newest, max_line = limits["oldest"], limits["newest"], limits["max_line"]
        for position, value in enumerate(values):
            at = f"{where}.values[{position}]"
            if not isinstance(value, list) or len(value) not in (2, 3):
                raise Invalid(f"invalid push request: {at} must be [\"<ns timestamp>\", \"<line>\"] "
                              f"or [\"<ns timestamp>\", \"<line>\", {{structured metadata}}]")
            ts_text, line = value[0], value[1]
            if not isinstance(ts_text, str):
                raise Invalid(f"invalid push request: {at}: the timestamp must be a JSON string of "
                              f"nanoseconds since the epoch, not {type(ts_text).__name__} {json.dumps(ts_text)}")
            if not DIGITS.match(ts_text) or int(ts_text) > MAX_INT64:
                raise Invalid(f"invalid push request: {at}: invalid timestamp {json.dumps(ts_text)}: "
                              f"must be decimal digits, nanoseconds since the epoch, within int64")
            if not isinstance(line, str):
                raise Invalid(f"invalid push request: {at}: the line must be a string")
            metadata = None
            if len(value) == 3:
                metadata = value[2]
                if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
                    raise Invalid(f"invalid push request: {at}: structured metadata must be an object "
                                  f"of string values")
            ts = int(ts_text)
            if oldest is not None and ts < oldest:
                errors.append(f"entry for stream '{rendered}' has timestamp too old: {rfc3339(ts)}, "
                              f"oldest acceptable timestamp is: {rfc3339(oldest)}")
                continue
            if ts > newest:
                errors.append(f"entry for stream '{rendered}' has timestamp too new: {rfc3339(ts)}")
                continue
            length = utf8_length(line)
            if max_line and length > max_line:
                errors.append(f"Max entry size '{max_line}' bytes exceeded for stream '{rendered}' "
                              f"while adding an entry with length '{length}' bytes")
                continue
            if len(value) == 3 and not self.args.allow_structured_metadata:
                errors.append(f"stream '{rendered}' includes structured metadata, but this feature is "
                              f"disallowed. Please see `limits_config.allow_structured_metadata` or "
                              f"contact your Loki administrator to enable it.")
                continue
            previous = previous_in_push.get(key)
            if previous is not None and ts < previous[0]:
                errors.append(f"entry out of order for stream '{rendered}': {at} has timestamp "
                              f"{ts_text}, before the previous entry's {previous[1]} in this push "
                              f"(entries of a stream must be in non-decreasing time order)")
                continue
            previous_in_push[key] = (ts, ts_text)
            entries.append((ts, ts_text, line, metadata))
        return labels, key, rendered, entries

    def store(self, tenant, streams, errors, document, dry_run):
        """Loki's ingester checks against what was accepted before ('too far behind'), then stores
        (unless dry_run): every entry, or with --partial-accept the valid ones."""
        window = int(self.args.max_chunk_age * 1e9 / 2)
        errors = list(errors)
        kept = []
        newest = {}
        for labels, key, rendered, entries in streams:
            stored = self.streams.get((tenant, key))
            keep = []
            for entry in entries:
                ts, ts_text = entry[0], entry[1]
                latest = newest.get(key, stored["newest"] if stored else None)
                if window and latest is not None and ts < latest - window:
                    errors.append(f"entry with timestamp {ts_text} ignored, reason: 'entry too far behind, "
                                  f"entry timestamp is: {rfc3339(ts)}, oldest acceptable timestamp is: "
                                  f"{rfc3339(latest - window)}' for stream: {rendered}")
                    continue
                newest[key] = ts if latest is None else max(latest, ts)
                keep.append(entry)
            kept.append((labels, key, keep))
        if errors and not self.args.partial_accept:
            return self.rejected(errors, document)
        accepted = 0
        if not dry_run:
            for labels, key, entries in kept:
                stored = self.streams.get((tenant, key))
                if stored is None and entries:
                    stored = {"tenant": tenant, "labels": dict(labels), "entries": [], "seen": set(), "newest": None}
                    self.streams[(tenant, key)] = stored
                for ts, ts_text, line, metadata in entries:
                    accepted += 1
                    identity = (ts, line)
                    if identity in stored["seen"]:  # Loki drops an entry equal in time and line
                        self.duplicate_entries += 1
                        continue
                    stored["seen"].add(identity)
                    stored["entries"].append([ts_text, line] if metadata is None else [ts_text, line, metadata])
                    stored["newest"] = ts if stored["newest"] is None else max(stored["newest"], ts)
                    self.entry_count += 1
        if errors:
            return self.rejected(errors, document, accepted)
        return strict_http.Response(204, body_json=document, log_extra={"accepted_entries": accepted})


def main():
    parser = strict_http.argument_parser("A strict stand-in for Loki's push API.")
    parser.add_argument("--require-tenant", action="store_true",
                        help="answer 401 \"no org id\" without X-Scope-OrgID (Loki with auth_enabled)")
    parser.add_argument("--partial-accept", action="store_true",
                        help="Loki's own behaviour: store the valid entries (and streams) of a push and answer "
                             "400 naming the rest; by default one invalid entry rejects the whole push")
    parser.add_argument("--allow-structured-metadata", action="store_true",
                        help="accept [ts, line, {metadata}] entries (rejected by default)")
    parser.add_argument("--reject-old-samples-max-age", type=parse_duration, default=parse_duration("168h"),
                        help="Go duration; entries older than now minus this are rejected (default 168h; 0 = off)")
    parser.add_argument("--creation-grace-period", type=parse_duration, default=parse_duration("10m"),
                        help="Go duration; entries newer than now plus this are rejected (default 10m)")
    parser.add_argument("--max-line-size", type=int, default=262144,
                        help="bytes of UTF-8 per line (default 262144; 0 = no limit)")
    parser.add_argument("--max-chunk-age", type=parse_duration, default=parse_duration("2h"),
                        help="Go duration; an entry more than half of this behind the newest accepted entry "
                             "of its stream is 'too far behind' (default 2h; 0 = off)")
    parser.add_argument("--max-body-bytes", type=int, default=4 * 1024 * 1024,
                        help="largest body, as received and once decompressed (default 4 MiB); more is a 413")
    strict_http.serve(Loki(parser.parse_args()))


if __name__ == "__main__":
    main()
