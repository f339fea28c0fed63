import Testing
import WatcherModel

@Suite("RFC 3339 timestamps")
struct RFC3339Tests {
    @Test("the API's timestamps parse, with fractions and offsets, and round-trip through format")
    func parses() {
        #expect(RFC3339.parse("2025-04-05T19:45:00Z") == 1_743_882_300_000)
        #expect(RFC3339.parse("2025-04-05T19:45:00.250Z") == 1_743_882_300_250)
        #expect(RFC3339.parse("2025-04-05T21:45:00+02:00") == 1_743_882_300_000)
        #expect(RFC3339.parse("2025-04-05t19:45:00.123456789z") == 1_743_882_300_123)
        #expect(RFC3339.parse(RFC3339.format(unixMilliseconds: 1_743_882_300_000)) == 1_743_882_300_000)
    }

    @Test(
        "impossible dates, offsets and shapes are refused",
        arguments: [
            "2025-02-31T00:00:00Z", "2025-13-01T00:00:00Z", "2025-04-05T24:00:00Z", "2025-04-05T19:45:00+99:99",
            "2025-04-05 19:45:00Z", "2025-04-05T19:45:00", "2025-04-05T19:45:00.Z", "", "yesterday",
            "2025-04-05T19:45:00Zjunk",
        ]
    )
    func refuses(_ text: String) {
        #expect(RFC3339.parse(text) == nil)
    }
}
