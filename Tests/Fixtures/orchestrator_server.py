"""A strict stand-in for the Agent Orchestrator (DESIGN §10), for integration tests.

usage: orchestrator_server.py [--port 0] [--host 127.0.0.1] [--alerts-path /recommendations]
                              [--reports-path /reports] [--max-body-bytes 16777216] [--verbose]
prints "LISTENING <port>" once listening; SIGTERM ends it (exit 0). See README-servers.md.

POST {alerts-path}    {"context": {...}, "logs": [...], "metrics": {...}}, header Idempotency-Key
POST {reports-path}   {"agent_id", "timestamp", "components", "models", "alerts", "health"}, same header
                      ("--reports-path ''" serves no reports path)
200 {"status": "accepted", "id": "<uuid>"}; a key seen before: 200 {"status": "duplicate"} (not stored).
Errors, FastAPI-style: 400 {"detail": "..."} (invalid JSON, no Idempotency-Key), 415 (not JSON /
Content-Encoding), 422 {"detail": [{"type", "loc", "msg", "input"}, ...]}, 404, 405, 413.
GET /control/accepted -> {"alerts": [...], "reports": [...], "duplicates": N, "duplicate_mismatches": N}
(each stored body with "idempotency_key" added). Control API: see strict_http.py.
"""
import datetime
import json
import re
import sys
import uuid

sys.dont_write_bytecode = True  # no __pycache__ next to the fixtures
import strict_http  # noqa: E402
from strict_http import json_response  # noqa: E402

ALERT_TYPES = ("high_cpu_usage", "high_memory_usage", "high_disk_usage", "component_down")
SEVERITIES = ("warning", "critical")
STATES = ("firing", "resolved")
RFC3339 = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


def is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def literal_message(choices):
    quoted = [f"'{choice}'" for choice in choices]
    return "Input should be " + (", ".join(quoted[:-1]) + " or " + quoted[-1] if len(quoted) > 1 else quoted[0])


def valid_rfc3339(text):
    match = RFC3339.match(text)
    if not match:
        return False
    year, month, day, hour, minute, second = (int(group) for group in match.groups()[:6])
    try:
        datetime.datetime(year, month, day, hour, minute, min(second, 59))  # 60: a leap second
    except ValueError:
        return False
    return hour < 24 and minute < 60 and second <= 60


class Errors:
    """A FastAPI (pydantic v2) style 422 detail list."""

    def __init__(self):
        self.items = []

    def add(self, loc, type_, msg, input_):
        self.items.append({"type": type_, "loc": ["body"] + list(loc), "msg": msg, "input": input_})

    def field(self, parent, name, loc):
        """parent[name], or records 'missing' and returns None."""
        if name not in parent:
            self.add(loc, "missing", "Field required", parent)
            return None
        return parent[name]

    def string(self, parent, name, loc, non_empty=False, choices=None):
        value = self.field(parent, name, loc)
        if name not in parent:
            return
        if choices is not None:
            if value not in choices:
                self.add(loc, "literal_error", literal_message(choices), value)
        elif not isinstance(value, str):
            self.add(loc, "string_type", "Input should be a valid string", value)
        elif non_empty and not value:
            self.add(loc, "string_too_short", "String should have at least 1 character", value)

    def kind(self, parent, name, loc, expected):
        value = self.field(parent, name, loc)
        if name not in parent:
            return None
        if expected is dict and not isinstance(value, dict):
            self.add(loc, "dict_type", "Input should be a valid dictionary", value)
            return None
        if expected is list and not isinstance(value, list):
            self.add(loc, "list_type", "Input should be a valid list", value)
            return None
        return value


