import AsyncHTTPClient
import HTTPTypes
import Hummingbird
import Logging
import ModelUsage
import NIOCore
import NIOHTTP1
import WatcherModel
import WatcherProto

/// Answers one proxy's requests: forwards each to the upstream and streams the answer back,
/// metering the model calls of its provider's dialect.
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

    init(
        component: String,
        clientID: String,
        proxy: ComponentConfig.Proxy,
        client: HTTPClient,
        recorder: UsageRecorder,
        metrics: ProxyMetrics,
        logger: Logger
    ) {
        self.component = component
        self.clientID = clientID
        self.proxy = proxy
        self.client = client
        self.recorder = recorder
        self.metrics = metrics
        self.logger = logger
        var base = proxy.upstream
        while base.hasSuffix("/") { base.removeLast() }
        upstreamBase = base
    }

    /// Request and response headers a proxy must not forward (RFC 9110 §7.6.1), besides those
    /// the `Connection` header names. Content-Length is set again from the body's own length.
    static let hopByHop: Set<String> = [
        "connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization", "te",
        "trailer", "transfer-encoding", "upgrade",
    ]

    func respond(to request: Request, context: Context) async throws -> Response {
        let started = ContinuousClock.now
        metrics.began()
        let path = request.head.path ?? "/"
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
            upstreamHeaders.add(name: field.name.rawName, value: field.value)
        }
        let eventLoop = context.channel.eventLoop
        var upstreamBody: HTTPClient.Body?
        if chunked || (contentLength ?? 0) > Self.collectedBodyLimit {
            let stream = request.body
            upstreamBody = .stream(contentLength: chunked ? nil : contentLength.map(Int64.init)) { writer in
                let sent = eventLoop.makePromise(of: Void.self)
                sent.completeWithTask {
                    for try await chunk in stream { try await writer.write(.byteBuffer(chunk)).get() }
                }
                return sent.futureResult
            }
        } else if let contentLength {
            // A model call's body is a few KiB: read whole, it goes out in one write.
            upstreamBody = .byteBuffer(try await request.body.collect(upTo: contentLength))
        }

        // The exchange runs on this client connection's event loop and sees every body part the
        // moment it is decoded (UpstreamExchange). The pool prefers an idle upstream connection on
        // the same loop; `.delegateAndChannel` would instead make the pool open an "overflow"
        // connection per request and close it when idle (AsyncHTTPClient's HTTP1StateMachine):
        // one TCP handshake and TIME-WAIT socket per proxied request.
        let exchange = UpstreamExchange(eventLoop: eventLoop, allowsWhole: request.method != .head)
        let answer: UpstreamExchange.Answer
        let task: HTTPClient.Task<Void>
        do {
            let upstreamRequest = try HTTPClient.Request(
                url: upstreamBase + path,
                method: NIOHTTP1.HTTPMethod(rawValue: request.method.rawValue),
                headers: upstreamHeaders,
                body: upstreamBody
            )
            task = client.execute(
                request: upstreamRequest,
                delegate: exchange,
                eventLoop: .delegate(on: eventLoop),
                deadline: .now() + .hours(1),
                logger: nil
            )
            answer = try await exchange.answer.futureResult.get()
        } catch {
            let reason = Self.failureReason(error)
            metrics.failed(reason)
            metrics.responded(status: 502)
            metrics.ended()
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
        var contentType: String?
        for header in upstream.headers {
            let name = header.name.lowercased()
            if name == "content-type" { contentType = header.value }
            if responseDropped.contains(name) { continue }
            guard let fieldName = HTTPField.Name(header.name) else { continue }
            headers.append(HTTPField(name: fieldName, value: header.value))
        }
        let status = Int(upstream.status.code)
        metrics.responded(status: status)
        let metered = (200..<300).contains(status) ? dialect : nil
        let framing = ResponseUsageScanner.framing(contentType: contentType)
        let session = MeteredExchange(
            component: component,
            clientID: clientID,
            provider: proxy.provider.rawValue,
            started: started,
            recorder: recorder,
            metrics: metrics,
            logger: logger
        )
        let responseStatus = HTTPResponse.Status(code: status, reasonPhrase: upstream.status.reasonPhrase)
        if let wholeBody {
            var scanner = metered.map { ResponseUsageScanner(dialect: $0, framing: framing) }
            wholeBody.withUnsafeReadableBytes { scanner?.consume($0) }
            let firstByte: Duration? = wholeBody.readableBytes > 0 ? ContinuousClock.now - started : nil
            session.finish(usage: scanner?.finish(), framing: framing, firstByte: firstByte, failure: nil)
            return Response(status: responseStatus, headers: headers, body: ResponseBody(byteBuffer: wholeBody))
        }
        let body = exchange.parts
        return Response(
            status: responseStatus,
            headers: headers,
            body: ResponseBody { writer in
                var scanner = metered.map { ResponseUsageScanner(dialect: $0, framing: framing) }
                var firstByte: Duration?
                var failure: String?
                var unsyncedBytes = 0
                do {
                    let iterator = body.makeAsyncIterator()
                    while true {
                        let chunk: ByteBuffer?
                        do {
                            chunk = try await iterator.next()
                        } catch {
                            failure = Self.failureReason(error) == "timeout" ? "timeout" : "closed_mid_stream"
                            throw error
                        }
                        guard let chunk else { break }
                        if firstByte == nil { firstByte = ContinuousClock.now - started }
                        chunk.withUnsafeReadableBytes { scanner?.consume($0) }
                        do {
                            unsyncedBytes += chunk.readableBytes
                            try await writer.write(chunk)
                            if unsyncedBytes >= Self.unsyncedBytesLimit {
                                unsyncedBytes = 0
                                try await eventLoop.submit {}.get()
                            }
                        } catch {
                            failure = "client_disconnected"
                            throw error
                        }
                    }
                    try await writer.finish(nil)
                } catch {
                    task.cancel()
                    session.finish(
                        usage: scanner?.finish(),
                        framing: framing,
                        firstByte: firstByte,
                        failure: failure ?? "client_disconnected"
                    )
                    throw error
                }
                session.finish(usage: scanner?.finish(), framing: framing, firstByte: firstByte, failure: nil)
            }
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
