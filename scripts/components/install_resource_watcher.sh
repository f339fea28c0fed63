#!/usr/bin/env bash
# Installs, upgrades (--force) or removes (--uninstall) the resource-watcher agent the way the
# AgencyStack components install: ./scripts/components/install_resource_watcher.sh
# --client-id=<id> --domain=<domain> [options]. See --help and the README's "Install" section.
#
# What goes where (ROOT is --prefix, default /):
#   ROOT/usr/local/bin/resource-watcher                        the binary
#   ROOT/opt/agency_stack/resource_watcher/config.json         the config (token SHA-256s only)
#   ROOT/opt/agency_stack/resource_watcher/config.json.bak.*   backups made by --force
#   ROOT/opt/agency_stack/resource_watcher/install.env         client id, domain, ports, version
#   ROOT/opt/agency_stack/resource_watcher/.installed          the files installed, for --uninstall
#   ROOT/etc/systemd/system/resource-watcher.service           the unit (deploy/resource-watcher.service)
#   ROOT/var/lib/resource-watcher/spool                        the spool, 0700, never removed but by --purge
#   ROOT/var/log/agency_stack/components/resource_watcher.log  this script's log (never tokens)
# Paths written into the config and the unit are the final ones, without ROOT: --prefix is a
# staging root (tests, packages), like DESTDIR.
set -euo pipefail

readonly SERVICE_USER=resource-watcher
readonly UNIT_NAME=resource-watcher.service
readonly ORCHESTRATOR_URL=http://localhost:5210
readonly SPOOL_DIR=/var/lib/resource-watcher/spool
readonly RUNTIME_PACKAGES="libcurl4 libzstd1 libsnappy1v5"

repository_dir=$(cd "$(dirname "$0")/../.." && pwd)
program=$(basename "$0")

usage() {
  cat <<EOF
Usage: $program --client-id=<client_id> --domain=<domain> [options]
       $program --uninstall [--purge] [--prefix=DIR]

Installs the Resource Watcher agent: binary, config, system user, spool, systemd unit.

Required (install):
  --client-id=ID          client ID for the multi-tenant setup (the agent's client_id)
  --domain=DOMAIN         domain for the service (recorded in install.env for the stack's proxy)

Options:
  --port=PORT             Resource Watcher API port (default: 5220)
  --metrics-port=PORT     Prometheus metrics port (default: 5221)
  --with-deps             install the runtime libraries with apt-get if missing
  --force                 reinstall/upgrade in place: binary and unit replaced, config kept
                          (a backup config.json.bak.<time> is made), spool kept
  --enable-monitoring     write the Prometheus scrape and remote-write snippets and the alert
                          rules under the install root
  --prefix=DIR            install under DIR instead of / (tests, packaging); no user is
                          created and no service is started
  --binary=PATH           install this binary instead of building the release one
  --uninstall             remove what the install put there; the spool and this script's log stay
  --purge                 with --uninstall: also remove the spool and the system user
  --help                  show this help
EOF
}

die_usage() {
  echo "$program: $*" >&2
  usage >&2
  exit 1
}

die() {
  log "error: $*"
  echo "$program: $*" >&2
  exit 1
}

client_id=""
domain=""
port=5220
metrics_port=5221
with_deps=false
force=false
enable_monitoring=false
prefix=""
binary=""
uninstall=false
purge=false

for argument in "$@"; do
  case "$argument" in
    --client-id=*) client_id=${argument#*=} ;;
    --domain=*) domain=${argument#*=} ;;
    --port=*) port=${argument#*=} ;;
    --metrics-port=*) metrics_port=${argument#*=} ;;
    --with-deps) with_deps=true ;;
    --force) force=true ;;
    --enable-monitoring) enable_monitoring=true ;;
    --prefix=*) prefix=${argument#*=} ;;
    --binary=*) binary=${argument#*=} ;;
    --uninstall) uninstall=true ;;
    --purge) purge=true ;;
    --help | -h)
      usage
      exit 0
      ;;
    *) die_usage "unknown option: $argument" ;;
  esac
done

if [ -n "$prefix" ]; then
  mkdir -p "$prefix" || die_usage "cannot create --prefix directory $prefix"
  root=$(cd "$prefix" && pwd)
else
  root=""
