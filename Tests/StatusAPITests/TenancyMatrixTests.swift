import Foundation  // JSONSerialization
import HTTPTransport
import Testing

/// DESIGN §4 as a matrix: every endpoint × every kind of caller × every kind of `client_id`,
/// against a head holding two tenants. Each cell's status is checked, every 401 carries
/// `WWW-Authenticate`, and every 200 body names only the asked tenant's components and models.
@Suite("Status API tenancy matrix")
struct TenancyMatrixTests {
    /// Who calls: the token sent (nil: no Authorization header) and the tenant it belongs to.
    enum Caller: String, CaseIterable, CustomTestStringConvertible {
        case noToken, wrongToken, globexToken, acmeToken, operatorToken

        var token: String? {
            switch self {
            case .noToken: nil
            case .wrongToken: TenantFixtures.wrongToken
            case .globexToken: TenantFixtures.globexToken
            case .acmeToken: TenantFixtures.acmeToken
            case .operatorToken: TenantFixtures.operatorToken
            }
        }

        /// The tenant a tenant token belongs to; nil for the others.
        var tenant: String? {
            switch self {
            case .acmeToken: "acme"
            case .globexToken: "globex"
            default: nil
            }
        }

        var testDescription: String { rawValue }
    }

    /// The `client_id` asked for: acme's, globex's, an unknown one, or none (the caller's own tenant,
    /// or the agent's `client_id`, "acme", for an operator).
    static let askedClientIDs: [String?] = ["acme", "globex", TenantFixtures.unknownClientID, nil]

    static let readEndpoints = ["/metrics/components", "/metrics/models", "/alerts"]

    /// The status DESIGN §4 gives a read of `asked` by `caller`, and the tenant whose data a 200 shows.
    static func expected(_ caller: Caller, asked: String?) -> (status: Int, tenant: String?) {
        switch caller {
        case .noToken, .wrongToken:
            return (401, nil)
        case .acmeToken, .globexToken:
            let own = caller.tenant!
            return asked == nil || asked == own ? (200, own) : (403, nil)
        case .operatorToken:
            let tenant = asked ?? "acme"
            return TenantFixtures.names[tenant] == nil ? (404, nil) : (200, tenant)
        }
    }

    /// Checks that a 200 body of `tenant` names none of the other tenant's components or models.
    private func expectOnly(_ tenant: String, in reply: Reply, _ context: String) {
        for (owner, names) in TenantFixtures.names where owner != tenant {
            for name in names {
                #expect(!reply.text.contains(name), "\(context) leaks \(owner)'s \"\(name)\": \(reply.text)")
            }
        }
    }

