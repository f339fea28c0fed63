import Glibc
import Testing

/// `:5221/metrics` names every tenant's components, models and token counts: once any token is
/// configured it needs a `metrics_tokens` or operator token, on loopback as beyond it (other
/// tenants' processes share loopback). A tenant's token is 403, none or an unknown one 401.
@Suite("Metrics port access")
struct MetricsAccessTests {
    /// Each caller and the status it must get.
    static let matrix: [(caller: String, token: String?, status: Int)] = [
        ("none", nil, 401),
        ("unknown", "not-a-configured-token", 401),
        ("tenant acme", TenantFixtures.acmeToken, 403),
        ("tenant globex", TenantFixtures.globexToken, 403),
        ("metrics", TenantFixtures.metricsToken, 200),
        ("operator", TenantFixtures.operatorToken, 200),
    ]

    @Test("loopback: the token matrix over real HTTP")
    func loopback() async throws {
        try await StatusAPIHarness.withServer { api in
            try await checkMatrix(api)
        }
    }

    @Test("listening on every address, reached through a non-loopback address: the same matrix")
    func nonLoopback() async throws {
        let address = try #require(Self.nonLoopbackIPv4(), "this host has no non-loopback IPv4 address")
        try await StatusAPIHarness.withServer(listenAddress: "0.0.0.0", host: address) { api in
            #expect(api.metricsURL.contains(address))
            try await checkMatrix(api)
        }
    }

    private func checkMatrix(_ api: StatusAPIHarness) async throws {
        for (caller, token, status) in Self.matrix {
            let reply = try await api.metricsText(token: token)
            #expect(reply.status == status, "\(caller): \(reply.status) \(reply.text.prefix(200))")
            if status == 200 {
                #expect(reply.text.contains(#"client_id="globex""#), "\(caller) sees every tenant")
            } else {
                #expect(!reply.text.contains("client_id"), "\(caller) must not see any tenant: \(reply.text)")
                let error = try reply.error()
                #expect(error.code == (status == 401 ? "unauthorized" : "forbidden"))
            }
            if status == 401 { #expect(reply.header("WWW-Authenticate")?.hasPrefix("Bearer") == true) }
        }
    }

    /// The first IPv4 address of an interface that is up and not loopback.
    static func nonLoopbackIPv4() -> String? {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0, let first = list else { return nil }
        defer { freeifaddrs(list) }
        var entry: UnsafeMutablePointer<ifaddrs>? = first
        while let current = entry {
            defer { entry = current.pointee.ifa_next }
            let flags = Int32(current.pointee.ifa_flags)
            guard let address = current.pointee.ifa_addr, address.pointee.sa_family == sa_family_t(AF_INET),
                flags & Int32(IFF_UP) != 0, flags & Int32(IFF_LOOPBACK) == 0
            else { continue }
            var host = [CChar](repeating: 0, count: Int(NI_MAXHOST))
            let length = socklen_t(MemoryLayout<sockaddr_in>.size)
            guard getnameinfo(address, length, &host, socklen_t(host.count), nil, 0, NI_NUMERICHOST) == 0 else {
                continue
            }
            return String(decoding: host.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
        return nil
    }
}
