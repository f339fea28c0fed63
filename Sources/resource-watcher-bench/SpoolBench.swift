import Logging
import Spool
import SwiftProtobuf
import TestSupport
import WatcherProto

#if canImport(Glibc)
import Glibc
#endif

/// Spool figures for `make bench`, each next to a baseline measured in the same run.
struct SpoolBench {
    let workDirectory: String
    let logger: Logger

    func run() throws {
        print(
            "== spool: realistic tick = \(RealisticTick.componentCount) components x \(RealisticTick.valuesPerComponent) seed fields, 2 alerts, \(RealisticTick.logLines) log lines"
        )
        var generator = RealisticTick()
        let ticks = (0..<4000).map { _ in generator.next() }
        let encoded: [(sample: [UInt8], logs: [UInt8])] = try ticks.map {
            (try $0.sample.serializedBytes(), try $0.logs.serializedBytes())
        }
        let rawBytesPerTick = Double(encoded.reduce(0) { $0 + $1.sample.count + $1.logs.count }) / Double(encoded.count)
        print("   encoded tick: \(Int(rawBytesPerTick)) bytes of protobuf before compression")

        try appendThroughput(encoded, policy: .never, ticks: 4000)
        try appendThroughput(encoded, policy: .batch, ticks: 300)
        try readThroughput(encoded)
        try bytesPerValue(ticks: ticks, encoded: encoded)
        try openTime()
    }

    // MARK: - Append

