import HTTPTransport
import Logging
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// `make bench-compare`: the agent against the pair it replaces, side by side on this machine.
///
/// - Ours: the release agent watching `componentCount` processes (one `sleep` each) at a 1 s
///   poll, remote-writing the seed's six metrics per component (~510 series/s).
/// - Anchor: `prometheus --enable-feature=agent` scraping `prometheus-node-exporter` every 1 s
///   (~515 series/s), remote-writing them.
/// - Both write through a counting TCP relay (`TCPRelay`) to the same real Prometheus, one side at
///   a time, in alternating windows. Every figure comes from `/proc` (CPU, peak RSS, bytes written
///   to disk), the relay (bytes on the wire) or the receiver (samples appended), never from a
///   sender's report of itself.
/// - Outages: the relay closes its port (connections refused) for `outageSeconds`; the time from
///   its return until the receiver holds a sample of every series newer than the return, the
///   samples missing from the outage window (its count of samples against the same-length window
///   before it), and the connection attempts the closed port refused (the host's failed TCP
///   connects, `/proc/net/snmp`) per second. Then the same with the sender killed (`kill -9`) a third of the
///   way into the outage and started again at once.
///
/// Environment: COMPARE_ROUNDS [2], COMPARE_WINDOW_SECONDS [60], COMPARE_OUTAGES [3],
/// COMPARE_OUTAGE_SECONDS [60], COMPARE_FSYNC [batch] (the agent's `spool.fsync`).
final class CompareBench: @unchecked Sendable {
    static let componentCount = 85
    static let warmUpSeconds = 15
    let workDirectory: String
    let logger: Logger
    private let rounds = CompareBench.environment("COMPARE_ROUNDS", 2)
    private let windowSeconds = CompareBench.environment("COMPARE_WINDOW_SECONDS", 60)
    private let outages = CompareBench.environment("COMPARE_OUTAGES", 3)
    private let outageSeconds = CompareBench.environment("COMPARE_OUTAGE_SECONDS", 60)
    private let fsyncPolicy = getenv("COMPARE_FSYNC").map { String(cString: $0) } ?? "batch"
    private let http = CurlTransport(userAgent: "resource-watcher-bench", requestTimeout: .seconds(10))
    private var refusedCountPerConnect = 1.0

    init(workDirectory: String, logger: Logger) {
        self.workDirectory = workDirectory
        self.logger = logger
    }

    enum Side: String, CaseIterable {
        case agent = "resource-watcher"
        case prometheus = "prometheus agent + node-exporter"

