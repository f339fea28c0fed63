import Foundation  // JSONSerialization
import Testing

/// `POST /v1/usage` with bodies a buggy or hostile client sends: each is refused with a 4xx whose
/// message names the field or the line, stores nothing, and leaves the events accepted before it
/// exactly as they were.
@Suite("POST /v1/usage bad input")
struct UsageBadInputTests {
    struct BadBody: Sendable, CustomTestStringConvertible {
        let testDescription: String
        let body: [UInt8]
        var contentType: String? = "application/json"
        var status = 400
        let code: String
        /// Every one of these must appear in the error message.
        let mentions: [String]
    }

    static let good = #"{"model": "llama2", "provider": "ollama", "tokens_input": 5, "tokens_output": 7}"#

    static let cases: [BadBody] = [
        BadBody(
            testDescription: "malformed JSON names line and column",
            body: Array("{\n  \"model\": \"llama2\",\n  \"tokens_input\": 5,\n  \"tokens_output\": \n}".utf8),
            code: "malformed_json",
            mentions: ["line 5", "column 1"]
        ),
        BadBody(
            testDescription: "a trailing comma names its line",
            body: Array("[\n{\"model\": \"x\"},\n]".utf8),
            code: "malformed_json",
            mentions: ["line 3"]
        ),
        BadBody(testDescription: "an empty body", body: [], code: "empty_body", mentions: ["empty"]),
        BadBody(
            testDescription: "a string where a count belongs",
            body: Array(#"{"model": "llama2", "tokens_input": "5", "tokens_output": 7}"#.utf8),
            code: "invalid_field",
            mentions: ["tokens_input", "whole number"]
        ),
        BadBody(
            testDescription: "a fraction where a count belongs",
            body: Array(#"{"model": "llama2", "tokens_input": 5, "tokens_output": 7.5}"#.utf8),
            code: "invalid_field",
            mentions: ["tokens_output", "whole number"]
        ),
        BadBody(
            testDescription: "a number where the model name belongs",
            body: Array(#"{"model": 42, "tokens_input": 5, "tokens_output": 7}"#.utf8),
            code: "invalid_field",
            mentions: ["model", "string"]
        ),
        BadBody(
            testDescription: "a string latency",
            body: Array(#"{"model": "m", "tokens_input": 1, "tokens_output": 1, "latency_ms": "fast"}"#.utf8),
            code: "invalid_field",
            mentions: ["latency_ms"]
        ),
        BadBody(
            testDescription: "a missing model",
            body: Array(#"{"tokens_input": 5, "tokens_output": 7}"#.utf8),
            code: "missing_field",
            mentions: ["model", "required"]
        ),
        BadBody(
            testDescription: "a missing token count",
            body: Array(#"{"model": "llama2", "tokens_input": 5}"#.utf8),
            code: "missing_field",
            mentions: ["tokens_output", "required"]
        ),
        BadBody(
            testDescription: "negative input tokens",
            body: Array(#"{"model": "llama2", "tokens_input": -5, "tokens_output": 7}"#.utf8),
            code: "invalid_field",
            mentions: ["tokens_input", "negative"]
        ),
        BadBody(
            testDescription: "negative latency",
            body: Array(#"{"model": "llama2", "tokens_input": 5, "tokens_output": 7, "latency_ms": -1}"#.utf8),
            code: "invalid_field",
            mentions: ["latency_ms"]
        ),
        BadBody(
            testDescription: "an unknown field",
            body: Array(#"{"model": "m", "tokens_input": 1, "tokens_output": 1, "cost_usd": 3}"#.utf8),
            code: "unknown_field",
            mentions: ["cost_usd"]
        ),
        BadBody(
            testDescription: "a duplicate field",
            body: Array(#"{"model": "m", "model": "n", "tokens_input": 1, "tokens_output": 1}"#.utf8),
            code: "duplicate_field",
            mentions: ["model", "twice"]
        ),
        BadBody(
            testDescription: "a bad timestamp",
            body: Array(#"{"model": "m", "tokens_input": 1, "tokens_output": 1, "timestamp": "yesterday"}"#.utf8),
            code: "invalid_field",
            mentions: ["timestamp", "yesterday"]
        ),
        BadBody(
            testDescription: "a bad event after a good one refuses the whole batch, naming the event",
            body: Array("[\(good), {\"model\": \"llama2\", \"tokens_input\": 1}]".utf8),
            code: "missing_field",
            mentions: ["[1].tokens_output"]
        ),
        BadBody(
            testDescription: "a bad event inside {\"events\": [...]} names its path",
            body: Array(
                "{\"events\": [\(good), \(good), {\"model\": true, \"tokens_input\": 1, \"tokens_output\": 1}]}".utf8
            ),
            code: "invalid_field",
            mentions: ["events[2].model"]
        ),
        BadBody(
            testDescription: "a JSON value that is no event",
            body: Array("42".utf8),
            code: "invalid_body",
            mentions: ["usage event object", "integer"]
        ),
        BadBody(
            testDescription: "an empty batch",
            body: Array("[]".utf8),
            code: "empty_batch",
            mentions: ["no events"]
        ),
        BadBody(
            testDescription: "more than 1000 events",
            body: Array(("[" + Array(repeating: good, count: 1001).joined(separator: ",") + "]").utf8),
            code: "too_many_events",
            mentions: ["at most 1000 events", "more than 1000 elements"]
        ),
        BadBody(
            testDescription: "invalid UTF-8 in a string names its line",
            body: Array("{\n\"model\": \"".utf8) + [0xC3, 0x28, 0xFF]
                + Array("\", \"tokens_input\": 1, \"tokens_output\": 1}".utf8),
            code: "malformed_json",
            mentions: ["line 2", "UTF-8"]
        ),
        BadBody(
            testDescription: "Latin-1 bytes outside any string",
            body: [0xE9] + Array(good.utf8),
            code: "malformed_json",
            mentions: ["line 1", "column 1"]
        ),
        BadBody(
            testDescription: "a body over 1 MiB",
            body: Array(good.utf8) + [UInt8](repeating: 0x20, count: 1 << 20),
            status: 413,
            code: "body_too_large",
            mentions: ["1048576 bytes"]
        ),
        BadBody(
            testDescription: "a text/plain body",
            body: Array(good.utf8),
            contentType: "text/plain",
            status: 415,
            code: "unsupported_media_type",
            mentions: ["Content-Type", "text/plain"]
        ),
        BadBody(
            testDescription: "a form body",
            body: Array("model=llama2&tokens_input=5".utf8),
            contentType: "application/x-www-form-urlencoded",
            status: 415,
            code: "unsupported_media_type",
            mentions: ["application/json", "application/x-www-form-urlencoded"]
        ),
    ]

    @Test("a bad body gets a 4xx naming the problem and leaves earlier events alone", arguments: cases)
    func badBody(_ bad: BadBody) async throws {
        try await StatusAPIHarness.withServer { api in
            let token = TenantFixtures.acmeToken
            let first = try await api.postUsage(Self.good, token: token)
            #expect(first.status == 202, "\(first.text)")
            let before = try await api.modelTotals("acme")
            let sequenceBefore = api.spool.statistics().lastSequence
            #expect(before["llama2"]?["requests_count"] as? Int == 125)  // the seed's 124 and this one

            let reply = try await api.postUsage(bad.body, token: token, contentType: bad.contentType)
            #expect(reply.status == bad.status, "\(reply.text)")
            let error = try reply.error()
            #expect(error.code == bad.code, "\(error.message)")
            for mention in bad.mentions {
                #expect(error.message.contains(mention), "\"\(error.message)\" should mention \(mention)")
            }

            #expect(api.spool.statistics().lastSequence == sequenceBefore, "a refused body is not spooled")
            let after = try await api.modelTotals("acme")
            #expect(Set(after.keys) == Set(before.keys))
            for (name, model) in before {
                for field in ["requests_count", "tokens_input", "tokens_output", "avg_latency_ms", "last_used"] {
                    #expect("\(after[name]?[field] ?? "missing")" == "\(model[field] ?? "missing")", "\(name).\(field)")
                }
            }
            // The server still takes good events after the bad one.
            let next = try await api.postUsage(Self.good, token: token)
            #expect(next.status == 202, "\(next.text)")
            #expect(try await api.modelTotals("acme")["llama2"]?["requests_count"] as? Int == 126)
        }
    }
}
