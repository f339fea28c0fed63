/// Sample values and timestamps as the two text formats write them.
enum ExpositionNumber {
    /// Exact powers of ten: any integer below 2^53 divided by one of these is correctly rounded.
    private static let exactPowersOfTen: [Double] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
        1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
    ]

    /// Parses a float the way Go's `ParseFloat` (0.0.4) and the OpenMetrics ABNF write them:
    /// `1`, `-0.5`, `1e3`, `1.7e+09`, `NaN`, `+Inf`, `-Inf`, `Inf`, `infinity` (case-insensitive).
    static func parseFloat(_ bytes: [UInt8], _ range: Range<Int>) -> Double? {
        guard !range.isEmpty, range.count <= 64 else { return nil }
        if let value = parseShortDecimal(bytes, range) { return value }
        // Only characters a float can contain; also keeps NUL and other bytes away from the C parser.
        for index in range {
            let byte = bytes[index]
            guard
                ExpositionLineCursor.isLetter(byte) || ExpositionLineCursor.isDigit(byte)
                    || byte == UInt8(ascii: "+") || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".")
            else { return nil }
        }
        return Double(String(decoding: bytes[range], as: UTF8.self))
    }

    /// The common case without the general parser: `[+-]digits[.digits]` with at most 15 digits, which the
    /// division by an exact power of ten rounds correctly (Clinger's fast path). Nil sends the text on.
    private static func parseShortDecimal(_ bytes: [UInt8], _ range: Range<Int>) -> Double? {
        var index = range.lowerBound
        var isNegative = false
        if bytes[index] == UInt8(ascii: "-") || bytes[index] == UInt8(ascii: "+") {
            isNegative = bytes[index] == UInt8(ascii: "-")
            index += 1
        }
        var mantissa: UInt64 = 0
        var digitCount = 0
        var fractionDigitCount = 0
        var sawPoint = false
        while index < range.upperBound {
            let byte = bytes[index]
            if ExpositionLineCursor.isDigit(byte) {
                guard digitCount < 15 else { return nil }
                mantissa = mantissa * 10 + UInt64(byte - UInt8(ascii: "0"))
                digitCount += 1
                if sawPoint { fractionDigitCount += 1 }
            } else if byte == UInt8(ascii: "."), !sawPoint {
                sawPoint = true
            } else {
                return nil
            }
            index += 1
        }
        guard digitCount > 0 else { return nil }
        let magnitude = Double(mantissa) / exactPowersOfTen[fractionDigitCount]
        return isNegative ? -magnitude : magnitude
    }

    /// Parses a 0.0.4 timestamp: a base-10 `Int64` of milliseconds, optionally signed.
    static func parseMilliseconds(_ bytes: [UInt8], _ range: Range<Int>) -> Int64? {
        guard !range.isEmpty else { return nil }
        var index = range.lowerBound
        var isNegative = false
        if bytes[index] == UInt8(ascii: "-") || bytes[index] == UInt8(ascii: "+") {
            isNegative = bytes[index] == UInt8(ascii: "-")
            index += 1
        }
        guard index < range.upperBound else { return nil }
        var value: Int64 = 0
        while index < range.upperBound {
            let byte = bytes[index]
            guard ExpositionLineCursor.isDigit(byte) else { return nil }
            let digit = Int64(byte - UInt8(ascii: "0"))
            let (shifted, shiftOverflow) = value.multipliedReportingOverflow(by: 10)
            // Accumulating negatively reaches Int64.min, which has no positive counterpart.
            let (next, addOverflow) =
                isNegative ? shifted.subtractingReportingOverflow(digit) : shifted.addingReportingOverflow(digit)
            guard !shiftOverflow, !addOverflow else { return nil }
            value = next
            index += 1
        }
        return value
    }

    /// Parses an OpenMetrics timestamp (float seconds) into milliseconds, rounded; nil if it does not fit.
    static func parseSecondsAsMilliseconds(_ bytes: [UInt8], _ range: Range<Int>) -> Int64? {
        guard let seconds = parseFloat(bytes, range), seconds.isFinite else { return nil }
        return roundedToInt64(seconds * 1000)
    }

    /// `value` rounded half away from zero, nil outside `Int64`'s range or when not finite.
    ///
    /// Written with conversions only: `Double.rounded()` compiles to libm's `round` in optimised x86-64
    /// builds, and this module links nothing but the standard library.
    static func roundedToInt64(_ value: Double) -> Int64? {
        // Int64's range is [-2^63, 2^63); both bounds are exact doubles. NaN fails both comparisons.
        guard value >= -9_223_372_036_854_775_808.0, value < 9_223_372_036_854_775_808.0 else { return nil }
        let truncated = Int64(value)  // toward zero
        // Exact (Sterbenz): the truncation is 0 or within a factor of two of the value.
        let fraction = value - Double(truncated)
        if fraction >= 0.5 { return truncated < Int64.max ? truncated + 1 : nil }
        if fraction <= -0.5 { return truncated - 1 }  // truncated > Int64.min here, as value >= -2^63
        return truncated
    }

    /// `value` rounded half away from zero into `UInt64`: 0 for negative values and NaN, `.max` above range.
    static func roundedToUInt64Clamped(_ value: Double) -> UInt64 {
        guard value > 0 else { return 0 }
        guard value < 18_446_744_073_709_551_616.0 else { return .max }  // 2^64, exact as a Double
        let truncated = UInt64(value)
        guard value - Double(truncated) >= 0.5 else { return truncated }
        return truncated < UInt64.max ? truncated + 1 : .max
    }
}
