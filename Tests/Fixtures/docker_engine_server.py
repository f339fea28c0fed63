"""A stand-in Docker Engine (API v1.43) on a unix socket, serving canned documents shaped as the
Engine API reference documents them.

The container tests run against a real engine (Debian's docker.io, started by
Tests/TestSupport/DockerTestEngine.swift). This stand-in stays only for what a real engine cannot
be made to do here: stall (stats and logs that do not answer), and canned documents a real engine
here cannot produce (cgroup v2 stats: this machine's engine runs cgroup v1; legacy links; exact
counters that check the docker-stats formulas to the digit). It is as strict as a real engine
about API versions: /_ping names 1.43, a path above it is refused with the engine's words.

usage: docker_engine_server.py SOCKET_PATH [STALLED_NAME]   prints "ready" once listening
       stats of the container named STALLED_NAME take 30 s to answer (a stuck engine);
       STALLED_NAME "ALL": every request but /_ping takes 30 s

Containers:
  web          running, cgroup v2 stats (memory_stats.stats.inactive_file), two interfaces,
               --cpus 1.5, a volume and a bind mount
  legacy       running, cgroup v1 stats (total_inactive_file; no online_cpus, so the CPU count
               is the length of percpu_usage), --cpu-quota 50000 per 100000; also named by a link
  stopped-job  exited; its stats document is the engine's all-zero one

Endpoints:
  GET /_ping                                             200 "OK", header Api-Version: 1.43
  a path versioned above 1.43 (or below 1.12) is a 400 with the real engine's message
  GET /v1.43/containers/json[?all=true]                  running only unless all=true|1
  GET /v1.43/containers/{id|name}/stats?stream=false&one-shot=true
        the first call per container returns its first document, later calls the second
        (larger counters); any other stream/one-shot combination is a 400
  GET /v1.43/containers/{id|name}/json[?size=true]       SizeRw and SizeRootFs only with size
  GET /v1.43/containers/{id|name}/logs?stdout=1&stderr=1[&timestamps=1][&since=S][&until=U]
        as the engine serves a json-file log: lines stamped since <= t <= until (Unix seconds with
        an optional fraction, as "1714557600.123456789"), each prefixed "<RFC 3339 nano> " with
        timestamps; without a TTY the multiplexed stream (8-byte header: stream 1 stdout or
        2 stderr, 0, 0, 0, big-endian payload size; one frame per message), with a TTY the raw
        stream with "\r\n" line ends. A partial message (a long line split by the engine) has no
        line end. follow is refused (400), as is asking for neither stream.
An unknown container is a 404 {"message": "No such container: …"}, an unknown path a 404.
web has three log lines from 2024 (its history); the others start with none.

Test controls (not Engine API; JSON bodies):
  POST /test/containers        {"name": N, "tty": false}    creates running container N, or
                               recreates it with a new ID and an empty log; answers {"Id": …}
  POST /test/containers/N/logs {"lines": [{"stream": "stdout"|"stderr", "text": T,
                               "partial": false}]}           appends lines stamped now (increasing);
                               a line with "stamped_before_last_ns": N is stamped N ns before the
                               last line written (a stream's line landing behind the other's)
  POST /test/stall-logs        {"name": N|null}             logs of N answer only once unstalled
                                                            (or after 30 s)
"""
import copy
import http.server
import json
import os
import secrets
import socketserver
import struct
import sys
import threading
import time
import urllib.parse

WEB = "4c9b2d6e8f0a1b3c5d7e9f1a2b4c6d8e0f1a3b5c7d9e1f2a4b6c8d0e2f4a6b8c"
LEGACY = "9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b1a0f9e8d"
STOPPED = "0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9"
MIB = 1024 * 1024
ZERO_THROTTLING = {"periods": 0, "throttled_periods": 0, "throttled_time": 0}
ONE_SHOT_PRECPU = {  # one-shot: the engine does not take a previous reading
    "cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
    "throttling_data": ZERO_THROTTLING,
}


