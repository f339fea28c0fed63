/// Decodes the body of `GET /containers/{id}/logs?timestamps=1` into timestamped lines. Pure.
///
/// Without a TTY the body is the engine's multiplexed stream, one frame per log message:
///
///     0      1   2   3   4                     8
///     +------+---+---+---+---------------------+------------------------------------------------+
///     | type | 0 | 0 | 0 | payload size (BE32) | "2024-05-01T10:00:00.123456789Z text\n"        |
///     +------+---+---+---+---------------------+------------------------------------------------+
///     type 1 = stdout, 2 = stderr (others are skipped); a frame cut off at the end is ignored.
///
/// With a TTY the body is the raw stream: stdout and stderr merged (read as stdout), lines
/// ending in "\r\n". Every line starts with its timestamp and a space.
///
/// The engine splits a line longer than 16 KiB into partial messages, each with its own
/// timestamp, only the last ending in "\n": the parts are joined into one line stamped with the
/// last part's time, so a position at that time covers every part. A partial line still open at
/// the end of the body is returned as it is (its rest arrives as a line of its own).
struct DockerLogStream {
    /// Which of the container's outputs a line came from.
    enum Stream: String, Sendable {
        case stdout
        case stderr
    }

    /// One line of a container's output.
    struct Line: Equatable, Sendable {
        /// The engine's timestamp of the line (of its last part, for a joined partial line).
        var timestampUnixNanoseconds: Int64
        var stream: Stream
        /// Without the timestamp, the `\n` and a trailing `\r`; cut to `maxLineBytes`.
        var text: String
        /// Set when the line was cut: its length in bytes.
        var originalLength: Int?
    }

    /// Longer lines are cut to this many bytes (on a UTF-8 character boundary).
    var maxLineBytes: Int

    func lines(of body: [UInt8], multiplexed: Bool) -> [Line] {
        var decoder = Decoder(maxLineBytes: maxLineBytes)
        if multiplexed {
            var index = 0
            while body.count - index >= 8 {
                let size = body[(index + 4)..<(index + 8)].reduce(0) { $0 << 8 | Int($1) }
                let start = index + 8
                guard body.count - start >= size else { break }
                if let stream = Self.stream(ofFrameType: body[index]) {
                    decoder.message(body[start..<(start + size)], stream: stream)
                }
                index = start + size
            }
        } else {
            decoder.message(body[...], stream: .stdout)
        }
        decoder.finish()
        return decoder.lines
    }

    private static func stream(ofFrameType type: UInt8) -> Stream? {
        switch type {
        case 1: .stdout
        case 2: .stderr
        default: nil
        }
    }

    /// Joins message parts into lines, per stream.
    private struct Decoder {
        /// The line being assembled on one stream: at most `maxLineBytes + 4` of its bytes kept.
        struct Pending {
            var bytes: [UInt8] = []
            var length = 0
            var timestamp: Int64 = 0
        }

        let maxLineBytes: Int
        var lines: [Line] = []
        var pending: [Stream: Pending] = [:]
        /// The last timestamp seen: a line without one (not expected with `timestamps=1`) takes it.
        var lastTimestamp: Int64 = 0

        init(maxLineBytes: Int) { self.maxLineBytes = maxLineBytes }

        mutating func message(_ payload: ArraySlice<UInt8>, stream: Stream) {
            var start = payload.startIndex
            while start < payload.endIndex {
                let newline = payload[start...].firstIndex(of: 0x0A)
                let end = newline ?? payload.endIndex
                append(payload[start..<end], stream: stream)
                if newline != nil { emit(stream) }
                start = newline.map { $0 + 1 } ?? payload.endIndex
            }
        }

        /// One timestamped part of a line.
        private mutating func append(_ part: ArraySlice<UInt8>, stream: Stream) {
            var text = part
            if let (timestamp, length) = DockerLogStream.timestampPrefix(of: part) {
                lastTimestamp = timestamp
                text = part.dropFirst(length)
            }
            var line = pending[stream] ?? Pending()
            line.timestamp = lastTimestamp
            line.bytes += text.prefix(max(0, maxLineBytes + 4 - line.bytes.count))
            line.length += text.count
            pending[stream] = line
        }