        /// Metrics whose every series must be newer than the receiver's return for the backlog
        /// to count as delivered (a sample of each shard of the anchor's queue); `instance` is
        /// the anchor's scrape target (series of earlier runs stay in the receiver).
        func probeMetrics(instance: String) -> [String] {
            switch self {
            case .agent: ShipperBench.metricNames.map { $0 + #"{client_id="bench"}"# }
            case .prometheus:
                [
                    "up", "node_cpu_seconds_total", "node_memory_MemFree_bytes",
                    "node_scrape_collector_duration_seconds",
                    "node_netstat_Tcp_InSegs", "go_memstats_alloc_bytes", "node_load1",
                ].map { $0 + #"{job="node",instance="\#(instance)"}"# }
            }
        }

        /// Every series the side delivers, as a PromQL selector on the receiver.
        func selector(instance: String) -> String {
            switch self {
            case .agent: #"{client_id="bench",__name__=~"resource_watcher_component_.*"}"#
            case .prometheus: #"{job="node",instance="\#(instance)"}"#
            }
        }
    }

    /// One side's steady-state figures over a window.
    struct Window {
        var seconds = 0.0
        var samples = 0.0
        var cpuSeconds = 0.0
        var peakRSSKiB = 0
        var writtenBytes = 0.0
        var wireBytes = 0.0
        var seriesPerSecond: Double { samples / seconds }
        var cpuPerMinute: Double { cpuSeconds / seconds * 60 }
        var writtenKiBPerMinute: Double { writtenBytes / seconds * 60 / 1024 }
        var wireBytesPerSample: Double { samples > 0 ? wireBytes / samples : 0 }
    }

    /// One outage's figures.
    struct Outage {
        var drainSeconds: Double?
        var missingSamples = 0.0
        var expectedSamples = 0.0
        var refusedPerSecond = 0.0
    }

    func run() async throws {
        for program in ["/usr/bin/prometheus", "/usr/bin/prometheus-node-exporter"] where access(program, X_OK) != 0 {
            throw BenchFailure("\(program) is not installed (make bench-compare installs it)")
        }
        let agentBinary = BuiltProducts.path(of: "resource-watcher")
        guard access(agentBinary, X_OK) == 0 else { throw BenchFailure("\(agentBinary) is not built") }
        let directory = workDirectory + "/compare"
        _ = try captureOutput("/bin/rm", ["-rf", directory])
        mkdir(directory, 0o755)
        defer { _ = try? captureOutput("/bin/rm", ["-rf", directory]) }

        let sleepers = try Sleepers(count: Self.componentCount, directory: directory)
        defer { sleepers.stop() }
        mkdir(directory + "/receiver", 0o755)
        let receiver = try await PrometheusServer(directory: directory + "/receiver")
        defer { receiver.stop() }
        let relay = TCPRelay(port: try ProcessHelpers.freeLoopbackPort(), upstreamPort: receiver.port)
        try relay.up()
        defer { relay.down() }
        let sides = Senders(
            directory: directory,
            agentBinary: agentBinary,
            relayPort: relay.port,
            components: sleepers.names,
            fsyncPolicy: fsyncPolicy
        )

        print(
            "== bench-compare: resource-watcher (\(Self.componentCount) process components, 1 s poll) vs prometheus --enable-feature=agent scraping prometheus-node-exporter (1 s), both remote-writing through a counting relay to Prometheus \(try prometheusVersion())"
        )
        print(
            "   \(rounds) rounds of \(windowSeconds) s windows per side, alternating, after \(Self.warmUpSeconds) s of warm-up each; then \(outages) outages of \(outageSeconds) s per side and one with a kill -9 during it; the agent's spool.fsync: \(fsyncPolicy)"
        )
        var windows: [Side: [Window]] = [:]
        for round in 0..<rounds {
            for side in round % 2 == 0 ? Side.allCases : Side.allCases.reversed() {
                let running = try await sides.start(side, fresh: true)
                try await Task.sleep(for: .seconds(Self.warmUpSeconds))
                windows[side, default: []].append(try await measure(running, relay: relay, receiver: receiver))
                running.stop()
            }
        }
        func mean(_ side: Side, _ figure: (Window) -> Double) -> Double {
            let values = (windows[side] ?? []).map(figure)
            return values.isEmpty ? 0 : values.reduce(0, +) / Double(values.count)
        }
        print("   | figure (mean of \(rounds) windows) | resource-watcher | prometheus pair | ratio (target) |")
        print("   |---|---|---|---|")
        let rows: [(String, (Window) -> Double, Int, String)] = [
            ("series/s delivered", \.seriesPerSecond, 0, ""),
            ("CPU-s per minute (both processes on the anchor side)", \.cpuPerMinute, 2, "<= 0.15"),
            ("peak RSS, MiB (summed on the anchor side)", { Double($0.peakRSSKiB) / 1024 }, 1, "<= 0.4"),
            ("bytes written to disk, KiB per minute", \.writtenKiBPerMinute, 0, "<= 1.5"),
            ("bytes on the wire per sample", \.wireBytesPerSample, 2, ""),
        ]
        for (name, figure, digits, target) in rows {
            let ours = mean(.agent, figure)
            let theirs = mean(.prometheus, figure)
            print(
                "   | \(name) | \(format(ours, digits: digits)) | \(format(theirs, digits: digits)) | \(format(theirs > 0 ? ours / theirs : 0, digits: 2))x\(target.isEmpty ? "" : " (\(target))") |"
            )
        }

        refusedCountPerConnect = try calibrateRefusedConnects()
        for side in Side.allCases {
            let running = try await sides.start(side, fresh: true)
            // A whole outage's length of samples before the first outage: its window before.
            try await Task.sleep(for: .seconds(Self.warmUpSeconds + outageSeconds))
            var results: [Outage] = []
            for _ in 0..<outages {
                results.append(try await outage(side, running: running, relay: relay, receiver: receiver))
            }
            let restarted = try await outage(
                side,
                running: running,
                relay: relay,
                receiver: receiver,
                killDuring: true
            )
            running.stop()
            let drains = results.compactMap(\.drainSeconds).sorted()
            let median = drains.isEmpty ? "never (within 120 s)" : format(drains[drains.count / 2], digits: 2) + " s"
            print(
                "   \(side.rawValue), \(outageSeconds) s outages: backlog delivered \(median) after the receiver's return (median; each: \(results.map { $0.drainSeconds.map { format($0, digits: 2) } ?? "-" }.joined(separator: ", ")) s; target <= 2 s for ours)"
                    + "; samples missing \(results.map { format($0.missingSamples, digits: 0) + " of " + format($0.expectedSamples, digits: 0) }.joined(separator: ", "))"
                    + "; refused connection attempts per second while down \(results.map { format($0.refusedPerSecond, digits: 2) }.joined(separator: ", ")) (target <= 1)"
            )
            print(
                "   \(side.rawValue), kill -9 and restart during an outage: samples missing \(format(restarted.missingSamples, digits: 0)) of \(format(restarted.expectedSamples, digits: 0)); backlog delivered \(restarted.drainSeconds.map { format($0, digits: 2) + " s" } ?? "never (within 120 s)") after the receiver's return (target: 0 missing for ours)"
            )
        }
    }

    /// How much `Tcp: AttemptFails` grows per connect refused, measured: this kernel counts
    /// several per refused loopback connect.
    private func calibrateRefusedConnects() throws -> Double {
        let port = try ProcessHelpers.freeLoopbackPort()
        let attempts = 20
        let before = ProcFigures.tcpConnectionsRefused()
        for _ in 0..<attempts {
            let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            _ = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            close(descriptor)
        }
        return max(1, Double(ProcFigures.tcpConnectionsRefused() - before) / Double(attempts))
    }

    /// A steady-state window of `running`.
    private func measure(_ running: RunningSender, relay: TCPRelay, receiver: PrometheusServer) async throws -> Window {
        let pids = running.pids
        let cpuBefore = pids.map(ProcFigures.cpuSeconds).reduce(0, +)
        let writtenBefore = pids.map(ProcFigures.writtenBytes).reduce(0, +)
        let wireBefore = relay.bytesForwarded
        let appendedBefore = try await receiverAppended(receiver.baseURL)
        let start = ContinuousClock.now
        try await Task.sleep(for: .seconds(windowSeconds))
        let seconds = (ContinuousClock.now - start).inSeconds
        var window = Window()
        window.seconds = seconds
        window.samples = try await receiverAppended(receiver.baseURL) - appendedBefore
        window.cpuSeconds = pids.map(ProcFigures.cpuSeconds).reduce(0, +) - cpuBefore
        window.writtenBytes = pids.map(ProcFigures.writtenBytes).reduce(0, +) - writtenBefore
        window.wireBytes = Double(relay.bytesForwarded - wireBefore)
        window.peakRSSKiB = pids.map(ProcFigures.peakRSSKiB).reduce(0, +)
        return window
    }

    /// One outage: the relay's port closed for `outageSeconds` (and the sender killed and started
    /// again a third of the way in, when `killDuring`).
    private func outage(
        _ side: Side,
        running: RunningSender,
        relay: TCPRelay,
        receiver: PrometheusServer,
        killDuring: Bool = false
    ) async throws -> Outage {
        var result = Outage()
        let refusedBefore = ProcFigures.tcpConnectionsRefused()
        let downAt = Self.unixSeconds()
        relay.down()
        let downClock = ContinuousClock.now
        if killDuring {
            try await Task.sleep(for: .seconds(outageSeconds / 3))
            running.kill()
            try await running.launch()
        }
        try await Task.sleep(until: downClock + .seconds(outageSeconds))
        result.refusedPerSecond =
            Double(ProcFigures.tcpConnectionsRefused() - refusedBefore) / refusedCountPerConnect / Double(outageSeconds)
        try relay.up()
        let upAt = Self.unixSeconds()
        let upClock = ContinuousClock.now
        // Delivered: every series has a sample newer than the receiver's return.
        let deadline = upClock + .seconds(120)
        while ContinuousClock.now < deadline {
            var oldest = Double.infinity
            for metric in side.probeMetrics(instance: running.instance) {
                oldest = min(oldest, try await scalar("min(timestamp(\(metric)))", receiver: receiver) ?? 0)
            }
            if oldest >= upAt {
                result.drainSeconds = (ContinuousClock.now - upClock).inSeconds
                break
            }
            try await Task.sleep(for: .milliseconds(100))  // the next poll
        }
        // Samples in the outage window against the same-length window before it.
        // (Per metric name: a range function over several names would drop them and collide.)
        let span = Int(upAt - downAt)
        var during = 0.0
        var before = 0.0
        let selector = side.selector(instance: running.instance)
        for item in try await receiver.query("group by (__name__) (\(selector))") {
            guard let name = (item["metric"] as? [String: String])?["__name__"] else { continue }
            let series = "{__name__=\"\(name)\"," + selector.dropFirst()
            during += try await scalar("sum(count_over_time(\(series)[\(span)s]))", at: upAt, receiver: receiver) ?? 0
            before += try await scalar("sum(count_over_time(\(series)[\(span)s]))", at: downAt, receiver: receiver) ?? 0
        }
        result.expectedSamples = before
        result.missingSamples = max(0, before - during)
        // Back to steady state before the next outage.
        try await Task.sleep(for: .seconds(10))
        return result
    }

    private func scalar(_ promql: String, at time: Double? = nil, receiver: PrometheusServer) async throws -> Double? {
        guard let value = try await receiver.query(promql, at: time).first?["value"] as? [Any],
            value.count == 2, let text = value[1] as? String
        else { return nil }
        return Double(text)
    }

    /// The receiver's `prometheus_tsdb_head_samples_appended_total`, from its own `/metrics`.
    private func receiverAppended(_ baseURL: String) async throws -> Double {
        let response = try await http.send(HTTPRequest(url: baseURL + "/metrics"))
        guard response.status == 200 else { throw BenchFailure("receiver /metrics: HTTP \(response.status)") }
        let name = Array("prometheus_tsdb_head_samples_appended_total".utf8)
        var total = 0.0
        for line in response.body.split(separator: UInt8(ascii: "\n")) where line.starts(with: name) {
            guard let space = line.lastIndex(of: UInt8(ascii: " ")),
                let value = Double(String(decoding: line[(space + 1)...], as: UTF8.self))
            else { continue }
            total += value
        }
        return total
    }

    private func prometheusVersion() throws -> String {
        String(try captureOutput("/usr/bin/prometheus", ["--version"]).split(separator: " ").dropFirst(2).first ?? "?")
    }

    private static func unixSeconds() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }

