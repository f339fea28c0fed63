#!/usr/bin/env bash
# Checks deploy/resource-watcher.service (issue 12) where systemd is not PID 1: installed with
# the install script into a temporary --prefix holding a copy of the host's system units,
# `systemd-analyze verify` must print nothing (an unknown key is only a warning there), and
# `systemd-analyze security --offline=yes` must rate it 2.5 or lower; the score is printed. The
# devices the unit allows (as systemd reads them: DevicePolicy=closed, NVIDIA's groups for NVML,
# no PrivateDevices, which would hide /dev/nvidia*) and its system call filter (process_vm_readv
# and process_vm_writev taken out of @system-service, after it) are listed and checked, and it
# must set MemoryMax=. Then, as root, what the unit's two capabilities are for: as an unprivileged user
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

# --threshold is the exposure times 10: 25 fails anything above 2.5.
report=$(systemd-analyze security --offline=yes --root="$root" --threshold=25 "$unit" 2>&1) || {
  echo "$report" >&2
  echo "test-unit.sh: $unit is exposed above 2.5" >&2
  exit 1
}
echo "test-unit.sh: ok: $(grep 'Overall exposure level' <<<"$report")"

installed=$root/etc/systemd/system/$unit
failures=0
fail() {
  echo "test-unit.sh: FAIL: $*" >&2
  failures=$((failures + 1))
}
# The device ACL as systemd computed it (the security report's DeviceAllow= line), e.g.
# "char-rtc:r char-nvidia-caps:r char-nvidia:rw char-nvidia-frontend:rw" (char-rtc: ProtectClock).
devices=$(sed -n 's/.*Service has a device ACL with some special devices: //p' <<<"$report" |
  sed -E 's/[[:space:]]+[0-9.]+[[:space:]]*$//')
echo "test-unit.sh: allowed devices: ${devices:-none}"
expected_devices="char-nvidia-caps:r char-nvidia-frontend:rw char-nvidia:rw char-rtc:r"
sorted_devices=$(tr ' ' '\n' <<<"$devices" | sort | tr '\n' ' ' | sed 's/ $//')
[ "$sorted_devices" = "$expected_devices" ] || fail "devices allowed: '$sorted_devices', expected '$expected_devices'"
grep -qx 'DevicePolicy=closed' "$installed" || fail "no DevicePolicy=closed"
if grep -q '^PrivateDevices=yes' "$installed"; then
  fail "PrivateDevices=yes hides /dev/nvidia*: no NVIDIA figures"
fi
# SystemCallFilter= lines in order: the allow list first, then what is taken out of it.
filters=$(grep '^SystemCallFilter=' "$installed" | cut -d= -f2- | paste -sd'|' -)
echo "test-unit.sh: system call filter: $filters"
[ "$(grep '^SystemCallFilter=' "$installed" | head -n 1)" = "SystemCallFilter=@system-service" ] ||
  fail "the first SystemCallFilter= is not the @system-service allow list"
grep -qx 'SystemCallFilter=~process_vm_readv process_vm_writev' "$installed" ||
  fail "process_vm_readv and process_vm_writev are not taken out of the filter"
# Whether system call $2 is in the set $1, its nested sets included (this systemd's lists).
in_set() {
  local listing nested
  listing=$(systemd-analyze syscall-filter "$1" 2>/dev/null | tail -n +2 | grep -v '^ *#')
  grep -qw -- "$2" <<<"$(grep -v '^ *@' <<<"$listing")" && return 0
  while read -r nested; do
    in_set "$nested" "$2" && return 0
  done < <(grep -o '@[a-z-]*' <<<"$(grep '^ *@' <<<"$listing")")
  return 1
}
# They are in @system-service, so the line above is what denies them.
for call in process_vm_readv process_vm_writev; do
  if in_set @system-service "$call"; then
    echo "test-unit.sh: $call is in @system-service: only the ~ line denies it"
  else
    echo "test-unit.sh: note: $call is not in this systemd's @system-service"
  fi
done
memory=$(sed -n 's/^MemoryMax=//p' "$installed")
[ -n "$memory" ] || fail "no MemoryMax="
echo "test-unit.sh: MemoryMax=$memory"
[ "$failures" = 0 ] || exit 1
echo "test-unit.sh: ok: devices, system call filter and MemoryMax as intended"

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
