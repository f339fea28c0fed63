import Testing

@testable import WatcherModel

/// The `http` limits of the two servers, and the escaping of the agent's own log lines.
@Suite("HTTP limits config and log-line escaping")
struct HardeningConfigTests {
    @Test func httpLimitsHaveDefaultsAndAreRead() throws {
        #expect(try parse("{}").http == HTTPServerConfig())
        #expect(HTTPServerConfig().maxConnections == 1024 && HTTPServerConfig().headTimeoutSeconds == 10)
        let config = try parse(
            #"{"http": {"head_timeout_seconds": 2.5, "body_timeout_seconds": 4, "idle_timeout_seconds": 7, "max_connections": 64}}"#
        )
        #expect(
            config.http
                == HTTPServerConfig(
                    headTimeoutSeconds: 2.5,
                    bodyTimeoutSeconds: 4,
                    idleTimeoutSeconds: 7,
                    maxConnections: 64
                )
        )
    }

    @Test func badHTTPLimitsAreListedWithTheirPaths() {
        let found = problems(
            in: #"{"http": {"head_timeout_seconds": 0, "max_connections": 0, "idle_timout_seconds": 5}}"#
        )
        #expect(found.contains { $0.path == "$.http.head_timeout_seconds" && $0.message.contains("between 0.1") })
        #expect(found.contains { $0.path == "$.http.max_connections" && $0.message.contains("between 1") })
        #expect(found.contains { $0.path == "$.http.idle_timout_seconds" }, "\(found)")
    }

    @Test func outsideTextCannotBreakALogLine() {
        #expect(LogLineText.escaped("plain text") == "plain text")
        #expect(LogLineText.escaped("a\nb\r\tc") == #"a\nb\r\tc"#)
        #expect(LogLineText.escaped("bell\u{07} esc\u{1b}[31m") == #"bell\u{7} esc\u{1b}[31m"#)
        #expect(LogLineText.escaped(#"back\slash"#) == #"back\\slash"#)
        #expect(LogLineText.escaped("line\u{2028}sep") == #"line\u{2028}sep"#)
        // A value cannot smuggle in another key=value pair or end the line.
        let forged = "x\n2026-01-01T00:00:00Z critical forged line"
        #expect(!LogLineText.value(forged).contains("\n"))
        #expect(LogLineText.value(#"a" sink=evil"#) == #""a\" sink=evil""#)
        #expect(LogLineText.value("") == #""""#)
        #expect(LogLineText.value("k=v") == #""k=v""#)
        #expect(LogLineText.value("/var/log/app.log") == "/var/log/app.log")
    }
}
