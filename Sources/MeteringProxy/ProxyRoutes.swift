import HTTPTypes
import ModelUsage
import WatcherModel

/// Which requests are model use, per provider; every other request passes through uncounted.
enum ProxyRoutes {
    static let ollamaPaths: Set<String> = ["/api/generate", "/api/chat", "/api/embed"]
    static let openAIPaths: Set<String> = ["/v1/chat/completions", "/v1/completions", "/v1/embeddings"]

    /// The dialect to read the response as when `method path` is a model call, else nil.
    static func meteredDialect(
        provider: ComponentConfig.Proxy.Provider,
        method: HTTPRequest.Method,
        path: String
    ) -> ResponseUsageScanner.Dialect? {
        guard method == .post else { return nil }
        let bare =
            path.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? path
        switch provider {
        case .ollama: return ollamaPaths.contains(bare) ? .ollama : nil
        case .openai: return openAIPaths.contains(bare) ? .openAI : nil
        }
    }
}
