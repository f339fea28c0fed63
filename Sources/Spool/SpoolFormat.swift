// On-disk format of the spool.
//
// A spool is one directory:
//
//     <dir>/LOCK                              flock()ed by the one process that has the spool open
//     <dir>/00000000000000000001.seg          segment files, named by the sequence number of their
//     <dir>/00000000000000004097.seg          first frame (20 decimal digits, so names sort by number)
//     <dir>/cursors/<consumer>.cursor         one per consumer (sink): last acknowledged sequence
//
// A segment is a plain concatenation of frames, with no file header. Every frame is
// self-describing, so a reader can resynchronise after damage by searching for the next magic
// that starts a frame whose CRC checks out. All integers are little-endian.
//
//      0       4       8      12                      20  21  22      24
//      +-------+-------+-------+-----------------------+---+---+-------+=====================+
//      | magic |length | crc32c|       sequence        |kind|flg|  0   | payload (length B)  |
//      | RWF1  |  u32  |  u32  |          u64          |u8 |u8 | u16   | zstd frame of batch |
//      +-------+-------+-------+-----------------------+---+---+-------+=====================+
//
//   magic     the bytes "RWF1" (format version 1 of the frame)
//   length    payload bytes that follow the 24-byte header (at most 64 MiB)
//   crc32c    CRC-32C (Castagnoli) of bytes 4..<8 (length) followed by bytes 12..<(24 + length):
//             so the length, sequence, kind, flags and payload are all covered
//   sequence  strictly increasing across the whole spool; never reused, may skip
//   kind      what the payload holds (1 = sample batch, 2 = log batch); the spool does not look
//   flags     bit 0: payload is zstd-compressed (always set by this version)
//
// Invariants and who does what:
// - Only the appender writes, and only at the end of the last ("active") segment. A new segment
//   is started when the active one has reached `segmentSizeBytes`. Closed segments never change.
// - An append that returned is durable under the `batch` fsync policy (fdatasync of the segment,
//   plus fsync of the directory when a segment file is created).
// - A failed write is cut back with ftruncate, so a segment never holds a half frame written by
//   this process. A crash can still leave a torn frame at the end of the active segment: `open`
//   scans that one segment (never the others: open cost is proportional to the last segment),
//   truncates the torn tail and reports it.
// - Damage anywhere else is found by readers, which skip it (counting the bytes and regions) and
//   never return a frame whose CRC does not match.
// - Cursors are written to a temporary file, fsynced, renamed over the old one, and the
//   directory fsynced. Only then may the retention pass unlink segments that every cursor has
//   passed. Unlinking tolerates files already gone.
// - `max_bytes` / `max_age_hours` delete the oldest closed segment first, even if a cursor has
//   not passed it; the consumers behind it see a gap in sequence numbers, counted as lost.
// - The next sequence number after open is above every frame in the last segment and above
//   every cursor, so a cursor that is ahead of the data (lost tail) never hides new frames.

/// Constants of the frame layout drawn at the top of this file.
enum FrameLayout {
    /// "RWF1" read as a little-endian UInt32.
    static let magic: UInt32 = 0x3146_5752
    static let headerSize = 24
    static let maxPayloadBytes = 64 << 20
    static let flagZstd: UInt8 = 1
    static let segmentSuffix = ".seg"
    static let segmentNameDigits = 20

    static func segmentFileName(firstSequence: UInt64) -> String {
        let digits = String(firstSequence)
        return String(repeating: "0", count: max(0, segmentNameDigits - digits.count)) + digits + segmentSuffix
    }

    /// The first sequence number encoded in a segment file name, or nil if it is not one.
    static func firstSequence(ofSegmentNamed name: String) -> UInt64? {
        guard name.hasSuffix(segmentSuffix), name.utf8.count == segmentNameDigits + segmentSuffix.utf8.count else {
            return nil
        }
        // Bytes, not Characters: grapheme-aware checks cost microseconds per name, and open
        // parses every segment name.
        var value: UInt64 = 0
        for byte in name.utf8.prefix(segmentNameDigits) {
            guard byte >= 0x30 && byte <= 0x39 else { return nil }
            let (shifted, overflow) = value.multipliedReportingOverflow(by: 10)
            guard !overflow else { return nil }
            value = shifted &+ UInt64(byte - 0x30)
        }
        return value
    }
}