        private mutating func emit(_ stream: Stream) {
            guard let line = pending.removeValue(forKey: stream) else { return }
            var bytes = line.bytes[...]
            var length = line.length
            if bytes.last == 0x0D {
                bytes = bytes.dropLast()
                length -= 1
            }
            let splitter = LogLineSplitter(maxLineBytes: maxLineBytes, maxLines: 1)
            let cut = splitter.split(bytes, discarding: false, flushingPartialLine: true).lines.first
            lines.append(
                Line(
                    timestampUnixNanoseconds: line.timestamp,
                    stream: stream,
                    text: cut?.text ?? "",
                    originalLength: length > maxLineBytes ? length : nil
                )
            )
        }

        mutating func finish() {
            for stream in [Stream.stdout, .stderr] where pending[stream] != nil { emit(stream) }
            lines.sort { $0.timestampUnixNanoseconds < $1.timestampUnixNanoseconds }
        }
    }

    /// The RFC 3339 timestamp and the space that start `bytes` ("2024-05-01T10:00:00.123456789Z "),
    /// as Unix nanoseconds and the prefix's length; nil when the bytes do not start with one.
    static func timestampPrefix(of bytes: ArraySlice<UInt8>) -> (unixNanoseconds: Int64, length: Int)? {
        guard let space = bytes.prefix(40).firstIndex(of: 0x20) else { return nil }
        guard let nanoseconds = parseTimestamp(Array(bytes[bytes.startIndex..<space])) else { return nil }
        return (nanoseconds, bytes.distance(from: bytes.startIndex, to: space) + 1)
    }

    /// "2024-05-01T10:00:00Z", with up to nine fraction digits and "Z" or a "±hh:mm" offset.
    static func parseTimestamp(_ bytes: [UInt8]) -> Int64? {
        func number(_ range: Range<Int>) -> Int64? {
            guard range.upperBound <= bytes.count else { return nil }
            var value: Int64 = 0
            for byte in bytes[range] {
                guard (0x30...0x39).contains(byte) else { return nil }
                value = value * 10 + Int64(byte - 0x30)
            }
            return value
        }
        guard bytes.count >= 20, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-"),
            bytes[10] == UInt8(ascii: "T"), bytes[13] == UInt8(ascii: ":"), bytes[16] == UInt8(ascii: ":"),
            let year = number(0..<4), let month = number(5..<7), let day = number(8..<10),
            let hour = number(11..<13), let minute = number(14..<16), let second = number(17..<19),
            (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61
        else { return nil }
        var index = 19
        var fraction: Int64 = 0
        if bytes[index] == UInt8(ascii: ".") {
            index += 1
            var scale: Int64 = 100_000_000
            let start = index
            while index < bytes.count, (0x30...0x39).contains(bytes[index]) {
                fraction += Int64(bytes[index] - 0x30) * scale
                scale /= 10
                index += 1
            }
            guard index > start, index - start <= 9 else { return nil }
        }
        var offsetSeconds: Int64 = 0
        guard index < bytes.count else { return nil }
        switch bytes[index] {
        case UInt8(ascii: "Z"):
            guard index + 1 == bytes.count else { return nil }
        case UInt8(ascii: "+"), UInt8(ascii: "-"):
            guard index + 6 == bytes.count, bytes[index + 3] == UInt8(ascii: ":"),
                let hours = number((index + 1)..<(index + 3)), let minutes = number((index + 4)..<(index + 6))
            else { return nil }
            offsetSeconds = (hours * 3600 + minutes * 60) * (bytes[index] == UInt8(ascii: "+") ? 1 : -1)
        default:
            return nil
        }
        let seconds = daysSinceEpoch(year: year, month: month, day: day) * 86_400 + hour * 3600 + minute * 60 + second
        return (seconds - offsetSeconds) * 1_000_000_000 + fraction
    }

    /// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
    private static func daysSinceEpoch(year: Int64, month: Int64, day: Int64) -> Int64 {
        let shiftedYear = month <= 2 ? year - 1 : year
        let era = (shiftedYear >= 0 ? shiftedYear : shiftedYear - 399) / 400
        let yearOfEra = shiftedYear - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }
}