fi
readonly root
bin_path=$root/usr/local/bin/resource-watcher
install_dir=$root/opt/agency_stack/resource_watcher
config_path=$install_dir/config.json
manifest_path=$install_dir/.installed
unit_path=$root/etc/systemd/system/$UNIT_NAME
spool_path=$root$SPOOL_DIR
log_path=$root/var/log/agency_stack/components/resource_watcher.log

# Nothing is written to the log until the script has decided to change something, so a rerun
# without --force and a bad command line leave the install root untouched.
logging=false
log() {
  local line
  line="$(date -u +%Y-%m-%dT%H:%M:%SZ) $*"
  echo "$*"
  if [ "$logging" = true ]; then
    echo "$line" >>"$log_path"
  fi
}

start_logging() {
  mkdir -p "$(dirname "$log_path")"
  touch "$log_path"
  logging=true
  log "$program $mode (root ${root:-/})"
}

is_root() { [ "$(id -u)" = 0 ]; }
systemd_running() { [ -d /run/systemd/system ]; }

valid_port() {
  case "$1" in '' | *[!0-9]*) return 1 ;; esac
  [ "$1" -ge 1 ] && [ "$1" -le 65535 ]
}

# A 256-bit token in hex: only its SHA-256 is stored; it is printed once.
new_token() { od -An -N32 -tx1 /dev/urandom | tr -d ' \n'; }
sha256_of() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }

if [ "$uninstall" = true ]; then
  mode=uninstall
elif [ "$purge" = true ]; then
  die_usage "--purge goes with --uninstall"
else
  mode=install
  [ -n "$client_id" ] || die_usage "--client-id is required"
  [ -n "$domain" ] || die_usage "--domain is required"
  [[ "$client_id" =~ ^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$ ]] ||
    die_usage "--client-id must be 1 to 128 letters, digits, _ . -, starting with a letter or digit"
  [[ "$domain" =~ ^[A-Za-z0-9.-]+$ ]] || die_usage "--domain must be a host name"
  valid_port "$port" || die_usage "--port must be a port number (1-65535)"
  valid_port "$metrics_port" || die_usage "--metrics-port must be a port number (1-65535)"
  [ "$port" != "$metrics_port" ] || die_usage "--port and --metrics-port must differ"
  if [ -n "$binary" ] && [ ! -x "$binary" ]; then die_usage "--binary $binary is not an executable file"; fi
fi

# Without --prefix the script changes the host: it needs root. Under --prefix it never creates
# a user nor starts a service, so anyone may stage an install there.
if [ -z "$root" ] && ! is_root; then
  echo "$program: installing into / needs root (or use --prefix=DIR)" >&2
  exit 1
fi

purge_spool_and_user() {
  rm -rf -- "$spool_path"
  rmdir "$(dirname "$spool_path")" 2>/dev/null || true
  log "purged the spool $SPOOL_DIR"
  if [ -z "$root" ] && getent passwd "$SERVICE_USER" >/dev/null; then
    userdel "$SERVICE_USER" && log "removed the system user $SERVICE_USER"
  fi
}

uninstall_agent() {
  if [ ! -f "$manifest_path" ]; then
    # What an earlier --uninstall kept is still purged.
    if [ "$purge" = true ] && { [ -e "$spool_path" ] || { [ -z "$root" ] && getent passwd "$SERVICE_USER" >/dev/null; }; }; then
      start_logging
      purge_spool_and_user
      exit 0
    fi
    echo "resource-watcher is not installed under ${root:-/}: nothing to remove"
    exit 0
  fi
  start_logging
  if [ -z "$root" ] && systemd_running; then
    systemctl disable --now "$UNIT_NAME" >/dev/null 2>&1 || true
  fi
  local relative
  while IFS= read -r relative; do
    [ -n "$relative" ] || continue
    rm -f -- "$root$relative"
    log "removed $relative"
  done <"$manifest_path"
  rm -f -- "$install_dir"/config.json.bak.* "$manifest_path"
  rmdir "$install_dir/monitoring" "$install_dir" 2>/dev/null || true
  if [ -z "$root" ] && systemd_running; then systemctl daemon-reload; fi
  if [ "$purge" = true ]; then
    purge_spool_and_user
  else
    log "kept the spool $SPOOL_DIR (remove it with --uninstall --purge)"
  fi
  log "resource-watcher uninstalled"
}

if [ "$mode" = uninstall ]; then
  uninstall_agent
  exit 0
fi

