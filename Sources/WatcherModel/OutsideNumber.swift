/// Conversions of numbers that came from outside the agent (a scrape, `/api/ps`, the Docker
/// engine, a usage post, a file) or were computed from them, into integer fields. None of them
/// traps: Swift's `UInt64(someDouble)` crashes the process on NaN, infinities and values out of
/// range, and one hostile scrape must never take the agent down.
public enum OutsideNumber {
    /// `value` rounded half away from zero into `0...UInt64.max`, and whether it had to be
    /// clamped: NaN and negative values give 0, +Inf and values of 2^64 or more give `.max`.
    public static func clampedUInt64(_ value: Double) -> (value: UInt64, wasClamped: Bool) {
        guard value >= 0 else { return (0, true) }  // negative, -Inf and NaN
        guard value < 18_446_744_073_709_551_616.0 else { return (.max, true) }  // 2^64, exact
        let truncated = UInt64(value)  // in range: cannot trap
        guard value - Double(truncated) >= 0.5 else { return (truncated, false) }
        return truncated < .max ? (truncated + 1, false) : (.max, false)
    }

    /// `clampedUInt64(value).value`, for figures whose clamping needs no count (a rate or a
    /// percentage computed from counters that may go backwards).
    public static func uint64(_ value: Double) -> UInt64 {
        clampedUInt64(value).value
    }

    /// `value` rounded into `0...UInt32.max`; NaN and negative values give 0.
    public static func uint32(_ value: Double) -> UInt32 {
        UInt32(clamping: clampedUInt64(value).value)
    }

    /// `value` rounded into `Int64`'s range; NaN gives 0.
    public static func int64(_ value: Double) -> Int64 {
        guard value == value else { return 0 }  // NaN
        guard value > -9_223_372_036_854_775_808.0 else { return .min }
        guard value < 9_223_372_036_854_775_808.0 else { return .max }
        return Int64(value.rounded())  // |rounded| < 2^63 here, except exactly -2^63 which fits
    }

    /// A percentage in `0...100` as hundredths (the batch's centipercent fields).
    public static func centipercent(_ percent: Double) -> UInt32 {
        uint32(min(100, max(0, percent.isNaN ? 0 : percent)) * 100)
    }

    /// Seconds as whole microseconds, clamped into `0...UInt64.max`.
    public static func microseconds(fromSeconds seconds: Double) -> (value: UInt64, wasClamped: Bool) {
        clampedUInt64(seconds * 1_000_000)
    }
}