def summary(identifier, names, image, state, status, labels):
    return {
        "Id": identifier, "Names": names, "Image": image, "ImageID": "sha256:" + identifier[::-1],
        "Command": "/entrypoint.sh", "Created": 1700000000, "Ports": [], "Labels": labels,
        "State": state, "Status": status, "HostConfig": {"NetworkMode": "default"},
        "NetworkSettings": {"Networks": {}}, "Mounts": [],
    }


CONTAINERS = [
    summary(WEB, ["/web"], "nginx:1.25", "running", "Up 2 hours", {"com.docker.compose.service": "web"}),
    summary(LEGACY, ["/legacy", "/web/legacy-link"], "redis:6", "running", "Up 3 days", {}),
    summary(STOPPED, ["/stopped-job"], "busybox:latest", "exited", "Exited (0) 5 minutes ago", {}),
]


def v2_stats(total_usage, system_usage, usage, networks, read_bytes, write_bytes):
    return {
        "read": "2024-05-01T10:00:00.000000000Z", "preread": "0001-01-01T00:00:00Z",
        "pids_stats": {"current": 5, "limit": 4915},
        "blkio_stats": {
            "io_service_bytes_recursive": [
                {"major": 8, "minor": 0, "op": "read", "value": read_bytes},
                {"major": 8, "minor": 0, "op": "write", "value": write_bytes},
            ],
            "io_serviced_recursive": None, "io_queue_recursive": None, "io_service_time_recursive": None,
            "io_wait_time_recursive": None, "io_merged_recursive": None, "io_time_recursive": None,
            "sectors_recursive": None,
        },
        "num_procs": 0, "storage_stats": {},
        "cpu_stats": {
            "cpu_usage": {"total_usage": total_usage, "usage_in_kernelmode": total_usage // 4,
                          "usage_in_usermode": total_usage - total_usage // 4},
            "system_cpu_usage": system_usage, "online_cpus": 2, "throttling_data": ZERO_THROTTLING,
        },
        "precpu_stats": ONE_SHOT_PRECPU,
        "memory_stats": {
            "usage": usage,
            "stats": {
                "active_anon": 0, "active_file": 3 * MIB, "anon": usage - 25 * MIB, "anon_thp": 0,
                "file": 25 * MIB, "file_dirty": 0, "file_mapped": MIB, "file_writeback": 0,
                "inactive_anon": usage - 25 * MIB, "inactive_file": 20 * MIB, "kernel_stack": 81920,
                "pgactivate": 0, "pgdeactivate": 0, "pgfault": 2000, "pglazyfree": 0, "pglazyfreed": 0,
                "pgmajfault": 3, "pgrefill": 0, "pgscan": 0, "pgsteal": 0, "shmem": 0, "slab": 400000,
                "slab_reclaimable": 300000, "slab_unreclaimable": 100000, "sock": 0, "thp_collapse_alloc": 0,
                "thp_fault_alloc": 0, "unevictable": 0, "workingset_activate": 0, "workingset_nodereclaim": 0,
                "workingset_refault": 0,
            },
            "limit": 512 * MIB,
        },
        "name": "/web", "id": WEB,
        "networks": {
            name: {"rx_bytes": rx, "rx_packets": rx // 100, "rx_errors": 0, "rx_dropped": 0,
                   "tx_bytes": tx, "tx_packets": tx // 100, "tx_errors": 0, "tx_dropped": 0}
            for name, (rx, tx) in networks.items()
        },
    }


def v1_stats(total_usage, system_usage, usage, rx, tx):
    percpu = [total_usage // 4] * 3 + [total_usage - 3 * (total_usage // 4)]
    return {
        "read": "2024-05-01T10:00:00.000000000Z", "preread": "0001-01-01T00:00:00Z",
        "pids_stats": {"current": 4},
        "blkio_stats": {
            "io_service_bytes_recursive": [
                {"major": 8, "minor": 0, "op": "Read", "value": 1000},
                {"major": 8, "minor": 0, "op": "Write", "value": 3000},
                {"major": 8, "minor": 0, "op": "Sync", "value": 3000},
                {"major": 8, "minor": 0, "op": "Async", "value": 1000},
                {"major": 8, "minor": 0, "op": "Discard", "value": 0},
                {"major": 8, "minor": 0, "op": "Total", "value": 4000},
                {"major": 8, "minor": 16, "op": "Read", "value": 24},
            ],
            "io_serviced_recursive": [], "io_queue_recursive": [], "io_service_time_recursive": [],
            "io_wait_time_recursive": [], "io_merged_recursive": [], "io_time_recursive": [], "sectors_recursive": [],
        },
        "num_procs": 0, "storage_stats": {},
        "cpu_stats": {
            "cpu_usage": {"total_usage": total_usage, "percpu_usage": percpu,
                          "usage_in_kernelmode": 0, "usage_in_usermode": total_usage},
            "system_cpu_usage": system_usage, "throttling_data": ZERO_THROTTLING,
        },
        "precpu_stats": ONE_SHOT_PRECPU,
        "memory_stats": {
            "usage": usage, "max_usage": usage + 4 * MIB, "failcnt": 0, "limit": 200 * MIB,
            "stats": {
                "active_anon": usage - 15 * MIB, "active_file": 5 * MIB, "cache": 15 * MIB, "dirty": 0,
                "hierarchical_memory_limit": 200 * MIB, "hierarchical_memsw_limit": 9223372036854771712,
                "inactive_anon": 0, "inactive_file": 5 * MIB, "mapped_file": MIB, "pgfault": 900,
                "pgmajfault": 0, "pgpgin": 700, "pgpgout": 300, "rss": usage - 15 * MIB, "rss_huge": 0,
                "total_active_anon": usage - 15 * MIB, "total_active_file": 5 * MIB, "total_cache": 15 * MIB,
                "total_dirty": 0, "total_inactive_anon": 0, "total_inactive_file": 10 * MIB,
                "total_mapped_file": MIB, "total_pgfault": 900, "total_pgmajfault": 0, "total_pgpgin": 700,
                "total_pgpgout": 300, "total_rss": usage - 15 * MIB, "total_rss_huge": 0, "total_unevictable": 0,
                "total_writeback": 0, "unevictable": 0, "writeback": 0,
            },
        },
        "name": "/legacy", "id": LEGACY,
        "networks": {"eth0": {"rx_bytes": rx, "rx_dropped": 0, "rx_errors": 0, "rx_packets": 9,
                              "tx_bytes": tx, "tx_dropped": 0, "tx_errors": 0, "tx_packets": 7}},
    }


# What the engine answers for a container that is not running: zeros, empty memory_stats.
STOPPED_STATS = {
    "read": "0001-01-01T00:00:00Z", "preread": "0001-01-01T00:00:00Z", "pids_stats": {},
    "blkio_stats": {key: None for key in ("io_service_bytes_recursive", "io_serviced_recursive",
                                          "io_queue_recursive", "io_service_time_recursive",
                                          "io_wait_time_recursive", "io_merged_recursive",
                                          "io_time_recursive", "sectors_recursive")},
    "num_procs": 0, "storage_stats": {},
    "cpu_stats": ONE_SHOT_PRECPU, "precpu_stats": ONE_SHOT_PRECPU, "memory_stats": {},
    "name": "/stopped-job", "id": STOPPED,
}

STATS = {
    WEB: [
        v2_stats(10_000_000_000, 5_000_000_000_000, 100 * MIB, {"eth0": (1000, 2000), "eth1": (500, 250)}, 4096, 8192),
        v2_stats(10_500_000_000, 5_002_000_000_000, 110 * MIB, {"eth0": (11000, 4000), "eth1": (1500, 250)}, 8192, 16384),
    ],
    LEGACY: [
        v1_stats(2_000_000_000, 9_000_000_000_000, 50 * MIB, 100, 200),
        v1_stats(3_000_000_000, 9_004_000_000_000, 60 * MIB, 300, 600),
    ],
    STOPPED: [STOPPED_STATS, STOPPED_STATS],
}


def inspect(identifier, name, running, pid, size_rw, size_root, mounts, host_config, tty=False):
    return {
        "Id": identifier, "Created": "2024-05-01T08:00:00.000000000Z", "Path": "/entrypoint.sh", "Args": [],
        "State": {"Status": "running" if running else "exited", "Running": running, "Paused": False,
                  "Restarting": False, "OOMKilled": False, "Dead": False, "Pid": pid, "ExitCode": 0,
                  "Error": "", "StartedAt": "2024-05-01T08:00:01.000000000Z",
                  "FinishedAt": "0001-01-01T00:00:00Z" if running else "2024-05-01T09:55:00.000000000Z"},
        "Image": "sha256:" + identifier[::-1], "Name": name, "RestartCount": 0, "Driver": "overlay2",
        "Platform": "linux", "HostConfig": host_config, "SizeRw": size_rw, "SizeRootFs": size_root,
        "Mounts": mounts, "Config": {"Hostname": identifier[:12], "Image": "image", "Tty": tty},
        "NetworkSettings": {"Networks": {}},
    }


# With RW_STANDIN_OWN_PIDS=1 the running containers' main processes are this stand-in's own: a
# process that exists but is in no container's cgroup, so the sampler falls back to the stats
# endpoint for them. Otherwise PIDs that name no process here.
MAIN_PIDS = (os.getpid(), os.getpid()) if os.environ.get("RW_STANDIN_OWN_PIDS") == "1" else (4242, 5151)


def host_config(nano_cpus=0, quota=0, period=0, memory=0):
    return {"NanoCpus": nano_cpus, "CpuQuota": quota, "CpuPeriod": period, "Memory": memory,
            "CpuShares": 0, "NetworkMode": "default", "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0}}


INSPECT = {
    WEB: inspect(WEB, "/web", True, MAIN_PIDS[0], 12_345_678, 187_654_321, [
        {"Type": "volume", "Name": "web-data", "Source": "/var/lib/docker/volumes/web-data/_data",
         "Destination": "/data", "Driver": "local", "Mode": "z", "RW": True, "Propagation": ""},
        {"Type": "bind", "Source": "/etc/web", "Destination": "/config", "Mode": "ro", "RW": False,
         "Propagation": "rprivate"},
    ], host_config(nano_cpus=1_500_000_000, memory=512 * MIB)),
    LEGACY: inspect(LEGACY, "/legacy", True, MAIN_PIDS[1], 4096, 110_000_000, [],
                    host_config(quota=50_000, period=100_000)),
    STOPPED: inspect(STOPPED, "/stopped-job", False, 0, 0, 1_200_000, [], host_config()),
}

stats_calls = {}
stats_lock = threading.Lock()

# Each container's log, as a json-file log holds it: (unix nanoseconds, "stdout"|"stderr", text,
# partial) in the order written. Guarded by logs_lock, as are CONTAINERS, INSPECT and stalled_logs.
LOGS = {
    WEB: [(1714557600_000000000 + 250_000_000 * n, stream, text, False) for n, (stream, text) in enumerate([
        ("stdout", "nginx starting"), ("stderr", "warn: old history line"), ("stdout", "ready")])],
    LEGACY: [], STOPPED: [],
}
logs_lock = threading.Condition()
last_log_stamp = [0]
stalled_logs = set()


def unix_nanoseconds(text):
    """The engine's since/until: seconds, or seconds.fraction with up to nine digits (Go's
    timetypes.ParseTimestamps)."""
    seconds, _, fraction = text.partition(".")
    nanoseconds = int(fraction) * 10 ** (9 - len(fraction)) if fraction else 0
    return int(seconds) * 1_000_000_000 + nanoseconds


def rfc3339_nano(nanoseconds):
    """RFC 3339 with nine fraction digits, as the engine stamps lines (jsonmessage.RFC3339NanoFixed)."""
    seconds, fraction = divmod(nanoseconds, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + ".%09dZ" % fraction


def find(reference):
    for container in CONTAINERS:
        if container["Id"] == reference or "/" + reference in container["Names"]:
            return container["Id"]
    matches = [c["Id"] for c in CONTAINERS if c["Id"].startswith(reference)]
    return matches[0] if len(matches) == 1 else None


class Engine(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):
        pass

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        query = {key: values[-1] for key, values in urllib.parse.parse_qs(url.query).items()}
        parts = url.path.strip("/").split("/")
        if parts == ["_ping"]:
            return self.send_raw(200, b"OK", "text/plain; charset=utf-8")
        # As a real engine: a version above its own is refused with its words (Engine 20.10 said
        # "client version 1.43 is too new. Maximum supported API version is 1.41").
        version = parts[0][1:].split(".") if parts[0].startswith("v") else []
        if len(version) == 2 and all(p.isdigit() for p in version):
            if (int(version[0]), int(version[1])) > (1, 43):
                return self.reply(400, {"message": "client version %s is too new. Maximum supported API version "
                                                   "is 1.43" % parts[0][1:]})
            if (int(version[0]), int(version[1])) < (1, 12):
                return self.reply(400, {"message": "client version %s is too old. Minimum supported API version "
                                                   "is 1.12, please upgrade your client to a newer version"
                                                   % parts[0][1:]})
        if len(sys.argv) > 2 and sys.argv[2] == "ALL":
            time.sleep(30)  # an engine that accepts connections and answers nothing
        if len(parts) < 3 or parts[0] != "v1.43" or parts[1] != "containers":
            return self.reply(404, {"message": "page not found"})
        if parts[2:] == ["json"]:
            everything = query.get("all") in ("1", "true")
            return self.reply(200, [c for c in CONTAINERS if everything or c["State"] == "running"])
        if len(parts) != 4 or parts[3] not in ("stats", "json", "logs"):
            return self.reply(404, {"message": "page not found"})
        with logs_lock:
            identifier = find(urllib.parse.unquote(parts[2]))
        if identifier is None:
            return self.reply(404, {"message": "No such container: " + urllib.parse.unquote(parts[2])})
        if parts[3] == "logs":
            return self.logs(identifier, query)
        if parts[3] == "stats" and len(sys.argv) > 2 and find(sys.argv[2]) == identifier:
            time.sleep(30)
        if parts[3] == "stats":
            if query.get("stream") not in ("false", "0") or query.get("one-shot") not in ("true", "1"):
                return self.reply(400, {"message": "this stand-in serves only stream=false&one-shot=true"})
            with stats_lock:
                call = stats_calls.get(identifier, 0)
                stats_calls[identifier] = call + 1
            return self.reply(200, STATS.get(identifier, STATS[WEB])[min(call, 1)])
        with logs_lock:
            document = copy.deepcopy(INSPECT[identifier])
        if query.get("size") not in ("1", "true"):
            del document["SizeRw"], document["SizeRootFs"]
        return self.reply(200, document)

    def logs(self, identifier, query):
        def flag(name):
            return query.get(name) in ("1", "true")
        if flag("follow"):
            return self.reply(400, {"message": "this stand-in does not follow logs"})
        streams = {name for name in ("stdout", "stderr") if flag(name)}
        if not streams:
            return self.reply(400, {"message": "Bad parameters: you must choose at least one stream"})
        try:
            since = unix_nanoseconds(query["since"]) if "since" in query else None
            until = unix_nanoseconds(query["until"]) if "until" in query else None
        except ValueError:
            return self.reply(400, {"message": "invalid since or until"})
        with logs_lock:
            name = next(c["Names"][0][1:] for c in CONTAINERS if c["Id"] == identifier)
            logs_lock.wait_for(lambda: name not in stalled_logs, timeout=30)
            tty = INSPECT[identifier]["Config"]["Tty"]
            entries = list(LOGS[identifier])
        body = bytearray()
        for stamp, stream, text, partial in entries:
            if stream not in streams or (since is not None and stamp < since):
                continue
            if until is not None and stamp > until:
                break
            message = ((rfc3339_nano(stamp) + " ") if flag("timestamps") else "") + text
            if not partial:
                message += "\r\n" if tty else "\n"
            payload = message.encode()
            if not tty:
                body += struct.pack(">BxxxL", 1 if stream == "stdout" else 2, len(payload))
            body += payload
        kind = "raw-stream" if tty else "multiplexed-stream"
        self.send_raw(200, bytes(body), "application/vnd.docker." + kind)

    def do_POST(self):
        parts = urllib.parse.urlsplit(self.path).path.strip("/").split("/")
        length = int(self.headers.get("Content-Length") or 0)
        request = json.loads(self.rfile.read(length) or b"{}")
        with logs_lock:
            if parts == ["test", "containers"]:
                return self.reply(200, {"Id": create(request["name"], request.get("tty", False))})
            if parts == ["test", "stall-logs"]:
                stalled_logs.clear()
                if request.get("name"):
                    stalled_logs.add(request["name"])
                logs_lock.notify_all()
                return self.reply(200, {})
            if len(parts) == 4 and parts[:2] == ["test", "containers"] and parts[3] == "logs":
                identifier = find(urllib.parse.unquote(parts[2]))
                if identifier is None:
                    return self.reply(404, {"message": "No such container: " + parts[2]})
                for line in request["lines"]:
                    if "stamped_before_last_ns" in line:
                        # Written now, stamped before the last line written: the engine copies
                        # stdout and stderr separately, so one stream's line can land behind the
                        # other's later one.
                        stamp = last_log_stamp[0] - int(line["stamped_before_last_ns"])
                    else:
                        last_log_stamp[0] = max(time.time_ns(), last_log_stamp[0] + 1)
                        stamp = last_log_stamp[0]
                    LOGS[identifier].append((stamp, line.get("stream", "stdout"), line["text"],
                                             line.get("partial", False)))
                return self.reply(200, {"stamped_through": last_log_stamp[0]})
        return self.reply(404, {"message": "page not found"})

    def reply(self, status, document):
        self.send_raw(status, json.dumps(document).encode(), "application/json")

    def send_raw(self, status, body, content_type):
        self.send_response(status)
        self.send_header("Api-Version", "1.43")
        self.send_header("Content-Type", content_type)
        self.send_header("Docker-Experimental", "false")
        self.send_header("Ostype", "linux")
        self.send_header("Server", "Docker/24.0.7 (linux)")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def create(name, tty):
    """Creates (or recreates, with a new ID and an empty log) a running container; under logs_lock."""
    for container in [c for c in CONTAINERS if c["Names"] == ["/" + name]]:
        CONTAINERS.remove(container)
    identifier = secrets.token_hex(32)
    container = summary(identifier, ["/" + name], "busybox:latest", "running", "Up 1 second", {})
    container["Created"] = int(time.time())
    CONTAINERS.append(container)
    INSPECT[identifier] = inspect(identifier, "/" + name, True, 7000 + len(CONTAINERS), 0, 1_000_000, [],
                                  host_config(), tty=tty)
    LOGS[identifier] = []
    return identifier


class UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return  # the client gave up on a stalled answer
        super().handle_error(request, client_address)


if os.path.exists(sys.argv[1]):
    os.unlink(sys.argv[1])
server = UnixServer(sys.argv[1], Engine)
print("ready", flush=True)
server.serve_forever()
