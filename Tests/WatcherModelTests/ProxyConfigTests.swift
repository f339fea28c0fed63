import Testing

@testable import WatcherModel

/// The metering proxy's access and body settings (`require_token`, `max_body_bytes`).
@Suite struct ProxyConfigTests {
    private func proxyConfig(listen: String, proxy: String, auth: String = "{}") -> String {
        """
        {"listen_address": "\(listen)", "auth": \(auth),
         "components": [{"name": "ollama", "ports": [11434],
                         "proxy": {"listen_port": 11435, "upstream": "http://127.0.0.1:11434"\(proxy)}}]}
        """
    }

    @Test("a proxy on a non-loopback listen_address without require_token is a config error naming the key")
    func nonLoopbackProxyNeedsTokens() {
        let operatorAuth = #"{"operator_tokens": [{"sha256": "\#(tokenHash)"}]}"#
        #expect(
            problems(in: proxyConfig(listen: "0.0.0.0", proxy: "", auth: operatorAuth)) == [
                ConfigProblem(
                    path: "$.components[0].proxy.require_token",
                    message: "must be true: the proxy listens on 0.0.0.0, which is not a loopback address, "
                        + "and anyone who reaches it would be metered as this component's tenant"
                )
            ]
        )
        #expect(
            problems(in: proxyConfig(listen: "0.0.0.0", proxy: #", "require_token": false"#, auth: operatorAuth))
                .map(\.path) == ["$.components[0].proxy.require_token"]
        )
        #expect(
            problems(in: proxyConfig(listen: "0.0.0.0", proxy: #", "require_token": true"#, auth: operatorAuth)) == []
        )
        // On loopback a proxy may stay open.
        #expect(problems(in: proxyConfig(listen: "127.0.0.1", proxy: "")) == [])
    }

    @Test("require_token without any token configured is a config error: no caller could pass")
    func requireTokenNeedsTokens() {
        #expect(
            problems(in: proxyConfig(listen: "127.0.0.1", proxy: #", "require_token": true"#)) == [
                ConfigProblem(
                    path: "$.components[0].proxy.require_token",
                    message: "is true but no token could pass: add auth.tokens (the component's client_id) "
                        + "or auth.operator_tokens"
                )
            ]
        )
    }

    @Test("max_body_bytes defaults to 32 MiB, is read, and is bounded")
    func maxBodyBytes() throws {
        let defaults = try parse(proxyConfig(listen: "127.0.0.1", proxy: ""))
        #expect(defaults.components.first?.proxy?.maxBodyBytes == 32 << 20)
        #expect(defaults.components.first?.proxy?.requireToken == false)
        let set = try parse(proxyConfig(listen: "127.0.0.1", proxy: #", "max_body_bytes": 4096"#))
        #expect(set.components.first?.proxy?.maxBodyBytes == 4096)
        #expect(
            problems(in: proxyConfig(listen: "127.0.0.1", proxy: #", "max_body_bytes": 10"#)).map(\.path)
                == ["$.components[0].proxy.max_body_bytes"]
        )
    }
}
