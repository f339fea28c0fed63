/// Turns the lines of one exposition into families and problems.
///
/// Invariants: `familyIndexByName` maps every family's name to its index in `families`; `declared` runs
/// parallel to `families`; every sample in a family has a name starting with the family's name.
struct ExpositionDocumentBuilder {
    /// Problems kept per document; past this only a count is kept, so a garbage body cannot grow it unbounded.
    static let maximumProblems = 1000

    /// Which descriptor lines a family has had, to report duplicates.
    private struct Declarations {
        var type = false
        var help = false
        var unit = false
    }

    private let openMetrics: Bool
    private var families: [ExpositionFamily] = []
    private var declared: [Declarations] = []
    private var familyIndexByName: [String: Int] = [:]
    /// The family of the last descriptor or sample line; samples usually follow it directly.
    private var currentFamilyIndex: Int?
    private var problems: [ExpositionProblem] = []
    private var unlistedProblemCount = 0
    private var sawEndOfFile = false
    private var reportedContentAfterEndOfFile = false
    /// The last sample's name, reused when the next sample has the same bytes (most lines of a family).
    private var lastSampleName = ""
    /// Samples kept so far.
    private(set) var sampleCount = 0

    init(openMetrics: Bool) {
        self.openMetrics = openMetrics
    }

    /// Reads one line (without its `\n`).
    mutating func read(line range: Range<Int>, of bytes: [UInt8], number: Int) {
        var start = range.lowerBound
        var end = range.upperBound
        while end > start, ExpositionLineCursor.isBlank(bytes[end - 1]) || bytes[end - 1] == UInt8(ascii: "\r") {
            end -= 1
        }
        while start < end, ExpositionLineCursor.isBlank(bytes[start]) {
            start += 1
        }
        guard start < end else { return }  // blank line
        if sawEndOfFile {
            if !reportedContentAfterEndOfFile {
                reportedContentAfterEndOfFile = true
                report(line: number, "content after \"# EOF\"")
            }
            return
        }
        var cursor = ExpositionLineCursor(bytes: bytes, position: start, end: end)
        do {
            if bytes[start] == UInt8(ascii: "#") {
                try readDescriptor(&cursor)
            } else {
                try readSample(&cursor)
            }
        } catch {
            report(line: number, error.message)
        }
    }

    /// The document, after reporting a missing OpenMetrics `# EOF` (unless the parse stopped
    /// before the end: `complete` false).
    mutating func finish(lineCount: Int, complete: Bool = true) -> ExpositionDocument {
        if openMetrics && !sawEndOfFile && complete {
            report(line: lineCount + 1, "missing \"# EOF\" at end of OpenMetrics text")
        }
        if unlistedProblemCount > 0 {
            problems.append(
                ExpositionProblem(line: lineCount, message: "\(unlistedProblemCount) further problems not listed")
            )
        }
        return ExpositionDocument(families: families, problems: problems)
    }

    private mutating func report(line: Int, _ message: String) {
        guard problems.count < Self.maximumProblems else {
            unlistedProblemCount += 1
            return
        }
        problems.append(ExpositionProblem(line: line, message: message))
    }

    // MARK: - Descriptor lines

    /// Reads a line starting with `#`: HELP, TYPE, UNIT or EOF, or a comment.
    private mutating func readDescriptor(_ cursor: inout ExpositionLineCursor) throws(ExpositionLineError) {
        cursor.position += 1  // "#"
        cursor.skipBlanks()
        let keyword = cursor.asciiString(cursor.readToken())
        switch keyword {
        case "HELP":
            try readHelp(&cursor)
        case "TYPE":
            try readType(&cursor)
        case "UNIT" where openMetrics:
            try readUnit(&cursor)
        case "EOF" where openMetrics && cursor.isAtEnd:
            sawEndOfFile = true
        default:
            break  // a comment
        }
    }

    /// Reads the metric name of a descriptor line and the blank after it (none at the end of the line).
    private func readDescriptorName(
        _ cursor: inout ExpositionLineCursor,
        keyword: String
    ) throws(ExpositionLineError) -> String {
        cursor.skipBlanks()
        guard let nameRange = cursor.readMetricName() else {
            throw ExpositionLineError("invalid metric name in \(keyword) line")
        }
        guard cursor.isAtEnd || cursor.skipBlanks() else {
            throw ExpositionLineError(
                "invalid metric name in \(keyword) line: \(cursor.quotedSnippet(from: nameRange.lowerBound))"
            )
        }
        return cursor.asciiString(nameRange)
    }