class Orchestrator(strict_http.App):
    name = "orchestrator-stand-in"

    def __init__(self, args):
        self.max_body_bytes = args.max_body_bytes
        self.alerts_path = args.alerts_path
        self.reports_path = args.reports_path or None
        if self.alerts_path == self.reports_path:
            raise SystemExit("--alerts-path and --reports-path must differ")
        super().__init__(args)

    def reset_accepted(self):
        self.alerts = []
        self.reports = []
        self.duplicates = 0
        self.duplicate_mismatches = 0
        self.keys = {}  # Idempotency-Key -> (path, canonical body)

    def accepted_document(self):
        return {"alerts": self.alerts, "reports": self.reports, "duplicates": self.duplicates,
                "duplicate_mismatches": self.duplicate_mismatches}

    def paths(self):
        return [path for path in (self.alerts_path, self.reports_path) if path]

    def is_ingest(self, method, path):
        return method == "POST" and path in self.paths()

    def body_too_large(self, request):
        message = f"request body too large: {request.received_bytes} bytes, limit: {self.max_body_bytes} bytes"
        return json_response(413, {"detail": message}, reason=message)

    def fault_response(self, fault, request):
        if fault["body"] is None and fault["status"] >= 300:
            fault = dict(fault, body=json.dumps({"detail": f"injected fault: HTTP {fault['status']}"}))
        return super().fault_response(fault, request)

    @staticmethod
    def error(status, detail, body_json=None, headers=()):
        return json_response(status, {"detail": detail}, reason=detail, body_json=body_json, headers=headers)

    def validate(self, request):
        if request.path not in self.paths():
            return self.error(404, "Not Found"), None
        if request.method != "POST":
            return self.error(405, "Method Not Allowed", headers=[("Allow", "POST")]), None
        encoding = (request.header("Content-Encoding") or "").strip().lower()
        if encoding not in ("", "identity"):
            return self.error(415, f"Content-Encoding {encoding!r} not supported"), None
        if not strict_http.is_json_content_type(request.header("Content-Type")):
            return self.error(415, f"Content-Type must be application/json, got "
                                   f"{request.header('Content-Type')!r}"), None
        key = (request.header("Idempotency-Key") or "").strip()
        if not key:
            return self.error(400, "Idempotency-Key header required"), None
        try:
            document = strict_http.strict_json_loads(request.body)
        except (ValueError, UnicodeDecodeError) as error:
            return self.error(400, f"Invalid JSON body: {error}"), None
        errors = Errors()
        if request.path == self.alerts_path:
            self.check_alert(document, errors)
        else:
            self.check_report(document, errors)
        if errors.items:
            return self.error(422, errors.items, body_json=document), None
        is_alert = request.path == self.alerts_path

        def commit(dry_run):
            canonical = (request.path, json.dumps(document, sort_keys=True))
            if key in self.keys:
                if not dry_run:
                    self.duplicates += 1
                    if self.keys[key] != canonical:
                        self.duplicate_mismatches += 1
                return json_response(200, {"status": "duplicate"}, body_json=document)
            identifier = str(uuid.uuid4())
            if not dry_run:
                self.keys[key] = canonical
                (self.alerts if is_alert else self.reports).append(dict(document, idempotency_key=key))
            return json_response(200, {"status": "accepted", "id": identifier}, body_json=document)

        return None, commit

    @staticmethod
    def check_alert(document, errors):
        if not isinstance(document, dict):
            errors.add([], "model_attributes_type",
                       "Input should be a valid dictionary or object to extract fields from", document)
            return
        for name in document:
            if name not in ("context", "logs", "metrics"):
                errors.add([name], "extra_forbidden", "Extra inputs are not permitted", document[name])
        context = errors.kind(document, "context", ["context"], dict)
        if context is not None:
            errors.string(context, "source", ["context", "source"], choices=("resource_watcher",))
            errors.string(context, "client_id", ["context", "client_id"], non_empty=True)
            errors.string(context, "component", ["context", "component"], non_empty=True)
            errors.string(context, "alert_type", ["context", "alert_type"], choices=ALERT_TYPES)
            errors.string(context, "severity", ["context", "severity"], choices=SEVERITIES)
            errors.string(context, "state", ["context", "state"], choices=STATES)
        logs = errors.kind(document, "logs", ["logs"], list)
        if logs is not None:
            if not logs:
                errors.add(["logs"], "too_short", "List should have at least 1 item after validation, not 0", logs)
            for index, line in enumerate(logs):
                if not isinstance(line, str):
                    errors.add(["logs", index], "string_type", "Input should be a valid string", line)
        metrics = errors.kind(document, "metrics", ["metrics"], dict)
        if metrics is not None:
            for name, value in metrics.items():
                if not is_number(value) and not isinstance(value, str):
                    errors.add(["metrics", name], "union_type",
                               "Input should be a valid number or a valid string", value)

    @staticmethod
    def check_report(document, errors):
        if not isinstance(document, dict):
            errors.add([], "model_attributes_type",
                       "Input should be a valid dictionary or object to extract fields from", document)
            return
        errors.string(document, "agent_id", ["agent_id"])
        timestamp = errors.field(document, "timestamp", ["timestamp"])
        if "timestamp" in document:
            if not isinstance(timestamp, str):
                errors.add(["timestamp"], "string_type", "Input should be a valid string", timestamp)
            elif not valid_rfc3339(timestamp):
                errors.add(["timestamp"], "datetime_from_date_parsing",
                           "Input should be a valid RFC 3339 date-time", timestamp)
        for name in ("components", "models", "alerts"):
            errors.kind(document, name, [name], list)
        errors.kind(document, "health", ["health"], dict)


def main():
    parser = strict_http.argument_parser("A strict stand-in for the Agent Orchestrator.")
    parser.add_argument("--alerts-path", default="/recommendations",
                        help="path of alert posts (default /recommendations)")
    parser.add_argument("--reports-path", default="/reports",
                        help="path of periodic reports (default /reports; '' for none)")
    parser.add_argument("--max-body-bytes", type=int, default=16 * 1024 * 1024,
                        help="largest body (default 16 MiB); more is a 413")
    strict_http.serve(Orchestrator(parser.parse_args()))


if __name__ == "__main__":
    main()
