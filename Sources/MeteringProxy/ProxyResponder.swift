import AsyncHTTPClient
import HTTPTypes
import Hummingbird
import Logging
import ModelUsage
import NIOCore
import NIOHTTP1
import StatusAPI
import Synchronization
import WatcherModel
import WatcherProto

/// The request context of a proxy: Hummingbird's, plus the client's channel, so a response
/// streamed faster than NIO writes it can wait for the event loop (`ProxyResponder.respond`).
struct ProxyRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let channel: any Channel

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }
}

/// Answers one proxy's requests: forwards each to the upstream and streams the answer back,
/// metering the model calls of its provider's dialect.
struct ProxyResponder: HTTPResponder {
    typealias Context = ProxyRequestContext

    /// Bytes handed to the client's channel before the proxy waits for its event loop to have
    /// taken them: the writer only stops a producer once the socket is full, and a fast upstream
    /// could otherwise queue chunks faster than the event loop writes them (memory, not data).
    static let unsyncedBytesLimit = 1 << 20
    /// Request bodies up to this size (by their Content-Length) are read whole before they are
    /// sent on; larger ones, and chunked ones, stream.
    static let collectedBodyLimit = 1 << 20

    let component: String
    let clientID: String
    let proxy: ComponentConfig.Proxy
    let client: HTTPClient
    let recorder: UsageRecorder
    let metrics: ProxyMetrics
    let logger: Logger
    let upstreamBase: String
    /// Checks callers' tokens when `proxy.requireToken`.
    let authenticator: TokenAuthenticator
    /// Where refused requests are counted.
    let sourceLimits: SourceLimits
    /// The upstream's host and port: every request goes there and nowhere else.
    private let upstreamAuthority: (host: String, port: Int)?

    init(
        component: String,
        clientID: String,
        proxy: ComponentConfig.Proxy,
        client: HTTPClient,
        recorder: UsageRecorder,
        metrics: ProxyMetrics,
        logger: Logger,
        authenticator: TokenAuthenticator = TokenAuthenticator(auth: AuthConfig()),
        sourceLimits: SourceLimits = SourceLimits()
    ) {
        self.component = component
        self.clientID = clientID
        self.proxy = proxy
        self.client = client
        self.recorder = recorder
        self.metrics = metrics
        self.logger = logger
        self.authenticator = authenticator
        self.sourceLimits = sourceLimits
        var base = proxy.upstream
        while base.hasSuffix("/") { base.removeLast() }
        upstreamBase = base
        upstreamAuthority = (try? HTTPClient.Request(url: base)).map { ($0.host, $0.port) }
    }

    /// Request and response headers a proxy must not forward (RFC 9110 §7.6.1), besides those
    /// the `Connection` header names. Content-Length is set again from the body's own length.
    static let hopByHop: Set<String> = [
        "connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization", "te",
        "trailer", "transfer-encoding", "upgrade",
    ]

