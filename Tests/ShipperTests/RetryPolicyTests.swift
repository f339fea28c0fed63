import Testing

@testable import Shipper

@Suite("Retry policy")
struct RetryPolicyTests {
    private let policy = RetryPolicy(minimumBackoff: .milliseconds(100), maximumBackoff: .seconds(30))

    @Test("2xx is delivered, 5xx, 408, 429 and network errors retry, other 4xx are dropped")
    func classification() {
        #expect(RetryPolicy.decide(status: 200) == .delivered)
        #expect(RetryPolicy.decide(status: 204) == .delivered)
        #expect(RetryPolicy.decide(status: nil) == .retry(notBefore: nil))
        #expect(RetryPolicy.decide(status: 500) == .retry(notBefore: nil))
        #expect(RetryPolicy.decide(status: 503) == .retry(notBefore: nil))
        #expect(RetryPolicy.decide(status: 408) == .retry(notBefore: nil))
        #expect(RetryPolicy.decide(status: 429, retryAfter: "2") == .retry(notBefore: .seconds(2)))
        #expect(RetryPolicy.decide(status: 400) == .drop(reason: "http_400"))
        // A wrong token or URL keeps the data: retried after the longest backoff.
        for status in [401, 403, 404, 405] {
            #expect(RetryPolicy.decide(status: status) == .misconfigured(reason: "http_\(status)"))
        }
        #expect(RetryPolicy.decide(status: 413) == .tooLarge)
    }

    @Test("Retry-After is read as seconds or as an HTTP date")
    func retryAfter() {
        let now = 1_445_412_480  // Wed, 21 Oct 2015 07:28:00 GMT
        #expect(RetryPolicy.parseRetryAfter("120", nowUnixSeconds: now) == .seconds(120))
        #expect(RetryPolicy.parseRetryAfter(" 7 ", nowUnixSeconds: now) == .seconds(7))
        #expect(RetryPolicy.parseRetryAfter("Wed, 21 Oct 2015 07:28:05 GMT", nowUnixSeconds: now) == .seconds(5))
        #expect(RetryPolicy.parseRetryAfter("Wed, 21 Oct 2015 07:27:00 GMT", nowUnixSeconds: now) == .seconds(0))
        #expect(RetryPolicy.parseRetryAfter("soon", nowUnixSeconds: now) == nil)
        #expect(RetryPolicy.parseRetryAfter("-3", nowUnixSeconds: now) == nil)
    }

    @Test("backoff grows exponentially, is jittered over the whole range, and is capped")
    func backoffGrowsWithJitterAndCap() {
        var random = SystemRandomNumberGenerator()
        for attempt in 0..<20 {
            let ceiling = min(Duration.seconds(30), .milliseconds(100) * (1 << min(attempt, 20)))
            let samples = (0..<400).map { _ in policy.backoff(attempt: attempt, using: &random) }
            #expect(samples.allSatisfy { $0 >= .zero && $0 <= ceiling }, "attempt \(attempt)")
            // Full jitter: values spread over the range, not bunched at the ceiling.
            #expect(
                samples.contains { $0 < ceiling / 4 } && samples.contains { $0 > ceiling * 3 / 4 },
                "attempt \(attempt)"
            )
        }
        #expect(policy.backoff(attempt: 1000, using: &random) <= .seconds(30))
    }

    @Test("a Retry-After longer than the backoff is honoured, even above the cap")
    func retryAfterIsAFloor() {
        var random = SystemRandomNumberGenerator()
        for _ in 0..<100 {
            #expect(policy.backoff(attempt: 0, notBefore: .seconds(2), using: &random) >= .seconds(2))
        }
        #expect(policy.backoff(attempt: 3, notBefore: .seconds(60), using: &random) == .seconds(60))
    }
}
