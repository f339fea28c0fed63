#!/usr/bin/env bash
# Checks deploy/resource-watcher.service (issue 12) where systemd is not PID 1: installed with
# the install script into a temporary --prefix holding a copy of the host's system units,
# `systemd-analyze verify` must print nothing (an unknown key is only a warning there), and
# `systemd-analyze security --offline=yes` must rate it 5.0 or lower ("OK"); the score is
# printed. Then, as root, what the unit's two capabilities are for: as an unprivileged user
# (setpriv, no_new_privs), a root process's /proc/<pid>/io (storage I/O) and fd links (finding a
# component by its listening port) must be refused with no capability or only one of the two, and
# readable with CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH together. Run by `make test`. Environment: RESOURCE_WATCHER_BINARY (default
# .build/debug/resource-watcher).
set -euo pipefail
cd "$(dirname "$0")/.."

binary=${RESOURCE_WATCHER_BINARY:-.build/debug/resource-watcher}
unit=resource-watcher.service

command -v systemd-analyze >/dev/null || {
  echo "test-unit.sh: systemd-analyze is not installed: run make deps" >&2
  exit 2
}
root=$(mktemp -d /tmp/rw-unit-test.XXXXXX)
trap 'rm -rf "$root"' EXIT

scripts/components/install_resource_watcher.sh --client-id=acme --domain=watcher.example.com \
  --prefix="$root" --binary="$binary" >/dev/null
# verify loads the unit's dependencies (sysinit.target, ...) from the same root.
mkdir -p "$root/usr/lib/systemd"
cp -a /usr/lib/systemd/system "$root/usr/lib/systemd/"

findings=$(systemd-analyze verify --root="$root" "$unit" 2>&1) || {
  echo "test-unit.sh: systemd-analyze verify failed: $findings" >&2
  exit 1
}
if [ -n "$findings" ]; then
  echo "test-unit.sh: systemd-analyze verify: $findings" >&2
  exit 1
fi
echo "test-unit.sh: ok: systemd-analyze verify $unit: no findings"

# --threshold is the exposure times 10: 50 fails anything above 5.0.
report=$(systemd-analyze security --offline=yes --root="$root" --threshold=50 "$unit" 2>&1) || {
  echo "$report" >&2
  echo "test-unit.sh: $unit is exposed above 5.0" >&2
  exit 1
}
echo "test-unit.sh: ok: $(grep 'Overall exposure level' <<<"$report")"

[ "$(id -u)" = 0 ] || {
  echo "test-unit.sh: not root: the capability check is skipped"
  exit 0
}
sleep 300 &
target=$!
trap 'kill "$target" 2>/dev/null || true; rm -rf "$root"' EXIT
# Prints "io fd" for what a nobody process with these capabilities may read of the target.
readable_with() {
  local capabilities=$1 cap_flags=(--inh-caps=-all --bounding-set=-all)
  if [ -n "$capabilities" ]; then
    cap_flags=(--inh-caps="+$capabilities" --ambient-caps="+$capabilities" --bounding-set="-all,+$capabilities")
  fi
  setpriv --reuid=nobody --regid=nogroup --clear-groups "${cap_flags[@]}" --no-new-privs \
    sh -c "cat /proc/$target/io >/dev/null 2>&1 && printf 'io '; readlink /proc/$target/fd/1 >/dev/null 2>&1 && printf fd; true"
}
failures=0
for capabilities in "" sys_ptrace dac_read_search; do
  got=$(readable_with "$capabilities")
  if [ -n "$got" ]; then
    echo "test-unit.sh: FAIL: with capabilities '${capabilities:-none}' a root process's $got is readable" >&2
    failures=$((failures + 1))
  fi
done
got=$(readable_with sys_ptrace,+dac_read_search)
if [ "$got" = "io fd" ]; then
  echo "test-unit.sh: ok: /proc/<pid>/io and fd links of a root process need both CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH"
else
  echo "test-unit.sh: FAIL: with both capabilities only '$got' of io and fd is readable" >&2
  failures=$((failures + 1))
fi
[ "$failures" = 0 ]
