import StatusAPI
import Testing
import WatcherModel

/// Bearer tokens checked against configured SHA-256 hashes (DESIGN §4), for the API and for
/// `metrics_port` when `auth.metrics_tokens` is set.
@Suite("Token authenticator")
struct TokenAuthenticatorTests {
    private let auth = AuthConfig(
        tokens: [.init(clientID: "acme", sha256: TokenAuthenticator.sha256Hex("acme-secret"))],
        operatorTokens: [.init(sha256: TokenAuthenticator.sha256Hex("operator-secret"))],
        metricsTokens: [.init(sha256: TokenAuthenticator.sha256Hex("scraper-secret"))]
    )

    @Test("tokens map to their tenant or to operator; missing, malformed and unknown ones are 401")
    func apiTokens() throws {
        let authenticator = TokenAuthenticator(auth: auth)
        #expect(try authenticator.authenticate(authorization: "Bearer acme-secret") == .tenant("acme"))
        #expect(try authenticator.authenticate(authorization: "bearer operator-secret") == .operator)
        for header in [nil, "", "Bearer", "Basic YWNtZTpzZWNyZXQ=", "Bearer acme-secret2", "Bearer scraper-secret"] {
            #expect(throws: APIError.self, "\(header ?? "none")") {
                try authenticator.authenticate(authorization: header)
            }
        }
        #expect(try TokenAuthenticator(auth: AuthConfig()).authenticate(authorization: nil) == .open)
    }

    @Test("with metrics_tokens set, a scrape needs a metrics or operator token; without, it is open")
    func scrapeTokens() throws {
        let authenticator = TokenAuthenticator(auth: auth)
        try authenticator.authenticateScrape(authorization: "Bearer scraper-secret")
        try authenticator.authenticateScrape(authorization: "Bearer operator-secret")
        for header in [nil, "Bearer acme-secret", "Bearer wrong", "scraper-secret"] {
            #expect(throws: APIError.self, "\(header ?? "none")") {
                try authenticator.authenticateScrape(authorization: header)
            }
        }
        let open = TokenAuthenticator(auth: AuthConfig(tokens: auth.tokens))
        try open.authenticateScrape(authorization: nil)
        // Secure by default: tokens configured and a listener beyond loopback close /metrics too.
        let exposed = TokenAuthenticator(
            auth: AuthConfig(tokens: auth.tokens, operatorTokens: auth.operatorTokens),
            loopbackOnly: false
        )
        #expect(throws: APIError.self) { try exposed.authenticateScrape(authorization: nil) }
        try exposed.authenticateScrape(authorization: "Bearer operator-secret")
    }

    @Test("the configured form of a token is its lowercase hex SHA-256")
    func sha256Hex() {
        // printf abc | sha256sum
        #expect(
            TokenAuthenticator.sha256Hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        )
    }
}
