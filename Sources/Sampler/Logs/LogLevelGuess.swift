import WatcherProto

/// The level of a log line from its text, for files that carry no structure we know. Pure.
///
/// A JSON line's `"level"` (or `"severity"`, `"lvl"`) value wins, names or pino/bunyan numbers;
/// otherwise the first level word (ERROR, ERR, WARN, WARNING, INFO, DEBUG, TRACE, CRITICAL,
/// FATAL, …; any case) among the line's first `prefixBytes` bytes, where timestamps, brackets and
/// `level=` put it. A line with neither is `info`.
enum LogLevelGuess {
    /// Bytes of the line searched for a level word: room for a long timestamp and a thread name.
    static let prefixBytes = 100

    static func level(of line: String) -> ResourceWatcher_V1_LogLevel {
        let bytes = Array(line.utf8.prefix(4096))
        if bytes.first(where: { $0 != 0x20 && $0 != 0x09 }) == UInt8(ascii: "{"), let level = jsonLevel(bytes) {
            return level
        }
        var word: [UInt8] = []
        for byte in bytes.prefix(prefixBytes) + [0x20] {
            if let letter = uppercaseLetter(byte) {
                word.append(letter)
                continue
            }
            if let level = levels[word] { return level }
            word.removeAll(keepingCapacity: true)
        }
        return .info
    }

    /// Level words, uppercased.
    private static let levels: [[UInt8]: ResourceWatcher_V1_LogLevel] = {
        let names: [(String, ResourceWatcher_V1_LogLevel)] = [
            ("TRACE", .trace), ("TRC", .trace),
            ("DEBUG", .debug), ("DBG", .debug),
            ("INFO", .info), ("INF", .info),
            ("NOTICE", .notice),
            ("WARN", .warning), ("WARNING", .warning), ("WRN", .warning),
            ("ERROR", .error), ("ERR", .error), ("SEVERE", .error),
            ("CRITICAL", .critical), ("CRIT", .critical), ("FATAL", .critical), ("PANIC", .critical),
            ("EMERG", .critical), ("EMERGENCY", .critical),
        ]
        return Dictionary(uniqueKeysWithValues: names.map { (Array($0.0.utf8), $0.1) })
    }()

    /// pino and bunyan write levels as numbers.
    private static func numericLevel(_ value: Int) -> ResourceWatcher_V1_LogLevel? {
        switch value {
        case 10: .trace
        case 20: .debug
        case 30: .info
        case 40: .warning
        case 50: .error
        case 60: .critical
        default: nil
        }
    }

    /// The value of the first `"level"`, `"severity"` or `"lvl"` key: `"key": "warn"` or `"key": 40`.
    private static func jsonLevel(_ bytes: [UInt8]) -> ResourceWatcher_V1_LogLevel? {
        for key in ["\"level\"", "\"severity\"", "\"lvl\""].map({ Array($0.utf8) }) {
            guard let keyStart = firstRange(of: key, in: bytes) else { continue }
            var index = skipSpaces(bytes, from: keyStart + key.count)
            guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { continue }
            index = skipSpaces(bytes, from: index + 1)
            guard index < bytes.count else { continue }
            if bytes[index] == UInt8(ascii: "\"") {
                let quoted = bytes[(index + 1)...].prefix(while: { $0 != UInt8(ascii: "\"") })
                if let level = levels[quoted.compactMap(uppercaseLetter)] { return level }
            } else {
                let digits = bytes[index...].prefix(while: { (0x30...0x39).contains($0) })
                if let value = Int(String(decoding: digits, as: UTF8.self)), let level = numericLevel(value) {
                    return level
                }
            }
        }
        return nil
    }

    private static func firstRange(of needle: [UInt8], in bytes: [UInt8]) -> Int? {
        guard bytes.count >= needle.count else { return nil }
        return (0...(bytes.count - needle.count)).first { bytes[$0..<($0 + needle.count)].elementsEqual(needle) }
    }

    private static func skipSpaces(_ bytes: [UInt8], from index: Int) -> Int {
        var index = index
        while index < bytes.count, bytes[index] == 0x20 || bytes[index] == 0x09 { index += 1 }
        return index
    }

    /// The ASCII letter uppercased, or nil for anything else (which separates words).
    private static func uppercaseLetter(_ byte: UInt8) -> UInt8? {
        switch byte {
        case 0x41...0x5A: byte
        case 0x61...0x7A: byte - 0x20
        default: nil
        }
    }
}
