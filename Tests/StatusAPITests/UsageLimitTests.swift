import Foundation
import TestSupport
import Testing
import WatcherModel
import WatcherProto

@testable import StatusAPI

/// Regression tests from a review of the status API and the usage ledger: hostile usage events
/// must neither crash the agent nor break the exposition for other tenants.
@Suite("Usage totals and names stay within limits", .serialized)
struct UsageLimitTests {
    // MARK: Huge token counts from POST /v1/usage crash the agent

    @Test("a tenant posting two events of 5e18 tokens, then reading its models, does not crash the agent")
    func hugeTokenTotalsDoNotCrashTheAPI() async {
        await #expect(processExitsWith: .success) {
            // The server stops and its directory is removed before the child exits.
            let code: Int32 = try await StatusAPIHarness.withServer { api in
                let event =
                    #"{"model": "big", "provider": "ollama", "tokens_input": 5000000000000000000, "tokens_output": 1}"#
                let posted = try await api.postUsage("[\(event), \(event)]", token: TenantFixtures.acmeToken)
                guard posted.status == 400, posted.text.contains("at most") else { return 4 }  // refused, named
                let reply = try await api.get("/metrics/models?client_id=acme", token: TenantFixtures.acmeToken)
                return reply.status == 200 ? 0 : 5
            }
            exit(code)
        }
    }

    @Test("usage totals past UInt64.max do not trap in UsageLedger.add (POST, and replay at start)")
    func ledgerDoesNotOverflow() async {
        await #expect(processExitsWith: .success) {
            var event = ResourceWatcher_V1_ModelUsage()
            event.clientID = "acme"
            event.name = "big"
            event.provider = "ollama"
            event.requestsCount = 1
            event.tokensInput = UInt64(Int64.max)  // what UsageEvents accepts for tokens_input
            UsageLedger().record([event, event, event])
        }
    }

    @Test("one event may report at most 1e12 tokens: Int64.max is refused with 400 naming the field")
    func singleEventIsBounded() {
        let body = Array(#"{"model": "m", "tokens_input": 9223372036854775807, "tokens_output": 0}"#.utf8)
        #expect {
            try UsageEvents.parse(
                body,
                principal: .tenant("acme"),
                defaultClientID: "acme",
                knownTenants: ["acme"],
                nowUnixMilliseconds: 0
            )
        } throws: { error in
            (error as? APIError)?.status == .badRequest
                && (error as? APIError)?.message.contains("tokens_input") == true
        }
    }

    // MARK: Exposition escaping

    @Test("a model name with CRLF is escaped in the untyped families: no raw line break inside a label value")
    func crlfIsEscapedInLabelValues() {
        let escaped = escapeLabelValue("evil\r\nresource_watcher_fake 1")
        #expect(!escaped.contains("\n"), "raw newline kept: \(escaped.debugDescription)")
    }

    @Test("a tenant's model name with CRLF is refused and :5221/metrics stays valid for every tenant (promtool)")
    func crlfModelKeepsExpositionValid() async throws {
        try await StatusAPIHarness.withServer { api in
            // A control character in a name is refused at ingest; the exposition stays valid.
            let body = #"{"model": "evil\r\nmodel", "provider": "ollama", "tokens_input": 1, "tokens_output": 1}"#
            let posted = try await api.postUsage(body, token: TenantFixtures.acmeToken)
            #expect(posted.status == 400 && posted.text.contains("control characters"), "\(posted.text)")
            let reply = try await api.metricsText()
            let result = try PrometheusProcess.checkMetrics(reply.text, file: api.directory.path + "/metrics-crlf.txt")
            #expect(result.status == 0, "promtool check metrics: \(result.output)")
        }
    }

    @Test("a tenant cannot grow its distinct models past the limit: the batch that would is refused whole (409)")
    func modelCardinalityIsBounded() async throws {
        try await StatusAPIHarness.withServer { api in
            let limit = StatusRoutes.maximumModelsPerTenant
            let events = (0..<limit).map { #"{"model": "m\#($0)", "tokens_input": 1, "tokens_output": 1}"# }
            let posted = try await api.postUsage(
                "[" + events.joined(separator: ",") + "]",
                token: TenantFixtures.acmeToken
            )
            #expect(
                posted.status == 409 && posted.text.contains("too_many_models"),
                "the seed's 2 models plus \(limit)"
            )
            let few = try await api.postUsage(
                #"{"model": "one-more", "tokens_input": 1, "tokens_output": 1}"#,
                token: TenantFixtures.acmeToken
            )
            #expect(few.status == 202, "\(few.text)")
        }
    }

    @Test("concurrent posts of new models never take a tenant past the cap together (check and reserve in one step)")
    func concurrentModelFloodsStayUnderTheCap() async throws {
        try await StatusAPIHarness.withServer { api in
            let limit = StatusRoutes.maximumModelsPerTenant
            let before = try await api.modelTotals("acme").count
            // 24 posts of 100 new models each, all at once: at most (limit - before) fit.
            let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                for post in 0..<24 {
                    group.addTask {
                        let events = (0..<100).map {
                            #"{"model": "flood-\#(post)-\#($0)", "tokens_input": 1, "tokens_output": 1}"#
                        }
                        let reply = try await api.postUsage(
                            "[" + events.joined(separator: ",") + "]",
                            token: TenantFixtures.acmeToken
                        )
                        #expect(
                            reply.status == 202 || (reply.status == 409 && reply.text.contains("too_many_models")),
                            "\(reply.status) \(reply.text)"
                        )
                        return reply.status
                    }
                }
                return try await group.reduce(into: [Int]()) { $0.append($1) }
            }
            let models = try await api.modelTotals("acme")
            #expect(models.count <= limit, "over the cap: \(models.count)")
            #expect(models.count == before + 100 * statuses.filter { $0 == 202 }.count)
            #expect(statuses.filter { $0 == 202 }.count == (limit - before) / 100)
        }
    }

    @Test("a 1 MiB array is refused while parsing, at its 1,001st element")
    func hugeArrayIsRefusedWhileParsing() throws {
        let body = Array(("[" + Array(repeating: "1", count: 400_000).joined(separator: ",") + "]").utf8)
        #expect(body.count < 1 << 20)
        #expect {
            try UsageEvents.parse(
                body,
                principal: .tenant("acme"),
                defaultClientID: "acme",
                knownTenants: ["acme"],
                nowUnixMilliseconds: 0
            )
        } throws: { error in
            guard let error = error as? APIError else { return false }
            // Column 2,002: the parser stopped at element 1,001, not at the end of the body.
            return error.code == "too_many_events" && error.message.contains("more than 1000 elements")
                && error.message.contains("column 2002")
        }
    }
}