    /// The components, models or alerts' components a read body lists.
    private func listedNames(_ path: String, _ body: [String: Any]) -> [String] {
        switch path {
        case "/metrics/components":
            (body["metrics"] as? [[String: Any]] ?? []).compactMap { $0["component"] as? String }
        case "/metrics/models": (body["models"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
        default: (body["alerts"] as? [[String: Any]] ?? []).compactMap { $0["component"] as? String }
        }
    }

    private static let expectedNames: [String: [String: [String]]] = [
        "/metrics/components": ["acme": ["ollama", "langchain"], "globex": ["vllm", "chroma"]],
        "/metrics/models": ["acme": ["llama2", "mistral"], "globex": ["falcon"]],
        "/alerts": ["acme": ["ollama"], "globex": ["vllm"]],
    ]

    @Test(
        "reads give 401/403/404/200 by token and client_id, and a 200 shows only the asked tenant",
        arguments: Caller.allCases
    )
    func reads(caller: Caller) async throws {
        try await StatusAPIHarness.withServer { api in
            for path in Self.readEndpoints {
                for asked in Self.askedClientIDs {
                    let url = path + (asked.map { "?client_id=\($0)" } ?? "")
                    let context = "\(caller.rawValue) GET \(url)"
                    let reply = try await api.get(url, token: caller.token)
                    let expected = Self.expected(caller, asked: asked)
                    #expect(reply.status == expected.status, "\(context): \(reply.text)")
                    if reply.status != 200 {
                        let error = try reply.error()
                        if let asked, reply.status == 403 || reply.status == 404 {
                            #expect(error.message.contains(asked), "\(context): \(error.message)")
                        }
                    }
                    if reply.status == 401 {
                        #expect(reply.header("WWW-Authenticate")?.hasPrefix("Bearer") == true, "\(context)")
                    }
                    guard reply.status == 200, let tenant = expected.tenant else { continue }
                    expectOnly(tenant, in: reply, context)
                    #expect(listedNames(path, try reply.object()) == Self.expectedNames[path]?[tenant], "\(context)")
                }
            }
        }
    }

    @Test("GET /health is open to every caller and names no tenant's components or models", arguments: Caller.allCases)
    func health(caller: Caller) async throws {
        try await StatusAPIHarness.withServer { api in
            for asked in Self.askedClientIDs {
                let reply = try await api.get("/health" + (asked.map { "?client_id=\($0)" } ?? ""), token: caller.token)
                #expect(reply.status == 200, "\(caller.rawValue): \(reply.text)")
                for name in ["ollama", "langchain", "llama2", "mistral", "vllm", "chroma", "falcon", "globex"] {
                    #expect(!reply.text.contains(name), "/health names \"\(name)\": \(reply.text)")
                }
            }
        }
    }

    @Test("odd client_id queries and Authorization headers never show another tenant's data")
    func oddRequests() async throws {
        try await StatusAPIHarness.withServer { api in
            let acme = TenantFixtures.acmeToken
            let queries: [(query: String, status: Int)] = [
                ("?client_id=glob%65x", 403),  // percent-encoded "globex"
                ("?client_id=globex&client_id=acme", 403),  // the first one counts
                ("?client_id=acme&client_id=globex", 200),
                ("?CLIENT_ID=globex", 200),  // not the parameter: the token's own tenant
                ("?client_id=", 400),
                ("?client_id=%20globex", 400),  // no tenant name (docs/openapi.json's pattern)
                ("?client_id=-globex", 400),
                ("?client_id=glob%C3%A9x", 400),
                ("?client_id=" + String(repeating: "g", count: 129), 400),
                ("?client_id=" + String(repeating: "g", count: 128), 403),  // a tenant name, not acme's
            ]
            for path in Self.readEndpoints {
                for (query, status) in queries {
                    let reply = try await api.get(path + query, token: acme)
                    #expect(reply.status == status, "acme GET \(path)\(query): \(reply.text)")
                    if reply.status == 200 {
                        expectOnly("acme", in: reply, "acme GET \(path)\(query)")
                    } else {
                        _ = try reply.error()
                    }
                }
            }
            let headers: [(value: String, status: Int)] = [
                ("bearer \(acme)", 200),  // the scheme is case-insensitive (RFC 9110)
                ("Basic \(acme)", 401),
                ("Bearer", 401),
                ("Bearer \(acme)x", 401),
                ("Bearer \(TenantFixtures.acmeToken.uppercased())", 401),
                ("\(acme)", 401),
            ]
            for (value, status) in headers {
                let reply = try await api.send(.get, "/alerts?client_id=acme", headers: [("Authorization", value)])
                #expect(reply.status == status, "Authorization: \(value): \(reply.text)")
                if reply.status == 401 { #expect(reply.header("WWW-Authenticate")?.hasPrefix("Bearer") == true) }
            }
        }
    }

    /// The status `POST /v1/usage` gives an event for `clientID` (nil: none in the event) by `caller`.
    static func expectedPost(_ caller: Caller, eventFor clientID: String?) -> Int {
        switch caller {
        case .noToken, .wrongToken: 401
        case .acmeToken, .globexToken: clientID == nil || clientID == caller.tenant ? 202 : 403
        // An unknown tenant in the body is 404, as on the reads: the event is valid (docs/openapi.json
        // allows any tenant name), the agent holds no such tenant.
        case .operatorToken: clientID == TenantFixtures.unknownClientID ? 404 : 202
        }
    }

    @Test(
        "POST /v1/usage takes events for the token's own tenant only, and none for another or unknown one",
        arguments: Caller.allCases
    )
    func usage(caller: Caller) async throws {
        try await StatusAPIHarness.withServer { api in
            var accepted: [String: Int] = ["acme": 0, "globex": 0]
            for eventClientID in Self.askedClientIDs {
                let clientField = eventClientID.map { #""client_id": "\#($0)", "# } ?? ""
                let model = "posted-by-\(caller.rawValue.lowercased())"
                let body = #"{\#(clientField)"model": "\#(model)", "tokens_input": 3, "tokens_output": 4}"#
                let reply = try await api.postUsage(body, token: caller.token)
                let expected = Self.expectedPost(caller, eventFor: eventClientID)
                let context = "\(caller.rawValue) posting for \(eventClientID ?? "no client_id")"
                #expect(reply.status == expected, "\(context): \(reply.text)")
                if reply.status == 401 {
                    #expect(reply.header("WWW-Authenticate")?.hasPrefix("Bearer") == true, "\(context)")
                }
                if reply.status == 202 {
                    accepted[eventClientID ?? caller.tenant ?? "acme", default: 0] += 1
                } else {
                    let error = try reply.error()
                    if let eventClientID, reply.status != 401 {
                        #expect(error.message.contains(eventClientID), "\(context): \(error.message)")
                    }
                }
            }
            // Each tenant's totals hold exactly the events accepted for it, and nothing went elsewhere.
            let model = "posted-by-\(caller.rawValue.lowercased())"
            for tenant in ["acme", "globex"] {
                let totals = try await api.modelTotals(tenant)
                #expect(totals[model]?["requests_count"] as? Int ?? 0 == accepted[tenant], "\(tenant) totals")
            }
            #expect(api.state.usage.snapshot().allSatisfy { $0.clientID == "acme" || $0.clientID == "globex" })
        }
    }
}