    private static func environment(_ name: String, _ fallback: Int) -> Int {
        getenv(name).flatMap { Int(String(cString: $0)) } ?? fallback
    }
}

/// `count` sleeping processes with distinct executable names (symlinks to sleep), the agent's
/// components.
private final class Sleepers {
    let names: [String]
    private var pids: [pid_t] = []

    init(count: Int, directory: String) throws {
        names = (0..<count).map { "rwc-sleep-\($0)" }
        for name in names {
            let path = directory + "/" + name
            unlink(path)
            symlink("/bin/sleep", path)
            pids.append(try Self.spawn([path, "86400"]))
        }
    }

    func stop() {
        for pid in pids { kill(pid, SIGKILL) }
        for pid in pids {
            var status: Int32 = 0
            waitpid(pid, &status, 0)
        }
        pids = []
    }

    static func spawn(_ words: [String], output: String = "/dev/null") throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv: [UnsafeMutablePointer<CChar>?] = words.map { strdup($0) } + [nil]
        defer { for argument in argv { free(argument) } }
        var pid: pid_t = 0
        guard posix_spawn(&pid, words[0], &actions, nil, argv, environ) == 0 else {
            throw BenchFailure("cannot start \(words[0])")
        }
        return pid
    }
}

/// How each side is started, with its configuration and data directories.
private struct Senders {
    let directory: String
    let agentBinary: String
    let relayPort: Int
    let components: [String]
    /// The agent's `spool.fsync`.
    let fsyncPolicy: String

