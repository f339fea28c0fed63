import HTTPTransport
import WatcherModel

/// Why `status` could not get an answer: what happened, and what the user might do about it.
struct StatusFailure: Error {
    let message: String
    let hint: String?
}

/// GETs JSON documents from the status API over libcurl.
struct StatusClient {
    let baseURL: String
    let token: String?
    private let transport: CurlTransport

    init(baseURL: String, token: String?, timeout: Duration) {
        self.baseURL = baseURL
        self.token = token
        self.transport = CurlTransport(
            userAgent: "resource-watcher/\(AgentVersion.current) (status)",
            connectTimeout: min(timeout, .seconds(2)),
            requestTimeout: timeout
        )
    }

    /// The JSON body of a 2xx answer to `GET path`; anything else is a `StatusFailure`.
    func get(_ path: String) async throws(StatusFailure) -> JSONValue {
        var headers: [(name: String, value: String)] = [("Accept", "application/json")]
        if let token { headers.append(("Authorization", "Bearer \(token)")) }
        let response: HTTPResponse
        do {
            response = try await transport.send(HTTPRequest(url: baseURL + path, headers: headers))
        } catch {
            throw StatusFailure(
                message: "the agent at \(baseURL) is unreachable: \(error)",
                hint: "is `resource-watcher run` running with this configuration's listen_address and port? "
                    + "--url asks another address"
            )
        }
        let body = try? JSONParser.parse(response.body)
        guard response.isSuccess else {
            throw failure(status: response.status, body: body, raw: response.body, path: path)
        }
        guard let body, case .object = body else {
            throw StatusFailure(
                message: "\(baseURL)\(path) answered \(response.status) with something that is not a JSON object",
                hint: "is another program listening there? --url asks another address"
            )
        }
        return body
    }

    /// The API's `{"error": {"code", "message"}}` in words, with a hint for the usual causes.
    private func failure(status: Int, body: JSONValue?, raw: [UInt8], path: String) -> StatusFailure {
        let code = body?["error"]?["code"]?.text
        let detail = body?["error"]?["message"]?.text ?? String(decoding: raw.prefix(200), as: UTF8.self)
        let endpoint = String(path.prefix { $0 != "?" })
        let message = "the agent at \(baseURL) refused GET \(endpoint): \(status) \(code ?? "error"): \(detail)"
        let hint: String? =
            switch (status, code) {
            case (401, _) where token == nil:
                "this agent requires an API token: pass --token TOKEN or set RESOURCE_WATCHER_TOKEN"
            case (401, _): "the token from --token or RESOURCE_WATCHER_TOKEN was not accepted; check it"
            case (403, _):
                "the token belongs to another tenant: pass that tenant with --client-id, or use an operator token"
            case (404, "unknown_client_id"): "pass a configured tenant with --client-id"
            case (404, _): "is another program listening there? --url asks another address"
            default: nil
            }
        return StatusFailure(message: message, hint: hint)
    }
}