if [ -f "$manifest_path" ] && [ "$force" != true ]; then
  echo "resource-watcher is already installed under ${root:-/} ($config_path); nothing changed. Use --force to upgrade in place."
  exit 0
fi
upgrading=false
if [ -f "$manifest_path" ]; then upgrading=true; fi

start_logging

if [ "$with_deps" = true ]; then
  if [ -n "$root" ]; then
    log "--with-deps: skipped under --prefix (the runtime libraries are the host's: $RUNTIME_PACKAGES)"
  else
    missing=""
    for package in $RUNTIME_PACKAGES; do
      dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing="$missing $package"
    done
    if [ -n "$missing" ]; then
      log "installing$missing"
      apt-get update -qq
      # shellcheck disable=SC2086 # one word per package
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
    fi
  fi
fi

if [ -z "$binary" ]; then
  log "building the release binary (swift build -c release)"
  (cd "$repository_dir" && swift build -c release --product resource-watcher) >>"$log_path" 2>&1 ||
    die "the release build failed; see $log_path"
  binary=$repository_dir/.build/release/resource-watcher
fi

# The system user: only when installing into /. Under --prefix the files stay the caller's and
# the unit (which names the user) is for the target host, whose package creates it.
if [ -n "$root" ]; then
  log "system user $SERVICE_USER: not created under --prefix (files stay owned by $(id -un))"
elif getent passwd "$SERVICE_USER" >/dev/null; then
  log "system user $SERVICE_USER exists"
elif command -v useradd >/dev/null; then
  useradd --system --no-create-home --home-dir /var/lib/resource-watcher --shell /usr/sbin/nologin "$SERVICE_USER"
  log "created the system user $SERVICE_USER"
else
  die "useradd is not available: create the system user $SERVICE_USER and run again"
fi

# Binary: copied beside, then renamed over the old one, so a running agent keeps its file.
mkdir -p "$(dirname "$bin_path")" "$install_dir" "$(dirname "$unit_path")"
install -m 0755 "$binary" "$bin_path.new"
mv -f "$bin_path.new" "$bin_path"
log "installed the binary ${bin_path#"$root"}"

# Spool: 0700, the agent's own; kept on --force and --uninstall.
mkdir -p "$spool_path"
chmod 0700 "$spool_path"
if [ -z "$root" ]; then chown "$SERVICE_USER:" "$spool_path" "$(dirname "$spool_path")"; fi
log "spool directory $SPOOL_DIR (0700)"

write_config() {
  local tenant_token operator_token metrics_token
  tenant_token=$(new_token)
  operator_token=$(new_token)
  metrics_token=$(new_token)
  umask 077
  cat >"$config_path.new" <<EOF
{
  "client_id": "$client_id",
  "port": $port,
  "metrics_port": $metrics_port,
  "listen_address": "127.0.0.1",
  "poll_interval_seconds": 15,
  "log_level": "info",
  "orchestrator_url": "$ORCHESTRATOR_URL",
  "spool": { "dir": "$SPOOL_DIR" },
  "auth": {
    "tokens": [{ "client_id": "$client_id", "sha256": "$(sha256_of "$tenant_token")" }],
    "operator_tokens": [{ "sha256": "$(sha256_of "$operator_token")" }],
    "metrics_tokens": [{ "sha256": "$(sha256_of "$metrics_token")" }]
  },
  "alerts": {
    "cpu_threshold_percent": 80,
    "memory_threshold_percent": 80,
    "disk_threshold_percent": 90
  },
  "components": [
    {
      "name": "ollama",
      "container_name": "ollama",
      "ports": [11434, 11435],
      "custom_metrics": ["model_load_time", "inference_time"]
    },
    {
      "name": "langchain",
      "container_name": "langchain",
      "ports": [5111, 5112],
      "custom_metrics": ["chain_execution_time", "embedding_time"]
    }
  ]
}
EOF
  umask 022
  mv -f "$config_path.new" "$config_path"
  if [ -z "$root" ]; then
    chown "root:$SERVICE_USER" "$config_path"
    chmod 0640 "$config_path"
  fi
  log "wrote the config ${config_path#"$root"} (token SHA-256s only)"
  # Printed once, never logged: only their SHA-256 is kept.
  cat <<EOF

Tokens (shown once; only their SHA-256 is stored in the config):
  tenant   ($client_id): $tenant_token
  operator (all tenants, make resource-watcher-status): $operator_token
  metrics  (Prometheus scrape of :$metrics_port/metrics): $metrics_token

EOF
}

