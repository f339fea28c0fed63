#!/usr/bin/env bash
# The agent's container image, built and run on a real Docker engine (`make image-test`).
#
# On a fresh Debian 12 machine, as root, without registry access: installs what is missing,
# builds the release binary with the host's Swift (static Swift runtime), starts a Docker engine
# of its own on a private socket (never the host's), imports a debootstrapped Debian 12 as
# debian:bookworm-slim, builds the Dockerfile's `prebuilt` stage, runs the agent the way the
# README says (non-root, no capabilities, read-only root, the engine's socket read-only,
# --pid host) beside a busybox container it must watch, and checks what it reports.
# Everything it started is removed on exit. The last line is `image-test: N passed, M failed`.
#
# Environment: SWIFT (default swift), IMAGE_TEST_DEADLINE (seconds per wait, default 60).
set -euo pipefail

cd "$(dirname "$0")/.."
readonly REPO=$PWD
readonly SWIFT=${SWIFT:-swift}
readonly DEADLINE=${IMAGE_TEST_DEADLINE:-60}
readonly SCRATCH=.build-image
readonly ROOTFS_TAR=$SCRATCH/debian-bookworm-minbase.tar
readonly IMAGE=resource-watcher:test
readonly BUSYBOX_IMAGE=rw-busybox:test
readonly AGENT_UID=10001
readonly API=http://127.0.0.1:15220
# Debian's 20.10 client, the same version as its dockerd (/usr/local/bin/docker may be newer).
readonly DOCKER_CLIENT=/usr/bin/docker
# docker.io, debootstrap, busybox-static for the engine and the images; curl and jq for the
# checks; the -dev libraries and pkg-config for the build (as `make deps`).
readonly APT_PACKAGES=(docker.io docker-compose prometheus iproute2 debootstrap busybox-static curl jq
                       pkg-config libzstd-dev libsnappy-dev libcurl4-openssl-dev libssl-dev)
# deploy/docker-compose.yml's Prometheus image, made here from Debian's prometheus binary (no
# registry to pull prom/prometheus from) under the name the compose file uses.
COMPOSE_PROMETHEUS_IMAGE=$(sed -n 's/^ *image: \(prom\/prometheus:.*\)$/\1/p' deploy/docker-compose.yml)
readonly COMPOSE_PROMETHEUS_IMAGE
readonly COMPOSE_PROJECT=rwimagetest

passed=0
failed=0
step="start"
D=""
dockerd_pid=""
timings=()