    private func appendThroughput(_ encoded: [(sample: [UInt8], logs: [UInt8])], policy: FsyncPolicy, ticks: Int) throws
    {
        let directory = fresh("append-\(policy)")
        defer { remove(directory) }
        let spool = try Spool(directory: directory, options: SpoolOptions(fsync: policy), logger: logger)
        let rawBytes = encoded.prefix(ticks).reduce(0) { $0 + $1.sample.count + $1.logs.count }
        let spoolSeconds = try measure {
            for tick in encoded.prefix(ticks) {
                try spool.append(kind: .sample, payload: tick.sample)
                try spool.append(kind: .logs, payload: tick.logs)
            }
        }
        spool.close()
        // Baseline: the same bytes written uncompressed to one file with pwrite (+ fdatasync per
        // record under `batch`), i.e. what the disk costs without framing, CRC or compression.
        let baselinePath = directory + "/baseline.raw"
        let descriptor = open(baselinePath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        var offset = 0
        let baselineSeconds = try measure {
            for tick in encoded.prefix(ticks) {
                for record in [tick.sample, tick.logs] {
                    _ = record.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, off_t(offset)) }
                    offset += record.count
                    if policy == .batch { fdatasync(descriptor) }
                }
            }
        }
        close(descriptor)
        let spoolMBps = Double(rawBytes) / spoolSeconds / 1e6
        let baselineMBps = Double(rawBytes) / baselineSeconds / 1e6
        print(
            "   append fsync=\(policy): \(format(Double(ticks) / spoolSeconds)) ticks/s, \(format(spoolMBps)) MB/s raw"
                + "  | baseline plain pwrite\(policy == .batch ? "+fdatasync" : ""): \(format(baselineMBps)) MB/s"
                + "  | ratio \(format(spoolMBps / baselineMBps, digits: 2))x"
        )
    }

    // MARK: - Read

    private func readThroughput(_ encoded: [(sample: [UInt8], logs: [UInt8])]) throws {
        let directory = fresh("read")
        defer { remove(directory) }
        let spool = try Spool(
            directory: directory,
            options: SpoolOptions(fsync: .never),
            consumers: ["bench"],
            logger: logger
        )
        var rawBytes = 0
        for tick in encoded {
            try spool.append(kind: .sample, payload: tick.sample)
            try spool.append(kind: .logs, payload: tick.logs)
            rawBytes += tick.sample.count + tick.logs.count
        }
        let reader = try spool.reader(for: "bench")
        var records = 0
        let seconds = try measure {
            while true {
                let result = try reader.read(maxRecords: 1000)
                if result.records.isEmpty { break }
                records += result.records.count
            }
        }
        precondition(records == encoded.count * 2, "read back \(records) records")
        // Baseline: the same payload bytes stored uncompressed in one plain file, read with read().
        let baselinePath = directory + "/baseline.raw"
        let descriptor = open(baselinePath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        for tick in encoded {
            for record in [tick.sample, tick.logs] {
                _ = record.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
            }
        }
        close(descriptor)
        var baselineBytes = 0
        let baselineSeconds = try measure { baselineBytes = try readWhole(baselinePath) }
        precondition(baselineBytes == rawBytes)
        let mbps = Double(rawBytes) / seconds / 1e6
        let baselineMBps = Double(rawBytes) / baselineSeconds / 1e6
        print(
            "   read: \(format(Double(records) / seconds)) records/s, \(format(mbps)) MB/s raw (CRC + decompress)"
                + "  | baseline plain read of the uncompressed bytes: \(format(baselineMBps)) MB/s"
                + "  | ratio \(format(mbps / baselineMBps, digits: 2))x"
        )
    }

    // MARK: - Size

    private func bytesPerValue(
        ticks: [(sample: ResourceWatcher_V1_Batch, logs: ResourceWatcher_V1_Batch)],
        encoded: [(sample: [UInt8], logs: [UInt8])]
    ) throws {
        let values = Double(ticks.count * RealisticTick.componentCount * RealisticTick.valuesPerComponent)
        var onDisk: [String: Double] = [:]
        for includeLogs in [false, true] {
            let directory = fresh("size")
            defer { remove(directory) }
            let spool = try Spool(directory: directory, options: SpoolOptions(fsync: .never), logger: logger)
            for tick in encoded {
                try spool.append(kind: .sample, payload: tick.sample)
                if includeLogs { try spool.append(kind: .logs, payload: tick.logs) }
            }
            onDisk[includeLogs ? "tick" : "samples"] = Double(spool.statistics().totalBytes)
            spool.close()
        }
        let protobuf = Double(encoded.reduce(0) { $0 + $1.sample.count })
        let exposition = Double(ticks.reduce(0) { $0 + Self.expositionBytes($1.sample) })
        let perValue = onDisk["samples"]! / values
        print(
            "   on disk: \(format(perValue, digits: 2)) bytes per sampled value (sample records: components + alerts)"
                + "  | baseline uncompressed protobuf: \(format(protobuf / values, digits: 2)) B"
                + ", Prometheus text exposition: \(format(exposition / values, digits: 2)) B"
                + "  | ratio \(format(perValue / (exposition / values), digits: 3))x of exposition"
        )
        print(
            "   on disk incl. the tick's \(RealisticTick.logLines) log lines: \(format(onDisk["tick"]! / values, digits: 2)) bytes per sampled value; target <= 10 for samples"
        )
    }

    /// Size of the same values as Prometheus text exposition (what a scrape would transfer).
    static func expositionBytes(_ batch: ResourceWatcher_V1_Batch) -> Int {
        var total = 0
        for component in batch.components {
            let labels =
                "{client_id=\"\(component.clientID)\",component=\"\(component.name)\",instance=\"ai-host-01\",job=\"resource-watcher\"}"
            let values: [(String, Double)] = [
                ("resource_watcher_component_cpu_usage", Double(component.cpuUsageCentipercent) / 100),
                ("resource_watcher_component_memory_usage", Double(component.memoryUsageKib) / 1024),
                ("resource_watcher_component_memory_usage_percent", Double(component.memoryUsageCentipercent) / 100),
                ("resource_watcher_component_disk_usage", Double(component.diskUsageKib) / 1024),
                ("resource_watcher_component_network_in", Double(component.networkInBytesPerSecond) / 1024),
                ("resource_watcher_component_network_out", Double(component.networkOutBytesPerSecond) / 1024),
            ]
            for (name, value) in values { total += "\(name)\(labels) \(value) \(batch.timestampUnixMs)\n".utf8.count }
        }
        return total
    }

    // MARK: - Open

    private func openTime() throws {
        var noise = SplitMix(seed: 7)
        let filler = (0..<(64 << 10)).map { _ in UInt8(truncatingIfNeeded: noise.next()) }
        var generator = RealisticTick(seed: 9)
        let tail = try (0..<600).map { _ in try generator.next().sample.serializedBytes() as [UInt8] }
        var medians: [Int: Double] = [:]
        for totalMiB in [10, 1024] {
            let directory = fresh("open-\(totalMiB)")
            defer { remove(directory) }
            let options = SpoolOptions(maxBytes: 2 << 30, fsync: .never)
            do {
                // Fill with incompressible records up to the size, then the same realistic
                // last segment for both, so only the spool's size differs.
                let spool = try Spool(directory: directory, options: options, logger: logger)
                while spool.statistics().totalBytes < (totalMiB << 20) - (2 << 20) {
                    try spool.append(kind: .logs, payload: filler)
                }
                // Then start a fresh segment, so both spools end in the same one-filler-plus-tail segment.
                let filledSegments = spool.statistics().segmentCount
                while spool.statistics().segmentCount == filledSegments {
                    try spool.append(kind: .logs, payload: filler)
                }
                for payload in tail { try spool.append(kind: .sample, payload: payload) }
                spool.close()
            }
            // Let writeback of the freshly written spool finish, so it does not compete with the opens.
            sync()
            var timings: [Double] = []
            for _ in 0..<7 {
                timings.append(
                    try measure {
                        let spool = try Spool(
                            directory: directory,
                            options: options,
                            consumers: ["bench"],
                            logger: logger
                        )
                        precondition(spool.latest(.sample) != nil)
                        spool.close()
                    }
                )
            }
            medians[totalMiB] = timings.sorted()[timings.count / 2]
            let bytes = ProcessHelpers.names(in: directory, endingIn: ".seg").map { directory + "/" + $0 }.reduce(0) {
                $0 + fileSize($1)
            }
            print(
                "   open \(format(Double(bytes) / 1_048_576)) MiB spool: median \(format(medians[totalMiB]! * 1000, digits: 2)) ms of 7"
            )
        }
        print("   open time 1 GiB / 10 MiB: \(format(medians[1024]! / medians[10]!, digits: 2))x (target <= 2x)")
    }

    // MARK: - Helpers

    private func fresh(_ name: String) -> String {
        let path = workDirectory + "/" + name
        remove(path)
        return path
    }

    private func remove(_ path: String) {
        var pid: pid_t = 0
        let words: [String] = ["/bin/rm", "-rf", path]
        let argv: [UnsafeMutablePointer<CChar>?] = words.map { strdup($0) } + [nil]
        defer { for argument in argv { free(argument) } }
        guard posix_spawn(&pid, "/bin/rm", nil, nil, argv, environ) == 0 else { return }
        var status: Int32 = 0
        waitpid(pid, &status, 0)
    }

    private func fileSize(_ path: String) -> Int {
        var info = stat()
        return stat(path, &info) == 0 ? Int(info.st_size) : 0
    }

    private func readWhole(_ path: String) throws -> Int {
        let descriptor = open(path, O_RDONLY)
        defer { close(descriptor) }
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var total = 0
        while true {
            let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count <= 0 { return total }
            total += count
        }
    }
}

func measure(_ body: () throws -> Void) throws -> Double {
    let start = ContinuousClock.now
    try body()
    let elapsed = ContinuousClock.now - start
    return elapsed.inSeconds
}

func format(_ value: Double, digits: Int = 0) -> String {
    var multiplier = 1.0
    for _ in 0..<digits { multiplier *= 10 }
    let rounded = (value * multiplier).rounded() / multiplier
    return digits == 0 ? String(Int(rounded)) : String(rounded)
}
