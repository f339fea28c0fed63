#if canImport(Glibc)
import Glibc
#endif

/// RFC 3339 timestamps in UTC, the only timestamp format of the API and the logs.
public enum RFC3339 {
    /// "2025-04-05T19:45:00Z", or with milliseconds "2025-04-05T19:45:00.123Z".
    public static func format(unixMilliseconds: Int64, withMilliseconds: Bool = false) -> String {
        var seconds = time_t(unixMilliseconds.dividedFloor(by: 1000))
        let milliseconds = Int32(unixMilliseconds - Int64(seconds) * 1000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        var text = "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2))"
        if withMilliseconds { text += ".\(pad(milliseconds, 3))" }
        return text + "Z"
    }

    /// The current wall-clock time in milliseconds since the epoch.
    public static func nowUnixMilliseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
    }

    private static func pad(_ value: Int32, _ width: Int) -> String {
        let digits = String(value)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }
}

extension Int64 {
    fileprivate func dividedFloor(by divisor: Int64) -> Int64 {
        let quotient = self / divisor
        return (self % divisor != 0 && (self < 0) != (divisor < 0)) ? quotient - 1 : quotient
    }
}
