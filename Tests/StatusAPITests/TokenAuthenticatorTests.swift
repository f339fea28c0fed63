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

    @Test("a token's hash is SHA-256 in lowercase hex, as `sha256sum` prints it (FIPS 180-4 test vectors)")
    func sha256Vectors() {
        #expect(TokenAuthenticator.sha256Hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(
            TokenAuthenticator.sha256Hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        )
        #expect(
            TokenAuthenticator.sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        )
    }

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

    @Test("once any token is configured a scrape needs a metrics or operator token: tenant 403, none or unknown 401")
    func scrapeTokens() throws {
        let configured = [
            auth,
            AuthConfig(tokens: auth.tokens),
            AuthConfig(operatorTokens: auth.operatorTokens),
            AuthConfig(metricsTokens: auth.metricsTokens),
        ]
        for auth in configured {
            let authenticator = TokenAuthenticator(auth: auth)
            #expect(authenticator.metricsNeedToken)
            for (header, status) in [
                (nil, 401), ("Bearer wrong", 401), ("scraper-secret", 401), ("Bearer acme-secret", 403),
            ] as [(String?, Int)] {
                let expected = status == 403 && auth.tokens.isEmpty ? 401 : status
                #expect("\(header ?? "none")") {
                    try authenticator.authenticateScrape(authorization: header)
                } throws: { error in
                    Int((error as? APIError)?.status.code ?? 0) == expected
                }
            }
            if !auth.metricsTokens.isEmpty {
                try authenticator.authenticateScrape(authorization: "Bearer scraper-secret")
            }
            if !auth.operatorTokens.isEmpty {
                try authenticator.authenticateScrape(authorization: "Bearer operator-secret")
            }
        }
        let open = TokenAuthenticator(auth: AuthConfig())
        #expect(!open.metricsNeedToken)
        try open.authenticateScrape(authorization: nil)
    }

    @Test("the configured form of a token is its lowercase hex SHA-256")
    func sha256Hex() {
        // printf abc | sha256sum
        #expect(
            TokenAuthenticator.sha256Hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        )
    }
}
