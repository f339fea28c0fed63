import Logging
import Spool
import SwiftProtobuf
import TestSupport
import Testing
import WatcherProto

#if canImport(Glibc)
import Glibc
#endif

/// The `resource-watcher` executable, run as a user would.
@Suite("Agent commands", .serialized)
struct AgentCommandTests {
    private let agent = BuiltProducts.path(of: "resource-watcher")

    @Test("run writes a batch every poll interval and stops cleanly on SIGTERM")
    func runWritesBatchesAndStopsOnSigterm() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let spoolDirectory = directory.path + "/spool"
        writeText(
            """
            {"client_id": "tenant-a", "poll_interval_seconds": 0.2, "log_level": "info",
             "port": \(Int.random(in: 20_000...40_000)), "metrics_port": \(Int.random(in: 40_001...60_000)),
             "spool": {"dir": "\(spoolDirectory)"},
             "components": [{"name": "self", "process_name": "resource-watcher"},
                            {"name": "absent", "process_name": "no-such-process-xyz"}]}
            """,
            to: directory.path + "/config.json"
        )
        let child = try ChildProcess(
            agent,
            ["run", "--config", directory.path + "/config.json"],
            mergeStandardError: true
        )
        // Poll the spool read-only until a few ticks have landed: each tick writes a sample
        // record and at most one log record, so 8 records hold at least 4 samples.
        let deadline = ContinuousClock.now + .seconds(30)
        var frames = 0
        while frames < 8 && ContinuousClock.now < deadline {
            frames = (try? SpoolVerifier.verify(directory: spoolDirectory))?.frameCount ?? 0
            var pause = timespec(tv_sec: 0, tv_nsec: 20_000_000)
            nanosleep(&pause, nil)
        }
        #expect(frames >= 8)
        child.kill(SIGTERM)
        let (output, status) = try child.finish()
        #expect(status == 0, "exit status \(status), output:\n\(output)")

        let logger = Logger.quiet("test")
        let spool = try Spool(directory: spoolDirectory, consumers: ["check"], logger: logger)
        #expect(spool.recovery.isClean)
        let everything = try spool.reader(for: "check").read(maxRecords: 1000).records
        let records = everything.filter { $0.kind == .sample }
        #expect(records.count >= 4)
        // The agent's own log lines are in the spool too, as log batches (DESIGN §5).
        let logLines = try everything.filter { $0.kind == .logs }.flatMap {
            try ResourceWatcher_V1_Batch(serializedBytes: $0.payload).logs
        }
        let started = try #require(
            logLines.first { $0.message == "resource-watcher started" },
            "log records: \(logLines.map(\.message))"
        )
        #expect(started.clientID == "tenant-a")
        #expect(started.source == "agent")
        #expect(started.level == .info)
        #expect(started.metadata["version"] != nil)
        #expect(
            logLines.contains { $0.message == "resource-watcher stopping" },
            "lines after the last tick are flushed at shutdown"
        )
        var previousTimestamp: Int64 = 0
        for record in records {
            let batch = try ResourceWatcher_V1_Batch(serializedBytes: record.payload)
            #expect(batch.schemaVersion == 1)
            #expect(batch.timestampUnixMs > previousTimestamp)
            previousTimestamp = batch.timestampUnixMs
            let byName = Dictionary(uniqueKeysWithValues: batch.components.map { ($0.name, $0) })
            #expect(byName["self"]?.status == .healthy)
            #expect(byName["self"]?.clientID == "tenant-a")
            #expect((byName["self"]?.memoryUsageKib ?? 0) > 1024)
            #expect(byName["absent"]?.status == .down)
        }
        #expect(spool.latest(.sample)?.sequence == records.last?.sequence)
    }

    @Test("a config with a typo'd key, a wrong type and an out-of-range port lists all three and exits 2")
    func invalidConfigListsEveryProblem() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        writeText(
            """
            {"poll_intervall_seconds": 15, "log_level": 3, "port": 70000,
             "components": [{"name": "ollama", "process_name": "ollama"}]}
            """,
            to: directory.path + "/config.json"
        )
        for command in [["check-config"], ["run"]] {
            let child = try ChildProcess(
                agent,
                command + ["--config", directory.path + "/config.json"],
                mergeStandardError: true
            )
            let (output, status) = try child.finish()
            #expect(status == 2, "\(command): exit \(status)")
            #expect(output.contains("$.poll_intervall_seconds"), "\(output)")
            #expect(output.contains("poll_interval_seconds"), "the typo should get a suggestion: \(output)")
            #expect(output.contains("$.log_level"), "\(output)")
            #expect(output.contains("$.port"), "\(output)")
        }
    }

    @Test("check-config accepts the default and the example configs")
    func shippedConfigsAreValid() throws {
        let repository = String(#filePath.split(separator: "/").dropLast(3).joined(separator: "/"))
        for name in ["resource-watcher.json", "example.json"] {
            let child = try ChildProcess(
                agent,
                ["check-config", "--config", "/\(repository)/config/\(name)"],
                mergeStandardError: true
            )
            let (output, status) = try child.finish()
            #expect(status == 0, "\(name): \(output)")
            #expect(output.contains("configuration is valid"))
        }
    }

    @Test("an environment override that is not a number is reported by its variable name")
    func badEnvironmentOverride() throws {
        let child = try ChildProcess(
            "/usr/bin/env",
            ["RESOURCE_WATCHER_PORT=abc", agent, "check-config"],
            mergeStandardError: true
        )
        let (output, status) = try child.finish()
        #expect(status == 2)
        #expect(output.contains("RESOURCE_WATCHER_PORT"), "\(output)")
    }

    @Test("spool verify reports a damaged spool and exits 1")
    func spoolVerify() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let logger = Logger.quiet("test")
        do {
            let spool = try Spool(
                directory: directory.path,
                options: SpoolOptions(segmentSizeBytes: 1024),
                logger: logger
            )
            for index in 0..<20 { try spool.append(kind: .sample, payload: CrashPayload.make(index: UInt64(index))) }
            spool.close()
        }
        let healthy = try ChildProcess(
            agent,
            ["spool", "verify", "--spool-dir", directory.path],
            mergeStandardError: true
        ).finish()
        #expect(healthy.status == 0, "\(healthy.output)")
        #expect(healthy.output.contains("20 records"))
        let segment = directory.path + "/" + "00000000000000000001.seg"
        let descriptor = open(segment, O_RDWR)
        var byte: UInt8 = 0
        pread(descriptor, &byte, 1, 30)
        byte ^= 0xFF
        pwrite(descriptor, &byte, 1, 30)
        close(descriptor)
        let damaged = try ChildProcess(
            agent,
            ["spool", "verify", "--spool-dir", directory.path],
            mergeStandardError: true
        ).finish()
        #expect(damaged.status == 1)
        #expect(damaged.output.contains("TORN TAIL") || damaged.output.contains("CORRUPT"), "\(damaged.output)")
        #expect(damaged.output.contains("spool is damaged"), "\(damaged.output)")
    }

    @Test("version prints the version")
    func version() throws {
        let result = try ChildProcess(agent, ["version"]).finish()
        #expect(result.status == 0)
        #expect(result.output.hasPrefix("resource-watcher "))
    }
}