    func start(_ side: CompareBench.Side, fresh: Bool) async throws -> RunningSender {
        let home = directory + "/" + (side == .agent ? "agent" : "prometheus-agent")
        if fresh { _ = try captureOutput("/bin/rm", ["-rf", home]) }
        mkdir(home, 0o755)
        let running = RunningSender(side: side, home: home, relayPort: relayPort, agentBinary: agentBinary)
        switch side {
        case .agent:
            let port = try ProcessHelpers.freeLoopbackPort()
            let metricsPort = try ProcessHelpers.freeLoopbackPort()
            let list = components.map { #"{"name": "\#($0)", "client_id": "bench", "process_name": "\#($0)"}"# }
            writeText(
                """
                {"client_id": "bench", "poll_interval_seconds": 1, "port": \(port), "metrics_port": \(metricsPort),
                 "spool": {"dir": "\(home)/spool", "fsync": "\(fsyncPolicy)"},
                 "sinks": {"prometheus_remote_write": {"url": "http://127.0.0.1:\(relayPort)/api/v1/write"}},
                 "components": [\(list.joined(separator: ",\n"))]}
                """,
                to: home + "/config.json"
            )
            running.agentPort = port
        case .prometheus:
            running.exporterPort = try ProcessHelpers.freeLoopbackPort()
            running.prometheusPort = try ProcessHelpers.freeLoopbackPort()
            writeText(
                """
                global:
                  scrape_interval: 1s
                scrape_configs:
                  - job_name: node
                    static_configs:
                      - targets: ['127.0.0.1:\(running.exporterPort)']
                remote_write:
                  - url: http://127.0.0.1:\(relayPort)/api/v1/write

                """,
                to: home + "/prometheus.yml"
            )
        }
        try await running.launch()
        return running
    }
}

/// One side's processes, started again in place by `launch` (same config and data).
private final class RunningSender: @unchecked Sendable {
    let side: CompareBench.Side
    let home: String
    let relayPort: Int
    let agentBinary: String
    var agentPort = 0
    var exporterPort = 0
    var prometheusPort = 0
    private var mainPID: pid_t = 0
    private var exporterPID: pid_t = 0
    private var prometheus: PrometheusProcess?

