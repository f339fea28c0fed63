#!/usr/bin/env bash
# Checks deploy/resource-watcher.service (issue 12) where systemd is not PID 1: installed with
# the install script into a temporary --prefix holding a copy of the host's system units,
# `systemd-analyze verify` must print nothing (an unknown key is only a warning there), and
# `systemd-analyze security --offline=yes` must rate it 5.0 or lower ("OK"); the score is
# printed. Run by `make test`. Environment: RESOURCE_WATCHER_BINARY (default
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
