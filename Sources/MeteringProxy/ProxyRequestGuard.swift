import NIOCore
import NIOHTTP1
import WatcherModel

/// Sits right after the HTTP/1 decoder of a proxy connection and refuses, with a JSON error and
/// the connection closed, every request head `ProxyRequestCheck` refuses and every request the
/// decoder cannot read (two Content-Lengths, Content-Length with Transfer-Encoding, a target or
/// header that is not HTTP): such a request never reaches the responder, so it is never
/// forwarded.
///
/// The refusal is written as bytes below the response encoder (through the encoder's own
/// context): NIO's encoder drops the body of any answer to CONNECT, and the client should
/// still read why it was refused.
final class ProxyRequestGuard: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart

    private let maxBodyBytes: Int
    private let refused: @Sendable (ProxyRequestCheck.Refusal) -> Void
    /// Set once a request is refused: the rest of what the client sends is dropped until the close.
    private var refusing = false
    /// Where raw response bytes are written: the context of the response encoder, whose next
    /// outbound handler takes bytes.
    private var encoderContext: ChannelHandlerContext?

    /// `refused` is told of each refusal (it counts and logs).
    init(maxBodyBytes: Int, refused: @escaping @Sendable (ProxyRequestCheck.Refusal) -> Void) {
        self.maxBodyBytes = maxBodyBytes
        self.refused = refused
    }

    func handlerAdded(context: ChannelHandlerContext) {
        encoderContext = try? context.pipeline.syncOperations.context(handlerType: HTTPResponseEncoder.self)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        encoderContext = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !refusing else { return }
        if case .head(let head) = unwrapInboundIn(data),
            let refusal = ProxyRequestCheck.refusal(of: head, maxBodyBytes: maxBodyBytes)
        {
            refuse(refusal, context: context)
            return
        }
        context.fireChannelRead(data)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let error = error as? HTTPParserError else {
            context.fireErrorCaught(error)
            return
        }
        guard !refusing else { return }
        refuse(Self.refusal(for: error), context: context)
    }

    /// The refusal of a request the decoder could not read.
    static func refusal(for error: HTTPParserError) -> ProxyRequestCheck.Refusal {
        switch error {
        case .unexpectedContentLength:
            return .badRequest(
                "conflicting_framing",
                "the request has more than one Content-Length, or Content-Length with Transfer-Encoding"
            )
        case .invalidContentLength:
            return .badRequest(
                "invalid_content_length",
                "the Content-Length is not a number of bytes, or comes with Transfer-Encoding"
            )
        case .invalidURL, .invalidPath, .invalidHost, .invalidPort, .invalidQueryString, .invalidFragment:
            return .badRequest(
                "invalid_request_target",
                "the request target is not an origin-form path (a path starting with /)"
            )
        default:
            return .badRequest(
                "malformed_request",
                "the request cannot be read as HTTP/1.1: its syntax or its framing is refused "
                    + "(Content-Length with Transfer-Encoding, a Transfer-Encoding other than chunked)"
            )
        }
    }

    /// Counts and answers `refusal`, then closes: after a refused request nothing the client
    /// sends can be trusted to start where the proxy would think the next request starts.
    private func refuse(_ refusal: ProxyRequestCheck.Refusal, context: ChannelHandlerContext) {
        refusing = true
        refused(refusal)
        guard let encoderContext else {
            context.close(promise: nil)
            return
        }
        var json = JSONWriter()
        json.beginObject()
        json.key("error")
        json.beginObject()
        json.member("code", refusal.code)
        json.member("message", refusal.message)
        json.endObject()
        json.endObject()
        var bytes = Array("HTTP/1.1 \(refusal.status.code) \(refusal.status.reasonPhrase)\r\n".utf8)
        bytes += Array("Content-Type: application/json\r\nContent-Length: \(json.bytes.count)\r\n".utf8)
        bytes += Array("Connection: close\r\n\r\n".utf8)
        bytes += json.bytes
        let written = context.eventLoop.makePromise(of: Void.self)
        encoderContext.writeAndFlush(
            NIOAny(IOData.byteBuffer(context.channel.allocator.buffer(bytes: bytes))),
            promise: written
        )
        let channel = context.channel
        written.futureResult.whenComplete { _ in channel.close(promise: nil) }
    }
}