    init(side: CompareBench.Side, home: String, relayPort: Int, agentBinary: String) {
        self.agentBinary = agentBinary
        self.side = side
        self.home = home
        self.relayPort = relayPort
    }

    /// The anchor's scrape target, its series' `instance` label.
    var instance: String { "127.0.0.1:\(exporterPort)" }

    var pids: [pid_t] { side == .agent ? [mainPID] : [exporterPID, prometheus?.pid ?? 0] }

    /// Starts the side's processes (again, after `kill`: same config and data).
    func launch() async throws {
        switch side {
        case .agent:
            mainPID = try Sleepers.spawn(
                [agentBinary, "run", "--config", home + "/config.json"],
                output: home + "/agent.log"
            )
            try await waitForHTTP("http://127.0.0.1:\(agentPort)/health")
        case .prometheus:
            if exporterPID == 0 {
                exporterPID = try Sleepers.spawn(
                    ["/usr/bin/prometheus-node-exporter", "--web.listen-address=127.0.0.1:\(exporterPort)"],
                    output: home + "/node-exporter.log"
                )
                try await waitForHTTP("http://127.0.0.1:\(exporterPort)/metrics")
            }
            let started = try PrometheusProcess(
                [
                    "--enable-feature=agent", "--config.file=\(home)/prometheus.yml",
                    "--storage.agent.path=\(home)/data", "--web.listen-address=127.0.0.1:\(prometheusPort)",
                ],
                port: prometheusPort,
                logPath: home + "/prometheus.log",
                appendingLog: true
            )
            prometheus = started
            try await started.waitUntilReady()
        }
    }

