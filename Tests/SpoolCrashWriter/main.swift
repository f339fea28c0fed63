// Appends records to a spool as fast as it can and prints "<sequence> <index>" after each append
// returned, so the crash test can kill -9 it at any moment and check every printed record.
// Usage: SpoolCrashWriter <dir> <batch|interval|never> <first index>
import Logging
import Spool
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// Writes one whole line straight to the descriptor, unbuffered, so nothing is lost to kill -9.
func writeLine(_ line: String, to descriptor: Int32) {
    let bytes = Array((line + "\n").utf8)
    _ = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
}

let arguments = CommandLine.arguments
guard arguments.count == 4, let policy = FsyncPolicy(rawValue: arguments[2]), var index = UInt64(arguments[3]) else {
    writeLine("usage: SpoolCrashWriter <dir> <batch|interval|never> <first index>", to: 2)
    exit(2)
}
let logger = Logger.quiet("crash-writer")
let spool = try Spool(
    directory: arguments[1],
    options: SpoolOptions(segmentSizeBytes: 64 << 10, fsync: policy),
    logger: logger
)
while true {
    let sequence = try spool.append(kind: .sample, payload: CrashPayload.make(index: index))
    writeLine("\(sequence) \(index)", to: 1)
    index += 1
}
