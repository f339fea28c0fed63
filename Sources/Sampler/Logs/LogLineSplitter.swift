/// One line of a log file, ready to become a log record.
struct LogLine: Equatable, Sendable {
    /// The line without its `\n` and trailing `\r`; invalid UTF-8 repaired with U+FFFD.
    var text: String
    /// Set when the line was cut to the maximum length: its length in bytes (or, for a line
    /// flushed before its newline arrived, the bytes seen when it was cut).
    var originalLength: Int?
}

/// Splits bytes read from a log file into lines. Pure: the tailer decides what the bytes are
/// and moves its offset by `consumed`.
struct LogLineSplitter {
    /// Longer lines are cut to this many bytes (on a UTF-8 character boundary).
    var maxLineBytes: Int
    /// At most this many lines are returned; the rest stays unconsumed.
    var maxLines: Int

    struct Result: Equatable {
        var lines: [LogLine] = []
        /// Bytes from the start that the lines (and any dropped remainder) cover; a partial
        /// last line is not consumed unless flushed.
        var consumed = 0
        /// The bytes after `consumed` continue an over-long line that was already cut.
        var discarding = false
    }

    /// - Parameters:
    ///   - discarding: the bytes start inside an over-long line already shipped cut; they are
    ///     dropped through its newline.
    ///   - flushingPartialLine: a last line without `\n` is returned anyway (the bytes end a
    ///     rotated file that nothing will append to).
    func split(_ bytes: ArraySlice<UInt8>, discarding: Bool, flushingPartialLine: Bool) -> Result {
        var result = Result(discarding: discarding)
        var lineStart = bytes.startIndex
        while result.lines.count < maxLines, lineStart < bytes.endIndex {
            guard let newline = bytes[lineStart...].firstIndex(of: 0x0A) else {
                // A partial line: held (not consumed) until its newline arrives, unless it is
                // already too long to keep waiting for, or nothing will ever complete it.
                let partialLength = bytes.distance(from: lineStart, to: bytes.endIndex)
                if result.discarding {
                    result.consumed = bytes.count
                } else if partialLength > maxLineBytes || flushingPartialLine {
                    result.lines.append(line(bytes[lineStart..<bytes.endIndex]))
                    result.consumed = bytes.count
                    result.discarding = partialLength > maxLineBytes && !flushingPartialLine
                }
                return result
            }
            if result.discarding {
                result.discarding = false
            } else {
                result.lines.append(line(bytes[lineStart..<newline]))
            }
            lineStart = bytes.index(after: newline)
            result.consumed = bytes.distance(from: bytes.startIndex, to: lineStart)
        }
        return result
    }

    /// The line's text: without a trailing `\r`, and cut to `maxLineBytes` on a character boundary.
    private func line(_ raw: ArraySlice<UInt8>) -> LogLine {
        var raw = raw
        if raw.last == 0x0D { raw = raw.dropLast() }
        guard raw.count > maxLineBytes else { return LogLine(text: String(decoding: raw, as: UTF8.self)) }
        // Back off from a continuation byte (10xxxxxx) so no character is split; at most 3 bytes,
        // since a longer run of continuation bytes is invalid UTF-8 anyway.
        var cut = raw.startIndex + maxLineBytes
        var backedOff = 0
        while backedOff < 3, cut > raw.startIndex, raw[cut] & 0xC0 == 0x80 {
            cut -= 1
            backedOff += 1
        }
        return LogLine(text: String(decoding: raw[..<cut], as: UTF8.self), originalLength: raw.count)
    }
}
