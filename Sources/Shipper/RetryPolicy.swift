#if canImport(Glibc)
import Glibc
#endif

/// The one place that decides what a sink does after a request: the classification of every
/// outcome (DESIGN §7) and exponential backoff with full jitter, a cap, and `Retry-After`.
///
/// A pure function of its inputs (the random source is passed in), so tests drive it without sleeping.
public struct RetryPolicy: Sendable, Equatable {
    public let minimumBackoff: Duration
    public let maximumBackoff: Duration

    public init(minimumBackoff: Duration, maximumBackoff: Duration) {
        precondition(
            minimumBackoff > .zero && minimumBackoff <= maximumBackoff,
            "backoff bounds must be 0 < min <= max"
        )
        self.minimumBackoff = minimumBackoff
        self.maximumBackoff = maximumBackoff
    }

    /// What to do with a request after one attempt.
    public enum Decision: Sendable, Equatable {
        /// Delivered (2xx): advance the cursor.
        case delivered
        /// Try the same request again after a backoff, no sooner than `notBefore` if the server said so.
        case retry(notBefore: Duration?)
        /// The sink is misconfigured (a wrong token or URL: 401, 403, 404, 405): keep the data,
        /// try the same request again after the longest backoff, and say so loudly. A token
        /// rotation or a receiver's deploy must not empty the backlog.
        case misconfigured(reason: String)
        /// The destination refused the request as too large (413): send its items again in
        /// smaller requests; a single item too large is dropped as `too_large`.
        case tooLarge
        /// Drop this request, count it under `reason`, and move on (a 4xx for the data itself).
        case drop(reason: String)
    }

    /// The outcome of one attempt: an HTTP status, or a transport failure (no status). The
    /// response body of a rejected request names the drop reason when it is a known one: data
    /// too old for the destination (replayed after a long outage) or out of order.
    public static func decide(
        status: Int?,
        retryAfter: String? = nil,
        body: [UInt8] = [],
        nowUnixSeconds: Int? = nil
    ) -> Decision {
        guard let status else { return .retry(notBefore: nil) }
        switch status {
        case 200..<300:
            return .delivered
        case 408, 429, 500..<600:
            return .retry(
                notBefore: retryAfter.flatMap { parseRetryAfter($0, nowUnixSeconds: nowUnixSeconds ?? Int(time(nil))) }
            )
        case 401, 403, 404, 405:
            return .misconfigured(reason: "http_\(status)")
        case 413:
            return .tooLarge
        default:
            return .drop(reason: dropReason(status: status, body: body))
        }
    }

    /// "too_old", "out_of_order", "duplicate", or "http_<status>".
    static func dropReason(status: Int, body: [UInt8]) -> String {
        let text = String(decoding: body.prefix(1024), as: UTF8.self).lowercased()
        // Prometheus: "out of bounds", "too old"; Loki: "timestamp too old", "entry too far behind".
        if text.contains("too old") || text.contains("out of bounds") || text.contains("too far behind") {
            return "too_old"
        }
        if text.contains("out of order") { return "out_of_order" }
        if text.contains("duplicate sample") { return "duplicate" }
        return "http_\(status)"
    }

    /// The wait before retry number `attempt` (0 for the first retry): a uniformly random
    /// duration in [0, min(maximum, minimum × 2^attempt)] ("full jitter"), but never less
    /// than the server's `Retry-After` (which may exceed the cap: the server knows best).
    public func backoff(
        attempt: Int,
        notBefore: Duration? = nil,
        using random: inout some RandomNumberGenerator
    ) -> Duration {
        let minimum = Self.nanoseconds(minimumBackoff)
        let maximum = Self.nanoseconds(maximumBackoff)
        let exponent = min(max(attempt, 0), 62)
        // minimum << exponent, capped at maximum without overflowing.
        let ceiling = minimum > (maximum >> exponent) ? maximum : minimum << exponent
        let jittered = Duration.nanoseconds(Int64.random(in: 0...max(ceiling, 0), using: &random))
        guard let notBefore else { return jittered }
        return max(jittered, notBefore)
    }

    /// `Retry-After` as delay-seconds ("120") or an HTTP-date ("Wed, 21 Oct 2015 07:28:00 GMT").
    /// A wait longer than `maximumRetryAfter` is cut to it: a destination asking for days would
    /// otherwise stall its sink unnoticed.
    public static func parseRetryAfter(_ value: String, nowUnixSeconds: Int) -> Duration? {
        let trimmed = value.trimmingSpaces
        let limit = Int(maximumRetryAfter.components.seconds)
        if let seconds = Int(trimmed), seconds >= 0 { return .seconds(min(seconds, limit)) }
        guard let date = parseHTTPDate(trimmed) else { return nil }
        return .seconds(min(max(0, date - nowUnixSeconds), limit))
    }

    /// The longest `Retry-After` honoured.
    public static let maximumRetryAfter = Duration.seconds(3600)

    /// Parses the IMF-fixdate form of RFC 9110 §5.6.7, which servers must send.
    static func parseHTTPDate(_ text: String) -> Int? {
        let parts = text.split(separator: " ")
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        guard parts.count == 6, parts[5] == "GMT", let day = Int(parts[1]), (1...31).contains(day),
            let month = months.firstIndex(of: String(parts[2])), let year = Int(parts[3]), (1970...9999).contains(year)
        else { return nil }
        let clock = parts[4].split(separator: ":").compactMap { Int($0) }
        guard clock.count == 3, (0...23).contains(clock[0]), (0...59).contains(clock[1]), (0...60).contains(clock[2])
        else { return nil }
        var fields = tm()
        fields.tm_year = Int32(year - 1900)
        fields.tm_mon = Int32(month)
        fields.tm_mday = Int32(day)
        fields.tm_hour = Int32(clock[0])
        fields.tm_min = Int32(clock[1])
        fields.tm_sec = Int32(clock[2])
        let seconds = timegm(&fields)
        return seconds < 0 ? nil : Int(seconds)
    }

    private static func nanoseconds(_ duration: Duration) -> Int64 {
        duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000
    }
}

extension String {
    fileprivate var trimmingSpaces: String {
        String(drop(while: { $0 == " " }).reversed().drop(while: { $0 == " " }).reversed())
    }
}