    private mutating func readHelp(_ cursor: inout ExpositionLineCursor) throws(ExpositionLineError) {
        let name = try readDescriptorName(&cursor, keyword: "HELP")
        let text = try unescapeHelp(cursor.bytes, cursor.readRest())
        let index = familyIndex(declaring: name)
        guard !declared[index].help else { throw ExpositionLineError("duplicate HELP line for \(name)") }
        declared[index].help = true
        families[index].help = text
        currentFamilyIndex = index
    }

    private mutating func readType(_ cursor: inout ExpositionLineCursor) throws(ExpositionLineError) {
        let name = try readDescriptorName(&cursor, keyword: "TYPE")
        let typeRange = cursor.readToken()
        let word = cursor.asciiString(typeRange)
        guard let type = ExpositionType.declared(word, openMetrics: openMetrics) else {
            throw ExpositionLineError(
                typeRange.isEmpty ? "missing type in TYPE line" : "unknown metric type \(cursor.quoted(typeRange))"
            )
        }
        cursor.skipBlanks()
        guard cursor.isAtEnd else {
            throw ExpositionLineError("unexpected text after type: \(cursor.quotedSnippet(from: cursor.position))")
        }
        let index = familyIndex(declaring: name)
        guard !declared[index].type else { throw ExpositionLineError("duplicate TYPE line for \(name)") }
        guard families[index].samples.isEmpty else {
            throw ExpositionLineError("TYPE line for \(name) after its samples")
        }
        declared[index].type = true
        families[index].type = type
        currentFamilyIndex = index
    }

    private mutating func readUnit(_ cursor: inout ExpositionLineCursor) throws(ExpositionLineError) {
        let name = try readDescriptorName(&cursor, keyword: "UNIT")
        let unit = cursor.asciiString(cursor.readToken())
        cursor.skipBlanks()
        guard cursor.isAtEnd else {
            throw ExpositionLineError("unexpected text after unit: \(cursor.quotedSnippet(from: cursor.position))")
        }
        let index = familyIndex(declaring: name)
        guard !declared[index].unit else { throw ExpositionLineError("duplicate UNIT line for \(name)") }
        declared[index].unit = true
        families[index].unit = unit
        currentFamilyIndex = index
    }

    /// Resolves `\\` and `\n` (and `\"` in OpenMetrics) in HELP text; the text must be valid UTF-8.
    private func unescapeHelp(_ bytes: [UInt8], _ range: Range<Int>) throws(ExpositionLineError) -> String {
        var text: [UInt8] = []
        text.reserveCapacity(range.count)
        var index = range.lowerBound
        while index < range.upperBound {
            let byte = bytes[index]
            guard byte == UInt8(ascii: "\\") else {
                text.append(byte)
                index += 1
                continue
            }
            guard index + 1 < range.upperBound else { throw ExpositionLineError("unterminated escape in HELP text") }
            switch bytes[index + 1] {
            case UInt8(ascii: "\\"): text.append(UInt8(ascii: "\\"))
            case UInt8(ascii: "n"): text.append(UInt8(ascii: "\n"))
            case UInt8(ascii: "\"") where openMetrics: text.append(UInt8(ascii: "\""))
            default: throw ExpositionLineError("invalid escape sequence in HELP text")
            }
            index += 2
        }
        guard let help = String(validating: text, as: UTF8.self) else {
            throw ExpositionLineError("invalid UTF-8 in HELP text")
        }
        return help
    }

    // MARK: - Sample lines

