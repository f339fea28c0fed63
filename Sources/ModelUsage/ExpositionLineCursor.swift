/// Why one line was skipped; becomes an `ExpositionProblem` with the line's number.
struct ExpositionLineError: Error {
    /// What is wrong with the line.
    let message: String

    init(_ message: String) {
        self.message = message
    }
}

/// A read position inside one line of the exposition bytes.
///
/// Every read checks `position < end` first, so no input, however short or malformed, can index out of range.
/// Names are ASCII by grammar; label values and help text are the only places non-ASCII bytes may appear.
struct ExpositionLineCursor {
    /// The whole exposition; the cursor only reads `position..<end`.
    let bytes: [UInt8]
    /// The next byte to read.
    var position: Int
    /// One past the line's last byte (trailing blanks and `\r` already trimmed).
    let end: Int

    /// Whether the whole line has been read.
    var isAtEnd: Bool { position >= end }

    /// The byte at the read position, nil at the end of the line.
    var current: UInt8? { position < end ? bytes[position] : nil }

    /// Skips spaces and tabs; returns whether there were any.
    @discardableResult
    mutating func skipBlanks() -> Bool {
        let start = position
        while position < end, Self.isBlank(bytes[position]) {
            position += 1
        }
        return position > start
    }

    /// Reads `[a-zA-Z_:][a-zA-Z0-9_:]*`; nil (position unchanged) when the next byte cannot start one.
    mutating func readMetricName() -> Range<Int>? {
        guard let first = current, Self.isLetter(first) || first == UInt8(ascii: "_") || first == UInt8(ascii: ":")
        else { return nil }
        let start = position
        position += 1
        while let byte = current, Self.isNameByte(byte) || byte == UInt8(ascii: ":") {
            position += 1
        }
        return start..<position
    }

    /// Reads `[a-zA-Z_][a-zA-Z0-9_]*`; nil (position unchanged) when the next byte cannot start one.
    mutating func readLabelName() -> Range<Int>? {
        guard let first = current, Self.isLetter(first) || first == UInt8(ascii: "_") else { return nil }
        let start = position
        position += 1
        while let byte = current, Self.isNameByte(byte) {
            position += 1
        }
        return start..<position
    }

    /// Reads up to the next blank or the end of the line (possibly nothing).
    mutating func readToken() -> Range<Int> {
        let start = position
        while let byte = current, !Self.isBlank(byte) {
            position += 1
        }
        return start..<position
    }

    /// The rest of the line, consuming it.
    mutating func readRest() -> Range<Int> {
        let start = min(position, end)
        position = end
        return start..<end
    }

    /// Reads `{name="value",...}` starting at `{`; a trailing comma and blanks between tokens are accepted.
    mutating func readLabelSet() throws(ExpositionLineError) -> [ExpositionLabel] {
        guard current == UInt8(ascii: "{") else { throw ExpositionLineError("expected \"{\"") }
        position += 1
        var labels: [ExpositionLabel] = []
        while true {
            skipBlanks()
            guard let byte = current else { throw ExpositionLineError("unterminated label set") }
            if byte == UInt8(ascii: "}") {
                position += 1
                return labels
            }
            guard let nameRange = readLabelName() else {
                throw ExpositionLineError("invalid label name \(quotedSnippet(from: position))")
            }
            let name = asciiString(nameRange)
            skipBlanks()
            guard current == UInt8(ascii: "=") else {
                throw ExpositionLineError("expected \"=\" after label name \"\(name)\"")
            }
            position += 1
            skipBlanks()
            guard current == UInt8(ascii: "\"") else {
                throw ExpositionLineError("expected quoted value for label \"\(name)\"")
            }
            let value = try readQuotedLabelValue()
            if labels.contains(where: { $0.name == name }) {
                throw ExpositionLineError("duplicate label name \"\(name)\"")
            }
            labels.append(ExpositionLabel(name: name, value: value))
            skipBlanks()
            switch current {
            case UInt8(ascii: ","):
                position += 1
            case UInt8(ascii: "}"):
                position += 1
                return labels
            case nil:
                throw ExpositionLineError("unterminated label set")
            default:
                throw ExpositionLineError("expected \",\" or \"}\" after value of label \"\(name)\"")
            }
        }
    }

    /// Reads `"..."` starting at the opening quote, resolving `\\`, `\"` and `\n`; the result is valid UTF-8.
    mutating func readQuotedLabelValue() throws(ExpositionLineError) -> String {
        position += 1  // the opening quote
        let start = position
        var hasEscapes = false
        var isASCII = true
        while position < end {
            let byte = bytes[position]
            if byte == UInt8(ascii: "\"") { break }
            if byte == UInt8(ascii: "\\") {
                hasEscapes = true
                position += 2
                continue
            }
            if byte >= 0x80 { isASCII = false }
            position += 1
        }
        guard position < end else { throw ExpositionLineError("unterminated label value") }
        let contentEnd = position
        position += 1  // the closing quote
        if !hasEscapes {
            if isASCII { return asciiString(start..<contentEnd) }
            guard let value = String(validating: bytes[start..<contentEnd], as: UTF8.self) else {
                throw ExpositionLineError("invalid UTF-8 in label value")
            }
            return value
        }
        var unescaped: [UInt8] = []
        unescaped.reserveCapacity(contentEnd - start)
        var index = start
        while index < contentEnd {
            let byte = bytes[index]
            guard byte == UInt8(ascii: "\\") else {
                unescaped.append(byte)
                index += 1
                continue
            }
            // The scan above stepped over escapes in pairs, so an escape never ends at `contentEnd`.
            let escaped = index + 1 < contentEnd ? bytes[index + 1] : 0
            switch escaped {
            case UInt8(ascii: "\\"): unescaped.append(UInt8(ascii: "\\"))
            case UInt8(ascii: "\""): unescaped.append(UInt8(ascii: "\""))
            case UInt8(ascii: "n"): unescaped.append(UInt8(ascii: "\n"))
            default:
                throw ExpositionLineError("invalid escape sequence in label value")
            }
            index += 2
        }
        guard let value = String(validating: unescaped, as: UTF8.self) else {
            throw ExpositionLineError("invalid UTF-8 in label value")
        }
        return value
    }

    /// The bytes of `range` as a string; only for ranges the grammar already limited to ASCII.
    func asciiString(_ range: Range<Int>) -> String {
        String(decoding: bytes[range], as: UTF8.self)
    }

    /// Up to 40 bytes of `range`, quoted, for a problem message (invalid UTF-8 shown as U+FFFD).
    func quoted(_ range: Range<Int>) -> String {
        let shown = range.lowerBound..<min(range.upperBound, range.lowerBound + 40)
        let text = String(decoding: bytes[shown], as: UTF8.self)
        return "\"\(text)\(shown.count < range.count ? "..." : "")\""
    }

    /// The token starting at `start`, quoted, for a problem message.
    func quotedSnippet(from start: Int) -> String {
        var tokenEnd = start
        while tokenEnd < end, !Self.isBlank(bytes[tokenEnd]) {
            tokenEnd += 1
        }
        return quoted(start..<tokenEnd)
    }

    static func isBlank(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t")
    }

    static func isLetter(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z"))
            || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
    }

    static func isDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }

    /// `[a-zA-Z0-9_]`.
    static func isNameByte(_ byte: UInt8) -> Bool {
        isLetter(byte) || isDigit(byte) || byte == UInt8(ascii: "_")
    }
}