    func respond(to request: Request, context: Context) async throws -> Response {
        let started = ContinuousClock.now
        // `ProxyRequestGuard` let only origin-form heads through; checked again here because the
        // upstream URL is built from it.
        let path = request.head.path ?? ""
        if let refusal = ProxyRequestCheck.targetRefusal(method: .GET, target: path) {
            return refuse(refusal, context: context)
        }
        var tokenHeader: HTTPField.Name?
        if proxy.requireToken {
            switch authorize(request.headers) {
            case .success(let header): tokenHeader = header
            case .failure(let refusal): return refuse(refusal, context: context)
            }
        }
        let dialect = ProxyRoutes.meteredDialect(provider: proxy.provider, method: request.method, path: path)

        var upstreamHeaders = HTTPHeaders()
        let requestDropped = Self.droppedHeaders(request.headers)
        var contentLength: Int?
        var chunked = false
        for field in request.headers {
            let name = field.name.canonicalName
            if name == "content-length" { contentLength = Int(field.value) }
            if name == "transfer-encoding" { chunked = true }
            if requestDropped.contains(name) || name == "content-length" { continue }
            // The caller's token for the proxy is not the upstream's business.
            if field.name == tokenHeader { continue }
            upstreamHeaders.add(name: field.name.rawName, value: field.value)
        }
        let eventLoop = context.channel.eventLoop
        var upstreamBody: HTTPClient.Body?
        let overCap = BodyCapFlag()
        if chunked || (contentLength ?? 0) > Self.collectedBodyLimit {
            let stream = request.body
            let cap = proxy.maxBodyBytes
            upstreamBody = .stream(contentLength: chunked ? nil : contentLength.map(Int64.init)) { writer in
                let sent = eventLoop.makePromise(of: Void.self)
                sent.completeWithTask {
                    var total = 0
                    for try await chunk in stream {
                        total += chunk.readableBytes
                        // A declared length over the cap never gets here (ProxyRequestGuard).
                        if total > cap { throw overCap.set() }
                        try await writer.write(.byteBuffer(chunk)).get()
                    }
                }
                return sent.futureResult
            }
        } else if let contentLength {
            // A model call's body is a few KiB: read whole, it goes out in one write.
            upstreamBody = .byteBuffer(try await request.body.collect(upTo: contentLength))
        }

        let upstreamRequest: HTTPClient.Request
        do {
            upstreamRequest = try HTTPClient.Request(
                url: upstreamBase + path,
                method: NIOHTTP1.HTTPMethod(rawValue: request.method.rawValue),
                headers: upstreamHeaders,
                body: upstreamBody
            )
        } catch {
            return refuse(
                .badRequest("invalid_request_target", "the request target is not a valid path"),
                context: context
            )
        }
        guard let upstreamAuthority, upstreamRequest.host == upstreamAuthority.host,
            upstreamRequest.port == upstreamAuthority.port
        else {
            return refuse(
                .badRequest("invalid_request_target", "the request target would leave the upstream"),
                context: context
            )
        }

        // The exchange runs on this client connection's event loop and sees every body part the
        // moment it is decoded (UpstreamExchange), which also records it. The pool prefers an
        // idle upstream connection on the same loop; `.delegateAndChannel` would instead make the
        // pool open an "overflow" connection per request and close it when idle
        // (AsyncHTTPClient's HTTP1StateMachine): one TCP handshake and TIME-WAIT socket per
        // proxied request.
        let session = MeteredExchange(
            component: component,
            clientID: clientID,
            provider: proxy.provider.rawValue,
            started: started,
            recorder: recorder,
            metrics: metrics,
            logger: logger
        )
        let (exchange, parts) = UpstreamExchange.make(
            eventLoop: eventLoop,
            allowsWhole: request.method != .head,
            dialect: dialect,
            session: session
        )
        overCap.exchange = exchange
        // From here the exchange ends the in-flight count, however the request ends.
        metrics.began()
        let task = client.execute(
            request: upstreamRequest,
            delegate: exchange,
            eventLoop: .delegate(on: eventLoop),
            deadline: .now() + .hours(1),
            logger: nil
        )
        let answer: UpstreamExchange.Answer
        do {
            answer = try await exchange.answer.futureResult.get()
        } catch {
            if overCap.isSet {
                return refuse(Self.bodyTooLarge(cap: proxy.maxBodyBytes), context: context)
            }
            let reason = Self.failureReason(error)
            metrics.responded(status: 502)
            logger.warning(
                "metering proxy: the upstream did not answer",
                metadata: [
                    "component": "\(component)", "upstream": "\(upstreamBase)", "reason": "\(reason)",
                    "error": "\(error)",
                ]
            )
            return Self.badGateway(reason: reason, upstream: upstreamBase, error: error)
        }

        let upstream: HTTPResponseHead
        var wholeBody: ByteBuffer?
        switch answer {
        case .whole(let head, let body):
            upstream = head
            wholeBody = body
        case .streaming(let head):
            upstream = head
        }
        var headers = HTTPFields()
        var responseDropped = Self.droppedHeaders(upstream.headers)
        // A whole answer's length is set again from its body.
        if wholeBody != nil { responseDropped.insert("content-length") }
        for header in upstream.headers {
            let name = header.name.lowercased()
            if responseDropped.contains(name) { continue }
            guard let fieldName = HTTPField.Name(header.name) else { continue }
            headers.append(HTTPField(name: fieldName, value: header.value))
        }
        let responseStatus = HTTPResponse.Status(
            code: Int(upstream.status.code),
            reasonPhrase: upstream.status.reasonPhrase
        )
        if let wholeBody {
            return Response(status: responseStatus, headers: headers, body: ResponseBody(byteBuffer: wholeBody))
        }
        return Response(
            status: responseStatus,
            headers: headers,
            body: ResponseBody { writer in
                var unsyncedBytes = 0
                // An upstream failure ends `parts` with its error (the exchange has recorded it).
                for try await chunk in parts {
                    unsyncedBytes += chunk.readableBytes
                    do {
                        try await writer.write(chunk)
                        if unsyncedBytes >= Self.unsyncedBytesLimit {
                            unsyncedBytes = 0
                            try await eventLoop.submit {}.get()
                        }
                    } catch {
                        // The client is gone: the upstream request ends now.
                        exchange.clientLeft()
                        task.cancel()
                        throw error
                    }
                }
                try await writer.finish(nil)
            }
        )
    }

