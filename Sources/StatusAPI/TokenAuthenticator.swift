import CCrypto
public import WatcherModel

/// Who made a request, after checking its bearer token (DESIGN §4).
public enum Principal: Sendable, Equatable {
    /// No tokens are configured: the API is open (the config allows this on loopback only).
    case open
    /// A tenant's token: may read and write its own `client_id` only.
    case tenant(String)
    /// An operator token: may read every tenant.
    case `operator`

    /// Whether this principal may see `clientID`'s data.
    func mayAccess(_ clientID: String) -> Bool {
        switch self {
        case .open, .operator: true
        case .tenant(let own): own == clientID
        }
    }
}

/// Checks `Authorization: Bearer <token>` against the configured SHA-256 hashes. The token is
/// hashed and compared with every configured hash in constant time (no early exit on a
/// mismatch, no branch on where it differs); tokens are never logged or kept.
public struct TokenAuthenticator: Sendable {
    private let tenantHashes: [(clientID: String, hash: [UInt8])]
    private let operatorHashes: [[UInt8]]
    private let metricsHashes: [[UInt8]]

    /// Whether `metrics_port` needs a (metrics or operator) token: as soon as any token is
    /// configured. Its families name every tenant's components, models and token counts, and
    /// other tenants' processes share loopback, so there is no loopback exception.
    public let metricsNeedToken: Bool

    /// Checks tokens of `auth`.
    public init(auth: AuthConfig) {
        tenantHashes = auth.tokens.compactMap { token in Self.bytes(hex: token.sha256).map { (token.clientID, $0) } }
        operatorHashes = auth.operatorTokens.compactMap { Self.bytes(hex: $0.sha256) }
        metricsHashes = auth.metricsTokens.compactMap { Self.bytes(hex: $0.sha256) }
        metricsNeedToken = !auth.isEmpty || !auth.metricsTokens.isEmpty
    }

    /// Checks a scrape of `/metrics`: a metrics or operator token passes; a tenant's token is
    /// 403 (it would see other tenants); none or an unknown one is 401. Open when no token is
    /// configured at all (the config allows that on loopback only).
    public func authenticateScrape(authorization: String?) throws(APIError) {
        guard metricsNeedToken else { return }
        guard let digest = Self.bearerDigest(authorization) else {
            throw APIError.unauthorized("missing bearer token: send Authorization: Bearer <token>")
        }
        // Compare with every hash, always: the time taken does not depend on which one matched.
        var scraper = false
        var tenant = false
        for hash in metricsHashes + operatorHashes where Self.constantTimeEqual(digest, hash) { scraper = true }
        for (_, hash) in tenantHashes where Self.constantTimeEqual(digest, hash) { tenant = true }
        if scraper { return }
        if tenant {
            throw APIError.forbidden(
                "a tenant token cannot read /metrics (it names every tenant): use a metrics_tokens or operator token"
            )
        }
        throw APIError.unauthorized("unknown bearer token")
    }

    /// SHA-256 of the token in a `Bearer <token>` header value; nil when there is none.
    private static func bearerDigest(_ authorization: String?) -> [UInt8]? {
        guard let authorization else { return nil }
        let parts = authorization.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer", !parts[1].isEmpty else { return nil }
        return sha256(Array(parts[1].utf8))
    }

    /// Whether any token is configured; with none, every request is `.open`.
    public var isOpen: Bool { tenantHashes.isEmpty && operatorHashes.isEmpty }

    /// The principal of a request with this `Authorization` header value; throws 401.
    public func authenticate(authorization: String?) throws(APIError) -> Principal {
        if isOpen { return .open }
        guard let authorization, !authorization.isEmpty else {
            throw APIError.unauthorized("missing bearer token: send Authorization: Bearer <token>")
        }
        let parts = authorization.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer", !parts[1].isEmpty else {
            throw APIError.unauthorized("the Authorization header is not \"Bearer <token>\"")
        }
        let digest = Self.sha256(Array(parts[1].utf8))
        var tenant: String?
        var isOperator = false
        // Compare with every hash, always: the time taken does not depend on which one matched.
        for (clientID, hash) in tenantHashes where Self.constantTimeEqual(digest, hash) {
            tenant = clientID
        }
        for hash in operatorHashes where Self.constantTimeEqual(digest, hash) { isOperator = true }
        if isOperator { return .operator }
        if let tenant { return .tenant(tenant) }
        throw APIError.unauthorized("unknown bearer token")
    }

    static func constantTimeEqual(_ left: [UInt8], _ right: [UInt8]) -> Bool {
        guard left.count == right.count else { return false }
        var difference: UInt8 = 0
        for index in left.indices { difference |= left[index] ^ right[index] }
        return difference == 0
    }

    /// SHA-256 of `bytes` (OpenSSL's one-shot `SHA256`).
    static func sha256(_ bytes: [UInt8]) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: Int(SHA256_DIGEST_LENGTH))
        bytes.withUnsafeBufferPointer { input in
            digest.withUnsafeMutableBufferPointer { output in
                _ = SHA256(input.baseAddress, input.count, output.baseAddress)
            }
        }
        return digest
    }

    /// The SHA-256 of `token` as lowercase hex, as the config stores it.
    public static func sha256Hex(_ token: String) -> String {
        sha256(Array(token.utf8)).map { byte in
            let digits = Array("0123456789abcdef")
            return String(digits[Int(byte >> 4)]) + String(digits[Int(byte & 0xF)])
        }.joined()
    }

    private static func bytes(hex: String) -> [UInt8]? {
        let digits = Array(hex.lowercased().utf8)
        guard digits.count == 64 else { return nil }
        var bytes: [UInt8] = []
        for index in stride(from: 0, to: 64, by: 2) {
            guard let high = nibble(digits[index]), let low = nibble(digits[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
        }
        return bytes
    }

    private static func nibble(_ digit: UInt8) -> UInt8? {
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
        default: nil
        }
    }
}