    /// Reads `name[{labels}] value [timestamp] [# exemplar]`.
    private mutating func readSample(_ cursor: inout ExpositionLineCursor) throws(ExpositionLineError) {
        guard let nameRange = cursor.readMetricName() else {
            throw ExpositionLineError("invalid metric name \(cursor.quotedSnippet(from: cursor.position))")
        }
        var separated = cursor.skipBlanks()
        var labels: [ExpositionLabel] = []
        if cursor.current == UInt8(ascii: "{") {
            labels = try cursor.readLabelSet()
            cursor.skipBlanks()
            separated = true  // the closing brace separates the value like a blank
        }
        guard !cursor.isAtEnd else { throw ExpositionLineError("missing value") }
        guard separated else {
            throw ExpositionLineError("invalid metric name \(cursor.quotedSnippet(from: nameRange.lowerBound))")
        }
        let valueRange = cursor.readToken()
        guard let value = ExpositionNumber.parseFloat(cursor.bytes, valueRange) else {
            throw ExpositionLineError("invalid value \(cursor.quoted(valueRange))")
        }
        var timestamp: Int64?
        cursor.skipBlanks()
        if let byte = cursor.current, byte != UInt8(ascii: "#") {
            let timestampRange = cursor.readToken()
            timestamp =
                openMetrics
                ? ExpositionNumber.parseSecondsAsMilliseconds(cursor.bytes, timestampRange)
                : ExpositionNumber.parseMilliseconds(cursor.bytes, timestampRange)
            guard timestamp != nil else {
                throw ExpositionLineError("invalid timestamp \(cursor.quoted(timestampRange))")
            }
            cursor.skipBlanks()
        }
        if !cursor.isAtEnd {
            guard openMetrics, cursor.current == UInt8(ascii: "#") else {
                throw ExpositionLineError("unexpected text after value: \(cursor.quotedSnippet(from: cursor.position))")
            }
            try skipExemplar(&cursor)
        }
        let name = sampleName(cursor.bytes, nameRange)
        let index = familyIndex(forSampleNamed: name)
        families[index].samples.append(
            ExpositionSample(name: name, labels: labels, value: value, timestampMilliseconds: timestamp)
        )
        sampleCount += 1
        currentFamilyIndex = index
    }

    /// Checks an OpenMetrics exemplar, `# {labels} value [timestamp]`, which the document does not keep.
    private func skipExemplar(_ cursor: inout ExpositionLineCursor) throws(ExpositionLineError) {
        cursor.position += 1  // "#"
        cursor.skipBlanks()
        guard cursor.current == UInt8(ascii: "{") else { throw ExpositionLineError("invalid exemplar: missing labels") }
        _ = try cursor.readLabelSet()
        cursor.skipBlanks()
        guard ExpositionNumber.parseFloat(cursor.bytes, cursor.readToken()) != nil else {
            throw ExpositionLineError("invalid exemplar value")
        }
        cursor.skipBlanks()
        if !cursor.isAtEnd {
            guard ExpositionNumber.parseFloat(cursor.bytes, cursor.readToken()) != nil else {
                throw ExpositionLineError("invalid exemplar timestamp")
            }
            cursor.skipBlanks()
            guard cursor.isAtEnd else { throw ExpositionLineError("unexpected text after exemplar") }
        }
    }

    /// The name as a string, sharing the previous sample's string when the bytes are the same.
    private mutating func sampleName(_ bytes: [UInt8], _ range: Range<Int>) -> String {
        if lastSampleName.utf8.elementsEqual(bytes[range]) { return lastSampleName }
        lastSampleName = String(decoding: bytes[range], as: UTF8.self)
        return lastSampleName
    }

    // MARK: - Families

    /// The family a descriptor line names, created (untyped, empty) if new.
    private mutating func familyIndex(declaring name: String) -> Int {
        if let index = familyIndexByName[name] { return index }
        return addFamily(named: name)
    }

    /// The family a sample belongs to: the current one if it owns the name, else the family of that exact
    /// name, else a family whose type owns the name's suffix, else a new untyped family of the sample's name.
    private mutating func familyIndex(forSampleNamed name: String) -> Int {
        if let current = currentFamilyIndex, families[current].owns(sampleNamed: name) { return current }
        if let exact = familyIndexByName[name] { return exact }
        for suffix in ExpositionType.allOwnedSuffixes where name.hasSuffix(suffix) {
            let base = String(name.dropLast(suffix.count))  // names are ASCII: characters are bytes
            if let index = familyIndexByName[base], families[index].type.ownedSuffixes.contains(suffix) {
                return index
            }
        }
        return addFamily(named: name)
    }

    private mutating func addFamily(named name: String) -> Int {
        families.append(ExpositionFamily(name: name, type: .untyped, help: nil, unit: nil, samples: []))
        declared.append(Declarations())
        familyIndexByName[name] = families.count - 1
        return families.count - 1
    }
}
