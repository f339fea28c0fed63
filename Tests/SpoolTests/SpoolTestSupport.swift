import Logging
import TestSupport

@testable import Spool

#if canImport(Glibc)
import Glibc
#endif

/// A logger that drops everything: tests assert on reports and statistics, not on log lines.
let quietLogger: Logger = {
    let logger = Logger.quiet("spool-test")
    return logger
}()

func openSpool(
    _ directory: String,
    segmentSizeBytes: Int = 8 << 20,
    maxBytes: Int = 1 << 30,
    fsync: FsyncPolicy = .never,
    consumers: [String] = ["test"]
) throws -> Spool {
    try Spool(
        directory: directory,
        options: SpoolOptions(maxBytes: maxBytes, segmentSizeBytes: segmentSizeBytes, fsync: fsync),
        consumers: consumers,
        logger: quietLogger
    )
}

/// Reads everything `consumer` has not acknowledged, in one go.
func readAll(_ spool: Spool, consumer: String = "test") throws -> SpoolReader.ReadResult {
    let reader = try spool.reader(for: consumer)
    var total = SpoolReader.ReadResult(throughSequence: 0)
    while true {
        let part = try reader.read(maxRecords: 1000)
        total.records += part.records
        total.lostRecords += part.lostRecords
        total.corruptRegions += part.corruptRegions
        total.throughSequence = part.throughSequence
        if part.records.isEmpty && part.corruptRegions.isEmpty { return total }
    }
}

func segmentFiles(_ directory: String) throws -> [String] {
    try FileIO.listDirectory(directory).filter { $0.hasSuffix(".seg") }.sorted().map { directory + "/" + $0 }
}

func readFile(_ path: String) throws -> [UInt8] { try FileIO.readWholeFile(path) }

func writeFile(_ path: String, _ bytes: [UInt8]) throws {
    let descriptor = try FileIO.open(path, flags: O_WRONLY | O_CREAT | O_TRUNC)
    defer { close(descriptor) }
    try bytes.withUnsafeBytes { buffer in
        Result { () throws(SpoolError) in try FileIO.write(descriptor, path: path, bytes: buffer, offset: 0) }
    }.get()
}

/// The frames of a segment file as the codec sees them.
func frames(of path: String) throws -> [FrameHeader] {
    try readFile(path).withUnsafeBytes { FrameCodec.scan($0).frames }
}

/// Copies a spool directory (segments and cursors) so each case of a test starts from the same bytes.
func copyDirectory(_ source: String, to destination: String) {
    run("/bin/cp", ["-a", source + "/.", destination])
}