log() { echo "image-test: $*"; }
pass() { passed=$((passed + 1)); log "PASS $1"; }
fail() { failed=$((failed + 1)); log "FAIL $1${2:+ ($2)}"; }
now() { echo "${EPOCHREALTIME/,/.}"; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
timed() {  # timed LABEL COMMAND...: runs COMMAND, records how long it took
    local label=$1 start
    shift
    step=$label
    start=$(now)
    "$@"
    timings+=("$label: $(elapsed "$start") s")
    log "$label took $(elapsed "$start") s"
}
dk() { "$DOCKER_CLIENT" -H "unix://$D/docker.sock" "$@"; }
# deploy/docker-compose.yml on this engine, with the image built here as the agent's.
compose() {
    DOCKER_HOST="unix://$D/docker.sock" RESOURCE_WATCHER_IMAGE="$IMAGE" \
        DOCKER_SOCKET="$D/docker.sock" DOCKER_GID="$(stat -c %g "$D/docker.sock")" \
        docker-compose -f deploy/docker-compose.yml -p "$COMPOSE_PROJECT" "$@"
}

# wait_until SECONDS COMMAND...: polls COMMAND until it succeeds; fails after SECONDS.
wait_until() {
    local deadline=$((SECONDS + $1))
    shift
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || return 1
        sleep 0.25
    done
}

diagnostics() {
    if [ -n "$D" ] && [ -S "$D/docker.sock" ]; then
        log "--- docker logs resource-watcher (last 60 lines) ---"
        dk logs resource-watcher 2>&1 | tail -n 60 || true
    fi
    if [ -n "$D" ] && [ -f "$D/dockerd.log" ]; then
        log "--- dockerd log (last 30 lines) ---"
        tail -n 30 "$D/dockerd.log" || true
    fi
}

stop_dockerd() {
    [ -n "$dockerd_pid" ] || return 0
    if [ -S "$D/docker.sock" ]; then
        compose down -v >/dev/null 2>&1 || true
        dk rm -f resource-watcher target >/dev/null 2>&1 || true
    fi
    kill -TERM "$dockerd_pid" 2>/dev/null || true
    local deadline=$((SECONDS + 30))
    while kill -0 "$dockerd_pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
    if kill -0 "$dockerd_pid" 2>/dev/null; then
        log "dockerd did not stop within 30 s: SIGKILL"
        kill -KILL "$dockerd_pid" 2>/dev/null || true
    fi
    wait "$dockerd_pid" 2>/dev/null || true
    # What dockerd started and left behind (its containerd, shims) names $D on its command line.
    local proc pid
    for proc in /proc/[0-9]*; do
        pid=${proc#/proc/}
        if tr '\0' ' ' <"$proc/cmdline" 2>/dev/null | grep -qF -- "$D/"; then
            kill -KILL "$pid" 2>/dev/null || true
        fi
    done
}

unmount_under() {  # everything mounted below $1, deepest first
    local mount_point
    awk -v prefix="$1/" 'index($5, prefix) == 1 { print $5 }' /proc/self/mountinfo | sort -r |
        while read -r mount_point; do
            umount "$mount_point" 2>/dev/null || umount -l "$mount_point" 2>/dev/null || true
        done
}

cleanup() {
    local status=$?
    set +e
    exec 1>&3 2>&4  # a signal may land inside a function whose output goes to /dev/null
    trap - EXIT
    trap '' INT TERM  # a second Ctrl-C must not leave the engine running
    if [ "$status" -eq 130 ] || [ "$status" -eq 143 ]; then
        fail "$step" "interrupted"
    elif [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
        fail "$step" "exit status $status"
    fi
    if [ "$failed" -gt 0 ]; then diagnostics; fi
    stop_dockerd
    if [ -n "$D" ] && [ -d "$D" ]; then
        unmount_under "$D"
        rm -rf "$D"
    fi
    if [ "${#timings[@]}" -gt 0 ]; then
        local joined
        joined=$(printf '%s; ' "${timings[@]}")
        log "timings: ${joined%; }"
    fi
    log "$passed passed, $failed failed"
    [ "$failed" -eq 0 ] || exit 1
    exit "$status"
}
exec 3>&1 4>&2
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

install_packages() {
    local package missing=()
    for package in "${APT_PACKAGES[@]}"; do
        # shellcheck disable=SC2016 # ${Status} is dpkg-query's field, not a shell variable
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" ||
            missing+=("$package")
    done
    [ "${#missing[@]}" -eq 0 ] && return 0
    log "installing ${missing[*]}"
    apt-get -o DPkg::Lock::Timeout=300 update -qq
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq \
        --no-install-recommends "${missing[@]}" >/dev/null
}

build_binary() {
    "$SWIFT" build -c release --static-swift-stdlib --product resource-watcher --scratch-path "$SCRATCH"
}

check_binary() {
    local libraries
    libraries=$(ldd "$BINARY_PATH")
    echo "$libraries"
    if grep -Eq 'libswift|libFoundation|libdispatch|libBlocksRuntime|not found' <<<"$libraries"; then
        fail "the binary needs no Swift shared library" "$(grep -E 'libswift|libFoundation|libdispatch|libBlocksRuntime|not found' <<<"$libraries" | tr -s ' \t\n' ' ')"
    else
        pass "the binary needs no Swift shared library"
    fi
}

start_dockerd() {
    # setsid: a Ctrl-C on the terminal reaches this script, whose trap stops the engine in order.
    setsid dockerd --iptables=false --ip6tables=false --bridge=none --storage-driver=vfs \
        --data-root="$D/data" --exec-root="$D/exec" -H "unix://$D/docker.sock" \
        --pidfile="$D/docker.pid" >"$D/dockerd.log" 2>&1 &
    dockerd_pid=$!
    local deadline=$((SECONDS + DEADLINE))
    until [ "$(curl -s --max-time 2 --unix-socket "$D/docker.sock" http://localhost/_ping)" = OK ]; do
        # On failure the EXIT trap prints the tail of dockerd's log.
        if ! kill -0 "$dockerd_pid" 2>/dev/null; then
            log "dockerd exited before answering /_ping"
            return 1
        fi
        if ((SECONDS >= deadline)); then
            log "dockerd did not answer /_ping within $DEADLINE s"
            return 1
        fi
        sleep 0.2
    done
    dk version --format 'engine {{.Server.Version}} (API {{.Server.APIVersion}}), client {{.Client.Version}}'
}

# debootstrap once (cached under .build-image/), then `docker import` on every run.
debootstrap_rootfs() {
    [ -s "$ROOTFS_TAR" ] && { log "base rootfs: cached $ROOTFS_TAR"; return 0; }
    local rootfs=$D/rootfs
    debootstrap --variant=minbase --include=libcurl4,libzstd1,libsnappy1v5,libstdc++6,ca-certificates \
        bookworm "$rootfs" http://deb.debian.org/debian >"$D/debootstrap.log" 2>&1 ||
        { tail -n 30 "$D/debootstrap.log"; return 1; }
    # What the registry's bookworm-slim leaves out too: package caches and lists, docs but the
    # copyright files, man and info pages, translations.
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/lib/apt/lists/* \
        "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/*
    find "$rootfs/usr/share/doc" -type f ! -name copyright -delete
    find "$rootfs/usr/share/doc" -type d -empty -delete
    find "$rootfs/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
    tar --numeric-owner -C "$rootfs" -cf "$ROOTFS_TAR.partial" .
    mv "$ROOTFS_TAR.partial" "$ROOTFS_TAR"
    rm -rf "$rootfs"
}

import_base_image() {
    dk import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'CMD ["bash"]' "$ROOTFS_TAR" debian:bookworm-slim >/dev/null
}

build_image() {
    DOCKER_BUILDKIT=0 dk build --network none --target prebuilt --build-arg BINARY="$BINARY" -t "$IMAGE" .
}

# A busybox image for the container the agent watches: the static busybox and its applets.
import_busybox_image() {
    local root=$D/busybox applet
    mkdir -p "$root/bin"
    cp /bin/busybox "$root/bin/busybox"
    for applet in $("$root/bin/busybox" --list); do
        [ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
    done
    tar --numeric-owner -C "$root" -cf "$D/busybox.tar" .
    dk import "$D/busybox.tar" "$BUSYBOX_IMAGE" >/dev/null
}

write_config() {
    cat >"$CONFIG" <<'EOF'
{
  "listen_address": "127.0.0.1",
  "port": 15220,
  "metrics_port": 15221,
  "poll_interval_seconds": 1,
  "spool": { "dir": "/var/lib/resource-watcher/spool" },
  "components": [
    { "name": "target", "container_name": "target" },
    { "name": "agent", "process_name": "resource-watcher" }
  ]
}
EOF
    chmod 0644 "$CONFIG"
}

# The README's `docker run`, with the test's config and this engine's socket.
run_agent() {
    dk run -d --name resource-watcher \
        --user "$AGENT_UID:$AGENT_UID" --group-add "$(stat -c %g "$D/docker.sock")" \
        --cap-drop ALL --security-opt no-new-privileges --read-only \
        --network host --pid host \
        -v "$D/docker.sock:/var/run/docker.sock:ro" \
        -v "$CONFIG:/etc/resource-watcher/config.json:ro" \
        -v rw-test-spool:/var/lib/resource-watcher/spool \
        "$IMAGE" >/dev/null
}

logs_show_start() { dk logs resource-watcher 2>&1 | grep -q "resource-watcher started"; }
health_has_status() { curl -s --max-time 2 "$API/health" | jq -e 'has("status")'; }
components_name_target() {
    curl -s --max-time 2 "$API/metrics/components" | jq -e '.metrics | any(.component == "target")'
}
component_is_healthy_with_memory() {  # NAME
    curl -s --max-time 2 "$API/metrics/components" | jq -e --arg name "$1" \
        '.metrics[] | select(.component == $name) | .status == "healthy" and .resources.memory_usage > 0'
}
component_summary() {  # NAME: what the API says about it, for the report
    curl -s --max-time 2 "$API/metrics/components" | jq -c --arg name "$1" '.metrics[] | select(.component == $name)'
}

run_checks() {
    step="checks"
    if dk run --rm --network none -v "$CONFIG:/etc/resource-watcher/config.json:ro" "$IMAGE" \
        check-config --config /etc/resource-watcher/config.json; then
        pass "check-config accepts the test configuration inside the image"
    else
        fail "check-config accepts the test configuration inside the image"
    fi

    dk run -d --name target --network none --memory 64m "$BUSYBOX_IMAGE" \
        sh -c 'while :; do echo tick; sleep 1; done' >/dev/null
    run_agent

    if wait_until "$DEADLINE" logs_show_start; then
        pass "docker logs resource-watcher shows \"resource-watcher started\""
    else
        fail "docker logs resource-watcher shows \"resource-watcher started\""
    fi

    local pid status
    pid=$(dk inspect -f '{{.State.Pid}}' resource-watcher)
    status=$(cat "/proc/$pid/status" 2>/dev/null || true)
    log "agent: host pid $pid; $(grep -E '^(Uid|Gid|Groups|CapEff|NoNewPrivs):' <<<"$status" | tr -s '\t\n' ' ')"
    if [ "$(awk '$1 == "Uid:" { print $2, $3, $4, $5 }' <<<"$status")" = "$AGENT_UID $AGENT_UID $AGENT_UID $AGENT_UID" ]; then
        pass "the agent runs as uid $AGENT_UID"
    else
        fail "the agent runs as uid $AGENT_UID" "$(grep '^Uid:' <<<"$status")"
    fi
    if grep -q "^CapEff:[[:space:]]*0000000000000000$" <<<"$status" &&
        grep -q "^NoNewPrivs:[[:space:]]*1$" <<<"$status"; then
        pass "the agent has no effective capabilities and no_new_privs"
    else
        fail "the agent has no effective capabilities and no_new_privs"
    fi
    if awk '$5 == "/" { split($6, options, ","); if (options[1] == "ro") found = 1 } END { exit !found }' \
        "/proc/$pid/mountinfo" 2>/dev/null; then
        pass "the agent's root file system is read-only"
    else
        fail "the agent's root file system is read-only"
    fi
    local spool_owner
    spool_owner=$(dk exec resource-watcher stat -c '%u:%g %a' /var/lib/resource-watcher/spool 2>&1 || true)
    if [ "$spool_owner" = "$AGENT_UID:$AGENT_UID 700" ]; then
        pass "the spool volume belongs to the agent, mode 0700"
    else
        fail "the spool volume belongs to the agent, mode 0700" "$spool_owner"
    fi

    if wait_until "$DEADLINE" health_has_status; then
        pass "GET /health answers JSON with a status: $(curl -s "$API/health" | jq -c '{status, reasons}')"
    else
        fail "GET /health answers JSON with a status" "$(curl -s --max-time 2 "$API/health" | head -c 300)"
    fi
    if dk exec resource-watcher resource-watcher status --config /etc/resource-watcher/config.json >/dev/null; then
        pass "docker exec resource-watcher resource-watcher status exits 0 (healthy)"
    else
        fail "docker exec resource-watcher resource-watcher status exits 0 (healthy)" "exit status $?"
    fi
    if wait_until "$DEADLINE" components_name_target; then
        pass "GET /metrics/components lists component target"
    else
        fail "GET /metrics/components lists component target"
    fi
    if wait_until "$DEADLINE" component_is_healthy_with_memory agent; then
        pass "component agent (the agent's own process, seen through --pid host) is healthy with memory_usage > 0"
    else
        fail "component agent is healthy with memory_usage > 0" "$(component_summary agent)"
    fi
    if wait_until "$DEADLINE" component_is_healthy_with_memory target; then
        pass "component target is healthy with memory_usage > 0: $(component_summary target)"
    else
        fail "component target is healthy with memory_usage > 0" "$(component_summary target)"
        if dk logs resource-watcher 2>&1 | grep -q "is too new"; then
            log "the engine refused the agent's Docker API version (see 'is too new' in the agent's log)"
        fi
    fi
}

# deploy/docker-compose.yml's agent and Prometheus, started with docker-compose as the README
# says (Loki and Grafana need images that cannot be pulled here): the agent watches the
# Prometheus container, ships to it by remote-write, and Prometheus scrapes the agent and loads
# the alert rules.
build_compose_prometheus_image() {
    local context=$D/prometheus-image
    mkdir -p "$context"
    cp /usr/bin/prometheus "$context/prometheus"
    printf '%s\n' 'FROM debian:bookworm-slim' 'COPY prometheus /bin/prometheus' \
        'ENTRYPOINT ["/bin/prometheus"]' >"$context/Dockerfile"
    DOCKER_BUILDKIT=0 dk build --network none -t "$COMPOSE_PROMETHEUS_IMAGE" "$context" >/dev/null
}

prometheus_query() {  # PROMQL: the number of series it returns
    curl -s --max-time 2 -G http://127.0.0.1:9090/api/v1/query --data-urlencode "query=$1" | jq -e '.data.result | length'
}
prometheus_has() { [ "$(prometheus_query "$1")" -gt 0 ] 2>/dev/null; }
compose_agent_answers() { curl -s --max-time 2 http://127.0.0.1:5220/health | jq -e 'has("status")'; }

run_compose_checks() {
    step="compose"
    local port busy=""
    for port in 5220 5221 9090; do
        if ss -Hltn "sport = :$port" | grep -q .; then busy="$busy $port"; fi
    done
    if [ -n "$busy" ]; then
        fail "deploy/docker-compose.yml: its ports are free on this host" "in use:$busy"
        return 0
    fi
    dk rm -f resource-watcher >/dev/null  # the compose file names its agent container the same
    if compose up -d --no-build resource-watcher prometheus; then
        pass "docker-compose up -d resource-watcher prometheus (deploy/docker-compose.yml)"
    else
        fail "docker-compose up -d resource-watcher prometheus (deploy/docker-compose.yml)"
        return 0
    fi
    if wait_until "$DEADLINE" compose_agent_answers; then
        pass "the compose agent answers on 127.0.0.1:5220: $(curl -s http://127.0.0.1:5220/health | jq -c '{status}')"
    else
        fail "the compose agent answers on 127.0.0.1:5220" "$(compose logs --tail 30 resource-watcher 2>&1)"
    fi
    if wait_until "$DEADLINE" prometheus_has 'up{job="resource-watcher"} == 1'; then
        pass "the compose Prometheus scrapes the agent (up == 1)"
    else
        fail "the compose Prometheus scrapes the agent (up == 1)" "$(compose logs --tail 30 prometheus 2>&1)"
    fi
    if wait_until "$((DEADLINE * 2))" prometheus_has 'resource_watcher_component_memory_usage{component="prometheus", instance!~".*:5221"} > 0'; then
        pass "the agent watches the compose Prometheus container and remote-writes its memory to it"
    else
        fail "the agent watches the compose Prometheus container and remote-writes its memory to it" \
            "$(curl -s http://127.0.0.1:5220/metrics/components | head -c 600)"
    fi
    local rules
    rules=$(curl -s --max-time 2 http://127.0.0.1:9090/api/v1/rules | jq '[.data.groups[].rules[]] | length')
    if [ "$rules" = 7 ]; then
        pass "the compose Prometheus loaded the 7 rules of config/prometheus/alerts.yml"
    else
        fail "the compose Prometheus loaded the 7 rules of config/prometheus/alerts.yml" "rules: $rules"
    fi
    compose down -v >/dev/null 2>&1 || true
}

[ "$(id -u)" = 0 ] || { echo "scripts/test-image.sh: run as root (it starts a Docker engine)" >&2; exit 2; }

timed "apt packages" install_packages
timed "binary build" build_binary
BINARY_PATH=$("$SWIFT" build -c release --static-swift-stdlib --scratch-path "$SCRATCH" --show-bin-path)/resource-watcher
BINARY=${BINARY_PATH#"$REPO"/}  # the Dockerfile's ARG BINARY: relative to the build context
readonly BINARY_PATH BINARY
log "binary $BINARY, $(du -h "$BINARY_PATH" | cut -f1)"
check_binary

# A short path: the engine's unix socket lives here (sun_path holds 108 bytes).
D=$(mktemp -d /tmp/rwi.XXXXXX)
readonly CONFIG=$D/config.json
timed "dockerd start" start_dockerd
timed "debootstrap" debootstrap_rootfs
timed "base image import" import_base_image
timed "image build" build_image
dk images --format 'image {{.Repository}}:{{.Tag}} {{.Size}}' | grep -E "^image ($IMAGE|debian:bookworm-slim) "
timed "busybox image" import_busybox_image
write_config
timed "test" run_checks
timed "compose prometheus image" build_compose_prometheus_image
timed "compose" run_compose_checks
