public import Hummingbird
import NIOCore
import Spool
import SwiftProtobuf
import WatcherModel
import WatcherProto

/// The `:5220` API (DESIGN §3, §4, §8): the seed's endpoints answered from the in-memory head,
/// `POST /v1/usage`, and the OpenAPI document.
public enum StatusRoutes {
    /// Distinct (provider, model) pairs one tenant may report.
    public static let maximumModelsPerTenant = 1000

    /// Request bodies larger than this get 413.
    public static let maximumBodyBytes = 1 << 20

    /// Every path and the methods it answers (for 405 and `Allow`).
    static let routes: [String: [HTTPRequest.Method]] = [
        "/health": [.get], "/metrics/components": [.get], "/metrics/models": [.get], "/alerts": [.get],
        "/v1/usage": [.post], "/openapi.json": [.get],
    ]

    /// The router of the `:5220` application.
    public static func router(state: StatusState) -> Router<BasicRequestContext> {
        let router = Router()
        router.add(middleware: ErrorShapeMiddleware(routes: routes))
        router.get("/health") { request, _ in
            // Open to all, but only the seed's fields for callers who are not operators: the
            // details (agent id, every tenant's component counts, sink errors) are agent-wide.
            let principal = try? state.authenticator.authenticate(authorization: request.headers[.authorization])
            let detailed = principal == .open || principal == .operator
            return json(HealthReport.body(state: state, detailed: detailed))
        }
        router.get("/metrics/components") { request, _ in
            let clientID = try authorize(request, state: state)
            return json(state.headView("components/" + clientID) { SeedViews.components(in: $0, clientID: clientID) })
        }
        router.get("/metrics/models") { request, _ in
            let clientID = try authorize(request, state: state)
            return json(
                SeedViews.models(
                    state.usage.snapshot(),
                    clientID: clientID,
                    nowUnixMilliseconds: RFC3339.nowUnixMilliseconds()
                )
            )
        }
        router.get("/alerts") { request, _ in
            let clientID = try authorize(request, state: state)
            return json(state.headView("alerts/" + clientID) { SeedViews.alerts(in: $0, clientID: clientID) })
        }
        router.post("/v1/usage") { request, _ in try await ingestUsage(request, state: state) }
        router.get("/openapi.json") { _, _ in json(Array(OpenAPIDocument.json.utf8)) }
        return router
    }

    static func json(_ bytes: [UInt8], status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status,
            headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes))
        )
    }

    /// The `client_id` a read request may see: its query parameter, or the caller's own tenant.
    /// 401 without a valid token, 403 for another tenant's data, 404 for an unknown tenant.
    static func authorize(_ request: Request, state: StatusState) throws(APIError) -> String {
        let principal = try state.authenticator.authenticate(authorization: request.headers[.authorization])
        let asked = request.uri.queryParameters.get("client_id")
        let clientID: String
        if let asked {
            // The config's rule: a client_id outside it can name no tenant (docs/openapi.json says so).
            guard isIdentifier(asked) else {
                throw .badRequest(
                    "invalid_parameter",
                    "client_id must be 1 to 128 characters: a letter or digit, then letters, digits, '_', '.' or '-'"
                )
            }
            clientID = asked
        } else if case .tenant(let own) = principal {
            clientID = own
        } else {
            clientID = state.config.clientID
        }
        guard principal.mayAccess(clientID) else {
            throw .forbidden("this token may not read client_id \"\(clientID)\"")
        }
        guard state.knownTenants.contains(clientID) else {
            throw APIError(.notFound, code: "unknown_client_id", "no tenant with client_id \"\(clientID)\"")
        }
        return clientID
    }

    /// Whether a `Content-Type` value is `application/json`, with or without parameters
    /// (`; charset=utf-8`); `application/jsonl` or `application/json-seq` are other types.
    static func isJSONMediaType(_ value: String) -> Bool {
        let type = value.prefix { $0 != ";" }.lowercased()
        return type.split(whereSeparator: { $0 == " " || $0 == "\t" }) == ["application/json"]
    }

    static func ingestUsage(_ request: Request, state: StatusState) async throws -> Response {
        let principal = try state.authenticator.authenticate(authorization: request.headers[.authorization])
        if let type = request.headers[.contentType], !isJSONMediaType(type) {
            throw APIError(
                .unsupportedMediaType,
                code: "unsupported_media_type",
                "Content-Type must be application/json, got \(type)"
            )
        }
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: maximumBodyBytes)
        } catch is NIOTooManyBytesError {
            throw APIError(
                .contentTooLarge,
                code: "body_too_large",
                "the request body is larger than the limit of \(maximumBodyBytes) bytes (1 MiB)"
            )
        }
        var events = try UsageEvents.parse(
            Array(buffer.readableBytesView),
            principal: principal,
            defaultClientID: state.config.clientID,
            knownTenants: state.knownTenants,
            nowUnixMilliseconds: RFC3339.nowUnixMilliseconds()
        )
        // The schema allows 256 code points; what is kept is 256 bytes, like every other path.
        for index in events.indices {
            let (name, wasCut) = BoundedName.bounded(events[index].name)
            guard wasCut else { continue }
            events[index].name = name
            state.limits.note(
                component: "usage_api",
                reason: "model_name_cut",
                detail: "model names are kept to \(InputLimitsConfig.nameBytes) bytes of UTF-8"
            )
        }
        // Every model is a series in every batch and sink: a tenant may not grow them without
        // bound. Checked and reserved in one step, so concurrent posts cannot pass the cap together.
        let admission = state.usage.admitModels(events, limit: maximumModelsPerTenant)
        if let refused = admission.refused {
            // 409: the request is valid, but the tenant's state (its models so far) refuses it.
            throw APIError(
                .conflict,
                code: "too_many_models",
                "client_id \"\(refused.clientID)\" would have \(refused.count) distinct models; the limit is \(maximumModelsPerTenant)"
            )
        }
        do {
            // Durable before it is acknowledged: a crash after the 202 loses nothing.
            try await state.recorder.record(events)
        } catch {
            state.usage.releaseModels(events)
            throw APIError(.serviceUnavailable, code: "spool_unavailable", "the event could not be stored: \(error)")
        }
        var json = JSONWriter()
        json.beginObject()
        json.key("accepted")
        json.number(Int64(events.count))
        json.endObject()
        return Self.json(json.bytes, status: .accepted)
    }
}
