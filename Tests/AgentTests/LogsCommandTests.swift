import Logging
import Spool
import SwiftProtobuf
import TestSupport
import Testing
import WatcherProto

#if canImport(Glibc)
import Glibc
#endif

/// `resource-watcher logs` reads log records from the spool beside a running writer (which holds
/// the spool's lock), with the filters of DESIGN §9.
@Suite("logs command", .serialized)
struct LogsCommandTests {
    private let agent = BuiltProducts.path(of: "resource-watcher")

    private func record(
        _ message: String,
        component: String,
        level: ResourceWatcher_V1_LogLevel,
        at nanoseconds: Int64
    )
        -> ResourceWatcher_V1_LogRecord
    {
        var record = ResourceWatcher_V1_LogRecord()
        record.timestampUnixNs = nanoseconds
        record.clientID = "acme"
        record.component = component
        record.source = component.isEmpty ? "agent" : "/var/log/\(component).log"
        record.level = level
        record.message = message
        return record
    }

    private func append(_ records: [ResourceWatcher_V1_LogRecord], to spool: Spool) throws {
        var batch = ResourceWatcher_V1_Batch()
        batch.schemaVersion = 1
        batch.logs = records
        try spool.append(kind: .logs, payload: try batch.serializedBytes())
    }

    private func runLogs(_ arguments: [String]) throws -> (lines: [String], status: Int32) {
        let child = try ChildProcess(agent, ["logs"] + arguments, mergeStandardError: true)
        let (output, status) = try child.finish()
        return (output.split(separator: "\n").map(String.init), status)
    }

    @Test("logs filters by component, level, age and count, and --follow prints new records as they land")
    func filtersAndFollows() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let spoolDirectory = directory.path + "/spool"
        writeText(#"{"spool": {"dir": "\#(spoolDirectory)"}}"#, to: directory.path + "/config.json")
        let logger = Logger.quiet("test")
        let spool = try Spool(directory: spoolDirectory, options: SpoolOptions(segmentSizeBytes: 4096), logger: logger)
        defer { spool.close() }
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let nowNanoseconds = Int64(now.tv_sec) * 1_000_000_000
        let hour: Int64 = 3_600_000_000_000
        try append(
            [record("old ollama line", component: "ollama", level: .info, at: nowNanoseconds - 3 * hour)],
            to: spool
        )
        for index in 0..<40 {  // enough to fill several 4 KiB segments
            try append(
                [
                    record(
                        "ollama line \(index)",
                        component: "ollama",
                        level: index % 10 == 0 ? .error : .info,
                        at: nowNanoseconds - hour + Int64(index)
                    ),
                    record(
                        "agent line \(index)",
                        component: "",
                        level: .info,
                        at: nowNanoseconds - hour + Int64(index)
                    ),
                ],
                to: spool
            )
        }
        let config = ["--config", directory.path + "/config.json"]

        let last = try runLogs(config + ["--lines", "3"])
        #expect(last.status == 0)
        #expect(
            last.lines.map { $0.split(separator: ": ", maxSplits: 1).last.map(String.init) ?? "" }
                == ["agent line 38", "ollama line 39", "agent line 39"],
            "\(last.lines)"
        )

        let errors = try runLogs(config + ["--component", "ollama", "--level", "error", "--since", "2h"])
        #expect(errors.lines.count == 4, "\(errors.lines)")
        #expect(errors.lines.allSatisfy { $0.contains(" error acme/ollama /var/log/ollama.log: ollama line ") })

        let everything = try runLogs(config + ["--since", "1d", "--component", "ollama"])
        #expect(everything.lines.first?.hasSuffix("old ollama line") == true)
        #expect(everything.lines.count == 41)

        let bad = try runLogs(config + ["--since", "yesterday"])
        #expect(bad.status != 0 && bad.lines.contains { $0.contains("--since yesterday") })

        let follower = try ChildProcess(agent, ["logs", "--follow", "--lines", "1"] + config, mergeStandardError: true)
        defer {
            follower.kill()
            _ = follower.wait()
        }
        let first = try follower.readLines(atLeast: 1, deadline: .now + .seconds(20))
        #expect(first.first?.hasSuffix("agent line 39") == true, "\(first)")
        try append([record("fresh line", component: "", level: .warning, at: nowNanoseconds)], to: spool)
        let next = try follower.readLines(atLeast: 1, deadline: .now + .seconds(20))
        #expect(next.first?.hasSuffix("fresh line") == true, "\(next)")
    }
}
