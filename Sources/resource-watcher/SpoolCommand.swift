import ArgumentParser
import Spool
import WatcherModel

struct SpoolCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "spool",
        abstract: "Inspect the on-disk spool.",
        subcommands: [VerifyCommand.self]
    )

    struct VerifyCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "verify",
            abstract: "Read every segment and cursor, report damage; exit 1 if any is found. Changes nothing."
        )

        @OptionGroup var options: ConfigOptions

        func run() throws {
            let directory = try options.load().spool.directory
            let report: SpoolVerifier.Report
            do { report = try SpoolVerifier.verify(directory: directory) } catch {
                printError("resource-watcher: \(error)")
                throw ExitCode(1)
            }
            print("spool \(directory): \(report.segments.count) segments, \(report.frameCount) records")
            for segment in report.segments {
                let range = segment.firstSequence.map { "\($0)...\(segment.lastSequence!)" } ?? "empty"
                var line = "  \(segment.name)  \(segment.sizeBytes) bytes  \(segment.frameCount) records  \(range)"
                for region in segment.corruptRegions {
                    line += "\n    CORRUPT: \(region.length) bytes at offset \(region.offset)"
                }
                if segment.tailBytes > 0 {
                    line += "\n    TORN TAIL: \(segment.tailBytes) bytes after the last valid record"
                }
                if segment.outOfOrderFrames > 0 { line += "\n    OUT OF ORDER: \(segment.outOfOrderFrames) records" }
                if segment.undecodableFrames > 0 { line += "\n    UNDECODABLE: \(segment.undecodableFrames) records" }
                print(line)
            }
            if report.missingSequences > 0 {
                print("  \(report.missingSequences) sequence numbers missing between records")
            }
            for cursor in report.cursors {
                print(
                    "  cursor \(cursor.name): " + (cursor.sequence.map { "acknowledged through \($0)" } ?? "UNREADABLE")
                )
            }
            guard report.isHealthy else {
                print("spool is damaged: readers will skip the damaged records (see above)")
                throw ExitCode(1)
            }
            print("spool is healthy")
        }
    }
}
