/// Bearer tokens of the status API (`auth`), stored as SHA-256 hashes so the config file holds
/// no secret (`printf %s "$TOKEN" | sha256sum`).
public struct AuthConfig: Sendable, Equatable {
    /// Tokens that may read one tenant each (`tokens`).
    public var tokens: [Token]
    /// Tokens that may read every tenant (`operator_tokens`).
    public var operatorTokens: [OperatorToken]

    /// No tokens: the API is open, which is allowed only on loopback.
    /// Tokens that may scrape `metrics_port` (`metrics_tokens`); when set, `/metrics` needs one
    /// of them or an operator token.
    public var metricsTokens: [OperatorToken]

    public init(tokens: [Token] = [], operatorTokens: [OperatorToken] = [], metricsTokens: [OperatorToken] = []) {
        self.tokens = tokens
        self.operatorTokens = operatorTokens
        self.metricsTokens = metricsTokens
    }

    /// True when no token of either kind is configured.
    public var isEmpty: Bool { tokens.isEmpty && operatorTokens.isEmpty }

    /// A token that belongs to one tenant.
    public struct Token: Sendable, Equatable {
        /// The tenant this token may read (`client_id`).
        public var clientID: String
        /// SHA-256 of the token, 64 lowercase hex characters (`sha256`).
        public var sha256: String

        /// A tenant's token by its hash.
        public init(clientID: String, sha256: String) {
            self.clientID = clientID
            self.sha256 = sha256
        }
    }

    /// A token that may read every tenant.
    public struct OperatorToken: Sendable, Equatable {
        /// SHA-256 of the token, 64 lowercase hex characters (`sha256`).
        public var sha256: String

        /// An operator token by its hash.
        public init(sha256: String) {
            self.sha256 = sha256
        }
    }
}
