import ArgumentParser
import Spool
import SwiftProtobuf
import WatcherModel
import WatcherProto

#if canImport(Glibc)
import Glibc
#endif

/// `resource-watcher logs`: the log records in the spool (the agent's own lines, components' log
/// files, containers' logs), read without opening the spool, so it works beside a running agent.
struct LogsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logs",
        abstract: "Print the log records kept in the spool; --follow keeps printing new ones."
    )

    @OptionGroup var options: ConfigOptions

    @Flag(name: .long, help: "Keep printing records as the agent appends them (Ctrl-C stops).")
    var follow = false

    @Option(name: .long, help: "Only this component's records (\"resource-watcher\" for the agent's own).")
    var component: String?

    @Option(
        name: .long,
        help: "Only records at this level or above: trace, debug, info, notice, warning, error, critical."
    )
    var level: String?

    @Option(
        name: .long,
        help: "Only records since this time: RFC 3339 (2025-04-05T19:40:00Z) or an age (30s, 10m, 2h, 1d)."
    )
    var since: String?

    @Option(name: .long, help: "Without --since, how many of the newest records to print.")
    var lines = 100

    func validate() throws {
        if let level, Self.levelRank(level) == nil {
            throw ValidationError("--level \(level): expected one of \(Config.logLevels.joined(separator: ", "))")
        }
        if let since, Self.parseSince(since, now: 0) == nil {
            throw ValidationError("--since \(since): expected an RFC 3339 time or an age such as 10m")
        }
        if lines < 1 { throw ValidationError("--lines must be at least 1") }
    }

    func run() throws {
        let directory = try options.load().spool.directory
        let minimumRank = level.flatMap(Self.levelRank) ?? 0
        let sinceNanoseconds = since.flatMap { Self.parseSince($0, now: RFC3339.nowUnixMilliseconds()) }.map {
            $0 * 1_000_000
        }
        func wanted(_ record: ResourceWatcher_V1_LogRecord) -> Bool {
            let name = record.component.isEmpty ? "resource-watcher" : record.component
            return (component == nil || component == name) && Self.rank(record.level) >= minimumRank
                && (sinceNanoseconds == nil || record.timestampUnixNs >= sinceNanoseconds!)
        }
        func lines(of records: [SpoolRecord]) -> [ResourceWatcher_V1_LogRecord] {
            records.flatMap { (try? ResourceWatcher_V1_Batch(serializedBytes: $0.payload))?.logs ?? [] }.filter(wanted)
        }

        var shown: [ResourceWatcher_V1_LogRecord] = []
        var lastSequence: UInt64 = 0
        do {
            // Newest segments first, until the window (--since) or the line count is covered.
            var segments: [[SpoolRecord]] = []
            try SpoolScanner.scanBackwards(directory: directory, kinds: [.logs]) { records in
                segments.append(records)
                lastSequence = max(lastSequence, records.last?.sequence ?? 0)
                let oldest = records.first.flatMap { try? ResourceWatcher_V1_Batch(serializedBytes: $0.payload) }
                if let sinceNanoseconds { return (oldest?.logs.first?.timestampUnixNs ?? .max) > sinceNanoseconds }
                return segments.reduce(0) { $0 + lines(of: $1).count } < self.lines
            }
            shown = segments.reversed().flatMap(lines)
        } catch {
            printError("resource-watcher: cannot read the spool at \(directory): \(error)")
            throw ExitCode(1)
        }
        if sinceNanoseconds == nil { shown = Array(shown.suffix(self.lines)) }
        for record in shown { print(Self.format(record)) }
        guard follow else { return }
        fflush(nil)
        // A plain blocking loop: this command has no other work, and Ctrl-C ends the process.
        while true {
            usleep(500_000)
            let records = (try? SpoolScanner.records(directory: directory, kinds: [.logs], after: lastSequence)) ?? []
            lastSequence = max(lastSequence, records.last?.sequence ?? lastSequence)
            for record in lines(of: records) { print(Self.format(record)) }
            fflush(nil)
        }
    }

    /// "2026-11-29T10:00:00.123Z warning ollama /var/log/ollama.log: message key=value"
    static func format(_ record: ResourceWatcher_V1_LogRecord) -> String {
        let time = RFC3339.format(unixMilliseconds: record.timestampUnixNs / 1_000_000, withMilliseconds: true)
        let component = record.component.isEmpty ? "resource-watcher" : record.component
        var line = "\(time) \(record.level.apiName) \(record.clientID)/\(component) \(record.source): \(record.message)"
        for key in record.metadata.keys.sorted() { line += " \(key)=\(record.metadata[key]!)" }
        return line
    }

    static func levelRank(_ name: String) -> Int? { Config.logLevels.firstIndex(of: name.lowercased()) }

    static func rank(_ level: ResourceWatcher_V1_LogLevel) -> Int { levelRank(level.apiName) ?? 2 }

    /// `since` as Unix milliseconds: an RFC 3339 time, or an age before `now` ("90s", "10m", "2h", "1d").
    static func parseSince(_ text: String, now: Int64) -> Int64? {
        if let time = RFC3339.parse(text) { return time }
        guard let unit = text.last, let amount = Int64(text.dropLast()), amount >= 0 else { return nil }
        let scale: Int64
        switch unit {
        case "s": scale = 1000
        case "m": scale = 60_000
        case "h": scale = 3_600_000
        case "d": scale = 86_400_000
        default: return nil
        }
        return now - amount * scale
    }
}