    /// `kill -9` of the sender (the agent, or the Prometheus agent; node-exporter stays).
    func kill() {
        switch side {
        case .agent: Self.signalAndReap(mainPID, SIGKILL)
        case .prometheus:
            prometheus?.kill()
            prometheus = nil
        }
    }

    func stop() {
        switch side {
        case .agent: Self.signalAndReap(mainPID, SIGTERM)
        case .prometheus:
            prometheus?.stop()
            prometheus = nil
            Self.signalAndReap(exporterPID, SIGTERM)
        }
    }

    private static func signalAndReap(_ pid: pid_t, _ signal: Int32) {
        Glibc.kill(pid, signal)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
    }

    private func waitForHTTP(_ url: String) async throws {
        let http = CurlTransport(userAgent: "resource-watcher-bench", connectTimeout: .seconds(1))
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            if let reply = try? await http.send(HTTPRequest(url: url)), reply.status == 200 { return }
            try await Task.sleep(for: .milliseconds(50))  // the next poll
        }
        throw BenchFailure("nothing answered at \(url) within 30 s (see \(home))")
    }
}

/// Figures of other processes and of the host, from /proc.
enum ProcFigures {
    /// User plus system CPU seconds of `pid`.
    static func cpuSeconds(_ pid: pid_t) -> Double {
        guard let text = read("/proc/\(pid)/stat"), let close = text.lastIndex(of: ")") else { return 0 }
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// Bytes `pid` caused to be written to storage (`write_bytes` of /proc/<pid>/io).
    static func writtenBytes(_ pid: pid_t) -> Double {
        field("/proc/\(pid)/io", "write_bytes:")
    }

    /// Peak resident memory of `pid` (VmHWM), KiB.
    static func peakRSSKiB(_ pid: pid_t) -> Int {
        Int(field("/proc/\(pid)/status", "VmHWM:"))
    }

    /// Connection attempts on this host that failed from SYN-SENT (`Tcp: AttemptFails`): one per
    /// connect refused by a closed port.
    static func tcpConnectionsRefused() -> Int {
        guard let text = read("/proc/net/snmp") else { return 0 }
        let lines = text.split(separator: "\n").filter { $0.hasPrefix("Tcp:") }
        guard lines.count == 2 else { return 0 }
        let names = lines[0].split(separator: " ")
        let values = lines[1].split(separator: " ")
        guard let index = names.firstIndex(of: "AttemptFails"), index < values.count else { return 0 }
        return Int(values[index]) ?? 0
    }

    private static func field(_ path: String, _ name: String) -> Double {
        guard let text = read(path) else { return 0 }
        for line in text.split(separator: "\n") where line.hasPrefix(name) {
            return Double(line.dropFirst(name.count).split(whereSeparator: { $0 == " " || $0 == "\t" }).first ?? "")
                ?? 0
        }
        return 0
    }

    private static func read(_ path: String) -> String? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, $0.count) }
            guard count > 0 else { break }
            bytes += buffer[0..<count]
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
