/// Parses the Prometheus text format 0.0.4 and the OpenMetrics 1.0 text format.
///
/// The parser works on bytes, line by line (`\n` or `\r\n`). A malformed line is skipped and reported in
/// `ExpositionDocument.problems` with its 1-based number; every other line is still read, and no input traps.
///
/// What each format accepts:
/// - Both: `# HELP`, `# TYPE`, other `#` lines as comments, blank lines, labels with `\\` `\"` `\n` escapes,
///   values such as `NaN`, `+Inf`, `-Inf`, `1e3`, `-0.5`, blanks and tabs between tokens, trailing blanks.
/// - 0.0.4: HELP escapes `\\` and `\n`; TYPE counter, gauge, histogram, summary, untyped (any case);
///   an optional integer timestamp in milliseconds.
/// - OpenMetrics: HELP also escapes `\"`; TYPE counter, gauge, histogram, gaugehistogram, stateset, info,
///   summary, unknown; `# UNIT`; `# EOF` must end the text; a float timestamp in seconds (converted to
///   milliseconds); an exemplar after ` # ` is checked and skipped.
///
/// Samples join the family whose name they carry, bare or with a suffix that family's type owns
/// (`_bucket`, `_sum`, `_count`, `_created`, `_total`, `_info`, `_gsum`, `_gcount`); a sample no declared
/// family owns forms an `untyped` family of its own name.
public enum ExpositionParser {
    /// Parses one scrape body.
    ///
    /// `openMetrics` is true when the Content-Type was application/openmetrics-text. Parsing
    /// stops once `maximumSamples` samples are kept or, checked every 1,024 lines, at `deadline`;
    /// the document then says so in `cut` and holds what was read before.
    public static func parse(
        _ bytes: [UInt8],
        openMetrics: Bool,
        maximumSamples: Int = .max,
        deadline: ContinuousClock.Instant? = nil
    ) -> ExpositionDocument {
        var builder = ExpositionDocumentBuilder(openMetrics: openMetrics)
        let newline = UInt8(ascii: "\n")
        var lineStart = 0
        var lineNumber = 0
        var cut: ExpositionDocument.Cut?
        while lineStart < bytes.count {
            if builder.sampleCount >= maximumSamples {
                cut = .samples
                break
            }
            if let deadline, lineNumber & 1023 == 1023, ContinuousClock.now >= deadline {
                cut = .time
                break
            }
            lineNumber += 1
            let lineEnd = bytes[lineStart...].firstIndex(of: newline) ?? bytes.count
            builder.read(line: lineStart..<lineEnd, of: bytes, number: lineNumber)
            lineStart = lineEnd + 1
        }
        var document = builder.finish(lineCount: lineNumber, complete: cut == nil)
        document.cut = cut
        return document
    }
}