if [ "$upgrading" = true ]; then
  backup=$config_path.bak.$(date -u +%Y%m%dT%H%M%SZ)
  cp -p "$config_path" "$backup"
  log "upgrade: kept the config, backed up to ${backup#"$root"}; the spool is kept"
  grep -q "\"client_id\": \"$client_id\"," "$config_path" ||
    log "warning: the kept config's client_id is not $client_id; edit ${config_path#"$root"} to change it"
else
  write_config
fi

{
  echo "CLIENT_ID=$client_id"
  echo "DOMAIN=$domain"
  echo "PORT=$port"
  echo "METRICS_PORT=$metrics_port"
  echo "VERSION=$("$bin_path" version 2>/dev/null || echo unknown)"
} >"$install_dir/install.env"

install -m 0644 "$repository_dir/deploy/$UNIT_NAME" "$unit_path"
log "installed the unit ${unit_path#"$root"}"

installed_files="/usr/local/bin/resource-watcher
/opt/agency_stack/resource_watcher/config.json
/opt/agency_stack/resource_watcher/install.env
/etc/systemd/system/$UNIT_NAME"

if [ "$enable_monitoring" = true ]; then
  monitoring_dir=$install_dir/monitoring
  mkdir -p "$monitoring_dir"
  cat >"$monitoring_dir/prometheus-scrape.yml" <<EOF
# Add to prometheus.yml's scrape_configs; put the metrics token printed at install in the file.
scrape_configs:
  - job_name: resource-watcher
    authorization:
      credentials_file: /etc/prometheus/resource-watcher.token
    static_configs:
      - targets: ['127.0.0.1:$metrics_port']
EOF
  cat >"$monitoring_dir/prometheus-remote-write.yml" <<EOF
# The agent ships by remote-write when its config has sinks.prometheus_remote_write.url, e.g.
#   "sinks": {"prometheus_remote_write": {"url": "http://127.0.0.1:9090/api/v1/write"}}
# and Prometheus accepts it when started with --web.enable-remote-write-receiver.
EOF
  install -m 0644 "$repository_dir/config/prometheus/alerts.yml" "$monitoring_dir/alerts.yml"
  install -m 0644 "$repository_dir/config/grafana/dashboard.json" "$monitoring_dir/grafana-dashboard.json"
  installed_files="$installed_files
/opt/agency_stack/resource_watcher/monitoring/prometheus-scrape.yml
/opt/agency_stack/resource_watcher/monitoring/prometheus-remote-write.yml
/opt/agency_stack/resource_watcher/monitoring/alerts.yml
/opt/agency_stack/resource_watcher/monitoring/grafana-dashboard.json"
  log "monitoring: in ${monitoring_dir#"$root"}: prometheus-scrape.yml (add to scrape_configs), prometheus-remote-write.yml, alerts.yml (add to rule_files), grafana-dashboard.json (Grafana: Dashboards > New > Import, pick your Prometheus as its datasource)"
fi

"$bin_path" check-config --config "$config_path" >>"$log_path" 2>&1 ||
  die "the installed binary refuses the config ${config_path#"$root"}; see $log_path"
log "check-config passed"

# An upgrade keeps what the install before it put there (a monitoring snippet) listed.
if [ "$upgrading" = true ]; then
  installed_files=$(printf '%s\n%s\n' "$installed_files" "$(cat "$manifest_path")" | sort -u)
fi
echo "$installed_files" >"$manifest_path"

if [ -n "$root" ]; then
  log "systemd: not started under --prefix; the unit is in ${unit_path#"$root"}"
elif systemd_running; then
  systemctl daemon-reload
  systemctl enable "$UNIT_NAME" >/dev/null 2>&1
  systemctl restart "$UNIT_NAME"
  log "systemd: $UNIT_NAME enabled and (re)started"
else
  log "systemd is not running on this host (PID 1 is $(cat /proc/1/comm 2>/dev/null || echo unknown)): the unit is installed but not started; start the agent with: runuser -u $SERVICE_USER -- /usr/local/bin/resource-watcher run --config /opt/agency_stack/resource_watcher/config.json"
fi

if [ "$upgrading" = true ]; then
  log "resource-watcher upgraded"
else
  log "resource-watcher installed for client $client_id ($domain), API 127.0.0.1:$port, metrics 127.0.0.1:$metrics_port"
fi
