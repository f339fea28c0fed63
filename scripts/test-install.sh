#!/usr/bin/env bash
# Tests scripts/components/install_resource_watcher.sh (issue 12) in a temporary install root
# (--prefix) with the built agent (--binary): the installed binary passes check-config on the
# installed config; a rerun without --force exits 0 and changes nothing (checksums of the whole
# tree); --force keeps the config (with a backup) and the spool; --uninstall removes what it
# installed and keeps the spool, --purge removes the spool; bad command lines exit 1 with the
# usage. Run by `make test`. Environment: RESOURCE_WATCHER_BINARY (default
# .build/debug/resource-watcher).
set -euo pipefail
cd "$(dirname "$0")/.."

binary=${RESOURCE_WATCHER_BINARY:-.build/debug/resource-watcher}
script=scripts/components/install_resource_watcher.sh
failures=0

fail() {
  echo "test-install.sh: FAIL: $*" >&2
  failures=$((failures + 1))
}

pass() { echo "test-install.sh: ok: $*"; }

[ -x "$binary" ] || {
  echo "test-install.sh: no agent at $binary: build it first (swift build)" >&2
  exit 2
}

root=$(mktemp -d /tmp/rw-install-test.XXXXXX)
output=$root.out
trap 'rm -rf "$root" "$output"' EXIT

# Every file with its checksum, every file and directory with its mode and modification time.
tree_state() {
  (cd "$root" && find . -type f -exec sha256sum {} + | sort -k2 && find . -printf '%m %T@ %p\n' | sort -k2)
}

install_args=(--client-id=acme --domain=watcher.example.com --prefix="$root" --binary="$binary")
config=$root/opt/agency_stack/resource_watcher/config.json
spool=$root/var/lib/resource-watcher/spool
installed_binary=$root/usr/local/bin/resource-watcher
unit=$root/etc/systemd/system/resource-watcher.service
log=$root/var/log/agency_stack/components/resource_watcher.log

# 1. A first install.
if "$script" "${install_args[@]}" --port=5320 --metrics-port=5321 >"$output" 2>&1; then
  pass "install exits 0"
else
  fail "install exited $?: $(cat "$output")"
fi
for path in "$installed_binary" "$config" "$unit" "$log"; do
  [ -f "$path" ] || fail "install did not create ${path#"$root"}"
done
[ "$(stat -c %a "$spool")" = 700 ] || fail "the spool is not 0700"
if "$installed_binary" check-config --config "$config" >/dev/null; then
  pass "the installed binary passes check-config on the installed config"
else
  fail "check-config refuses the installed config"
fi
grep -q '"orchestrator_url": "http://localhost:5210"' "$config" || fail "no orchestrator URL in the config"
grep -q '"port": 5320' "$config" || fail "--port is not in the config"
grep -q '"metrics_port": 5321' "$config" || fail "--metrics-port is not in the config"
# The tokens are printed once; only their SHA-256 is stored, and the log never holds them.
tenant_token=$(sed -n 's/^  tenant .*: \([0-9a-f]\{64\}\)$/\1/p' "$output")
[ -n "$tenant_token" ] || fail "no tenant token printed"
tenant_sha=$(printf '%s' "$tenant_token" | sha256sum | cut -d' ' -f1)
grep -q "\"client_id\": \"acme\", \"sha256\": \"$tenant_sha\"" "$config" || fail "the config lacks the tenant token's SHA-256"
if grep -rq "$tenant_token" "$root"; then fail "the tenant token is stored in the install root"; else pass "tokens: SHA-256 only"; fi
for key in operator_tokens metrics_tokens; do
  grep -q "\"$key\": \[{ \"sha256\": \"[0-9a-f]\{64\}\" }\]" "$config" || fail "no $key in the config"
done

# 2. A rerun without --force: exit 0, nothing touched.
echo "spool record" >"$spool/marker"
before=$(tree_state)
if "$script" "${install_args[@]}" >"$output" 2>&1; then pass "rerun exits 0"; else fail "rerun exited $?"; fi
grep -q "already installed" "$output" || fail "rerun does not say it is already installed: $(cat "$output")"
if [ "$(tree_state)" = "$before" ]; then pass "rerun changed nothing"; else fail "rerun changed the tree"; fi

# 3. --force: upgrade in place, config kept and backed up, spool kept.
config_sum=$(sha256sum <"$config")
if "$script" "${install_args[@]}" --force >"$output" 2>&1; then pass "--force exits 0"; else fail "--force exited $?: $(cat "$output")"; fi
[ "$(sha256sum <"$config")" = "$config_sum" ] || fail "--force changed the config"
backups=("$config".bak.*)
if [ -f "${backups[0]}" ] && [ "$(sha256sum <"${backups[0]}")" = "$config_sum" ]; then
  pass "--force kept the config and backed it up"
else
  fail "--force made no config backup"
fi
[ -f "$spool/marker" ] || fail "--force lost the spool"
grep -q "Tokens" "$output" && fail "--force printed new tokens"
"$installed_binary" check-config --config "$config" >/dev/null || fail "check-config refuses the config after --force"

# 4. Bad command lines: exit 1 with the usage, nothing written.
before=$(tree_state)
check_refused() {
  local description=$1 status=0
  shift
  "$script" "$@" >"$output" 2>&1 || status=$?
  if [ "$status" = 1 ] && grep -q "^Usage:" "$output"; then
    pass "$description: exit 1 with usage"
  else
    fail "$description: exit $status, output: $(cat "$output")"
  fi
}
check_refused "an unknown flag" "${install_args[@]}" --frobnicate
check_refused "a flag without its value form" --client-id acme --domain=x --prefix="$root"
check_refused "no --client-id" --domain=watcher.example.com --prefix="$root"
check_refused "no --domain" --client-id=acme --prefix="$root"
check_refused "a bad port" "${install_args[@]}" --port=70000
check_refused "--purge without --uninstall" "${install_args[@]}" --purge
[ "$(tree_state)" = "$before" ] || fail "a refused command line changed the tree"
if "$script" --help | grep -q "^Usage:"; then pass "--help prints the usage"; else fail "--help"; fi

# 5. --uninstall: what was installed goes, the spool stays; --purge removes it.
if "$script" --uninstall --prefix="$root" >"$output" 2>&1; then pass "--uninstall exits 0"; else fail "--uninstall exited $?"; fi
for path in "$installed_binary" "$config" "$unit" "$root/opt/agency_stack/resource_watcher"; do
  [ ! -e "$path" ] || fail "--uninstall left ${path#"$root"}"
done
if [ -f "$spool/marker" ]; then pass "--uninstall kept the spool"; else fail "--uninstall removed the spool"; fi
if "$script" "${install_args[@]}" >/dev/null 2>&1 && [ -f "$config" ] && [ -f "$spool/marker" ]; then
  pass "reinstall over a kept spool"
else
  fail "reinstall after --uninstall"
fi
"$script" --uninstall --purge --prefix="$root" >/dev/null 2>&1 || fail "--uninstall --purge exited $?"
if [ ! -e "$spool" ] && [ ! -e "$installed_binary" ]; then pass "--purge removed the spool"; else fail "--purge left the spool"; fi

if [ "$failures" -gt 0 ]; then
  echo "test-install.sh: $failures failure(s)" >&2
  exit 1
fi
echo "test-install.sh: all passed"