    /// The token header to keep from the upstream, or why the caller is refused: a tenant token
    /// of this component's `client_id` or an operator token, sent as `Proxy-Authorization:
    /// Bearer` (never forwarded, so `Authorization` stays free for the upstream's own key) or
    /// `Authorization: Bearer` (then taken off the forwarded request).
    func authorize(_ headers: HTTPFields) -> Result<HTTPField.Name, ProxyRequestCheck.Refusal> {
        let header: HTTPField.Name = headers[.proxyAuthorization] != nil ? .proxyAuthorization : .authorization
        let principal: Principal
        do {
            principal = try authenticator.authenticate(authorization: headers[header])
        } catch {
            return .failure(
                ProxyRequestCheck.Refusal(
                    status: .unauthorized,
                    code: error.code,
                    message: error.message,
                    reason: "proxy_token_refused"
                )
            )
        }
        switch principal {
        case .operator, .open: return .success(header)
        case .tenant(let tenant) where tenant == clientID: return .success(header)
        case .tenant:
            return .failure(
                ProxyRequestCheck.Refusal(
                    status: .forbidden,
                    code: "forbidden",
                    message: "this token belongs to another tenant than this proxy's (\(clientID))",
                    reason: "proxy_token_refused"
                )
            )
        }
    }

    static func bodyTooLarge(cap: Int) -> ProxyRequestCheck.Refusal {
        ProxyRequestCheck.Refusal(
            status: .payloadTooLarge,
            code: "body_too_large",
            message: "the request body is larger than the proxy's max_body_bytes (\(cap))",
            reason: "proxy_body_too_large"
        )
    }

    /// Counts `refusal` and answers it with the JSON error shape; the connection then closes
    /// once the answer is written (its input is shut, so what the client still sends of the
    /// refused request is not read).
    func refuse(_ refusal: ProxyRequestCheck.Refusal, context: Context) -> Response {
        sourceLimits.note(component: component, reason: refusal.reason, detail: refusal.message)
        var json = JSONWriter()
        json.beginObject()
        json.key("error")
        json.beginObject()
        json.member("code", refusal.code)
        json.member("message", refusal.message)
        json.endObject()
        json.endObject()
        var headers: HTTPFields = [.contentType: "application/json", .connection: "close"]
        if refusal.status == .unauthorized { headers[.wwwAuthenticate] = "Bearer realm=\"resource-watcher\"" }
        context.channel.close(mode: .input, promise: nil)
        return Response(
            status: HTTPResponse.Status(code: Int(refusal.status.code), reasonPhrase: refusal.status.reasonPhrase),
            headers: headers,
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: json.bytes))
        )
    }

    /// Hop-by-hop names, plus any the message's `Connection` header lists (lowercased).
    static func droppedHeaders(_ headers: HTTPFields) -> Set<String> {
        var dropped = hopByHop
        for value in headers[values: .connection] {
            for token in value.split(separator: ",") {
                dropped.insert(token.trimmingWhitespace().lowercased())
            }
        }
        return dropped
    }

    static func droppedHeaders(_ headers: HTTPHeaders) -> Set<String> {
        var dropped = hopByHop
        for value in headers["connection"] {
            for token in value.split(separator: ",") {
                dropped.insert(token.trimmingWhitespace().lowercased())
            }
        }
        return dropped
    }

    /// A short, stable name for why the upstream exchange failed (a metric label).
    static func failureReason(_ error: any Error) -> String {
        if let error = error as? HTTPClientError {
            switch error {
            case .connectTimeout, .readTimeout, .deadlineExceeded, .getConnectionFromPoolTimeout: return "timeout"
            case .remoteConnectionClosed: return "closed_mid_stream"
            default: break
            }
        }
        let text = "\(error)".lowercased()
        if text.contains("connection refused") || text.contains("connect") { return "connect_failed" }
        return "other"
    }

    /// 502 with the DESIGN error shape (`error.message` is also where OpenAI clients look).
    static func badGateway(reason: String, upstream: String, error: any Error) -> Response {
        var json = JSONWriter()
        json.beginObject()
        json.key("error")
        json.beginObject()
        json.key("code")
        json.string("upstream_unavailable")
        json.key("reason")
        json.string(reason)
        json.key("message")
        json.string("the metering proxy could not reach its upstream \(upstream) (\(reason)): \(error)")
        json.endObject()
        json.endObject()
        return Response(
            status: .badGateway,
            headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: json.bytes))
        )
    }
}

extension Substring {
    fileprivate func trimmingWhitespace() -> String {
        var text = self
        while let first = text.first, first == " " || first == "\t" { text = text.dropFirst() }
        while let last = text.last, last == " " || last == "\t" { text = text.dropLast() }
        return String(text)
    }
}

/// Set when a streamed request body passed the cap: the upstream request then fails, and the
/// client gets 413 instead of 502.
final class BodyCapFlag: Sendable {
    private let state = Mutex<(set: Bool, exchange: UpstreamExchange?)>((false, nil))

    /// The exchange to tell the failure's name to (set before the body streams).
    var exchange: UpstreamExchange? {
        get { state.withLock { $0.exchange } }
        set { state.withLock { $0.exchange = newValue } }
    }

    var isSet: Bool { state.withLock { $0.set } }

    /// Marks the cap as passed; the error to fail the body stream with.
    func set() -> any Error {
        let exchange = state.withLock { state in
            state.set = true
            return state.exchange
        }
        exchange?.noteFailure("request_body_too_large")
        return BodyTooLarge()
    }

    struct BodyTooLarge: Error {}
}
