#!/usr/bin/env bash
# Fuzzes the :5220 API against the OpenAPI document it serves (issue 11): the built agent runs on
# free loopback ports with a temporary spool and a tenant token, and schemathesis tests every
# operation of /openapi.json with every check on, as that tenant, then as an operator. Any
# finding fails the run, so the document states every rule the server enforces and the server
# keeps every promise of the document. Run by `make test` after the Swift suite (about a minute
# on 2 cores); `make deps` installs the pinned schemathesis.
#
# Environment: RESOURCE_WATCHER_BINARY (default .build/debug/resource-watcher),
# SCHEMATHESIS_MAX_EXAMPLES (per operation and phase: default 500 for the tenant, a third of it
# for the operator), SCHEMATHESIS_SEED (default 11).
# Arguments are passed on to `schemathesis run`, e.g. --continue-on-failure to see every finding
# (it runs in a temporary directory: give report paths as absolute ones).
set -euo pipefail
cd "$(dirname "$0")/.."

binary=${RESOURCE_WATCHER_BINARY:-.build/debug/resource-watcher}
max_examples=${SCHEMATHESIS_MAX_EXAMPLES:-500}
seed=${SCHEMATHESIS_SEED:-11}
startup_deadline_seconds=60

fail() {
  echo "schemathesis.sh: $*" >&2
  exit 2
}

[ -x "$binary" ] || fail "no agent at $binary: build it first (swift build)"
python3 -m schemathesis.cli --version >/dev/null 2>&1 || fail "schemathesis is not installed: run make deps"
command -v curl >/dev/null || fail "curl is needed to wait for the agent"

work=$(mktemp -d "${TMPDIR:-/tmp}/rw-schemathesis.XXXXXX")
agent_pid=""
cleanup() {
  local status=$?
  if [ -n "$agent_pid" ] && kill -0 "$agent_pid" 2>/dev/null; then
    kill -TERM "$agent_pid" 2>/dev/null || true
    # SIGTERM is a graceful stop (flush, persist cursors); give it ten seconds, then kill.
    for _ in $(seq 100); do kill -0 "$agent_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$agent_pid" 2>/dev/null || true
    wait "$agent_pid" 2>/dev/null || true
  fi
  if [ "$status" -ne 0 ] && [ -f "$work/agent.log" ]; then
    echo "schemathesis.sh: the agent's log (last 40 lines):" >&2
    tail -n 40 "$work/agent.log" >&2
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Three free loopback ports, all bound until all are known so they differ: the API, /metrics,
# and one nothing listens on, where the sinks fail (so /health has failing sinks to describe).
read -r port metrics_port closed_port < <(python3 -c '
import socket
sockets = [socket.socket() for _ in range(3)]
for s in sockets:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in sockets))
')

# The tenant is `client1`, the document's example tenant, so the examples phase reads and writes
# real data; `client2` is another tenant (403 for client1's token) and `default` the agent's own.
new_token() { od -An -N24 -tx1 /dev/urandom | tr -d ' \n'; }
sha256() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }
token=$(new_token)
other_token=$(new_token)
operator_token=$(new_token)
mkdir -m 0700 "$work/spool"
# client1 has a running component (this agent) and one that is down (so an alert is active),
# which gives /metrics/components and /alerts bodies for the response schemas to check.
cat >"$work/config.json" <<EOF
{
  "client_id": "default",
  "port": $port,
  "metrics_port": $metrics_port,
  "listen_address": "127.0.0.1",
  "poll_interval_seconds": 0.5,
  "log_level": "info",
  "spool": { "dir": "$work/spool" },
  "orchestrator_url": "http://127.0.0.1:$closed_port",
  "sinks": {
    "prometheus_remote_write": { "url": "http://127.0.0.1:$closed_port/api/v1/write" },
    "loki": { "url": "http://127.0.0.1:$closed_port/loki/api/v1/push" }
  },
  "auth": {
    "tokens": [
      { "client_id": "client1", "sha256": "$(sha256 "$token")" },
      { "client_id": "client2", "sha256": "$(sha256 "$other_token")" }
    ],
    "operator_tokens": [{ "sha256": "$(sha256 "$operator_token")" }]
  },
  "components": [
    { "name": "agent", "client_id": "client1", "ports": [$port] },
    { "name": "missing", "client_id": "client1", "process_name": "rw-no-such-process" }
  ]
}
EOF

"$binary" run --config "$work/config.json" >"$work/agent.log" 2>&1 &
agent_pid=$!

base="http://127.0.0.1:$port"
deadline=$((SECONDS + startup_deadline_seconds))
until curl -fsS -o /dev/null --max-time 2 "$base/health" 2>/dev/null; do
  kill -0 "$agent_pid" 2>/dev/null || fail "the agent exited before answering /health"
  [ "$SECONDS" -lt "$deadline" ] || fail "the agent did not answer $base/health within ${startup_deadline_seconds}s"
  sleep 0.1
done
# Wait for the first alert too (the down component's, after for_samples ticks), so that /alerts
# answers with an alert to check against its schema rather than an empty list...
until curl -fsS --max-time 2 -H "Authorization: Bearer $token" "$base/alerts" | grep -q '"alert_type"'; do
  kill -0 "$agent_pid" 2>/dev/null || fail "the agent exited before raising its first alert"
  [ "$SECONDS" -lt "$deadline" ] || fail "no alert on $base/alerts within ${startup_deadline_seconds}s"
  sleep 0.1
done
# And for the sinks to fail against the closed port, so that the operator's /health lists them.
until curl -fsS --max-time 2 -H "Authorization: Bearer $operator_token" "$base/health" | grep -q '"failing"'; do
  kill -0 "$agent_pid" 2>/dev/null || fail "the agent exited before its sinks failed"
  [ "$SECONDS" -lt "$deadline" ] || fail "no failing sink on $base/health within ${startup_deadline_seconds}s"
  sleep 0.1
done

# --checks all: every check; the default phases (examples, coverage, fuzzing, stateful). The
# example database is off, and schemathesis runs in the temporary directory (its crash cache
# goes there), so that one seed always means the same run and the work tree stays clean.
run_schemathesis() {
  local who=$1 bearer=$2 examples=$3
  shift 3
  echo "schemathesis.sh: schemathesis $(python3 -m schemathesis.cli --version | awk '{print $NF}')" \
    "against $base/openapi.json as $who (--max-examples $examples, --seed $seed)"
  (cd "$work" && python3 -m schemathesis.cli run "$base/openapi.json" \
    --checks all \
    --header "Authorization: Bearer $bearer" \
    --max-examples "$examples" \
    --seed "$seed" \
    --generation-database none \
    --workers 1 \
    --request-timeout 10 \
    --no-color \
    "$@")
}

started=$SECONDS
# The tenant, as the issue asks: what a tenant's generated client sends and gets.
run_schemathesis "tenant client1" "$token" "$max_examples" "$@"
# An operator too, with fewer examples: the full /health (spool, failing sinks) against its
# schema, and events for tenants the agent does not hold (404).
run_schemathesis "an operator" "$operator_token" "$((max_examples / 3))" "$@"
echo "schemathesis.sh: no findings in $((SECONDS - started))s"
