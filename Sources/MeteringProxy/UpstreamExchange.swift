import AsyncHTTPClient
import ModelUsage
import NIOCore
import NIOHTTP1
import Synchronization

/// One request to the upstream, its answer read on the client connection's own event loop, and
/// metered here, from what the upstream sent, whatever becomes of the client.
///
/// Why not `HTTPClient.execute(_:deadline:)`: its response stream takes a body part only when
/// the consumer asks for the next one, and when the upstream closes the connection NIO reads
/// everything left at once; parts that arrive with the close while the consumer is busy writing
/// the previous one are dropped with the connection. A proxy must pass on every byte the
/// upstream sent, so this delegate takes each part as it is decoded (on the client connection's event loop)
/// into a bounded buffer the response writer drains; it withholds demand only when that buffer
/// is full (a client slower than its upstream), which is also what keeps memory flat.
///
/// The exchange is recorded (`MeteredExchange.finish`, which also ends the in-flight count)
/// exactly once, when AsyncHTTPClient ends the request: with the usage read so far and, if it
/// ended early, why. A client that is gone (the response writer stopped, or never started
/// because the client left before the upstream's head) ends the consumer of `parts`; the next
/// part then cancels the upstream request, recorded as `client_disconnected`.
final class UpstreamExchange: HTTPClientResponseDelegate {
    typealias Response = Void
    typealias Parts = NIOThrowingAsyncSequenceProducer<
        ByteBuffer, any Error, NIOAsyncSequenceProducerBackPressureStrategies.HighLowWatermark, Demand
    >

    /// Body parts buffered between the upstream and the client before the upstream is paused:
    /// NIO reads at most 64 KiB at a time, so at most about 4 MiB per exchange.
    static let bufferedPartsHigh = 64
    static let bufferedPartsLow = 16

    /// Answers with a Content-Length up to this size are read whole before the client gets
    /// anything: one hand-over instead of one per part, and a non-streamed answer is of no use
    /// to the client before its end anyway. Chunked answers (streams) pass part by part.
    static let wholeAnswerLimit = 1 << 20

    /// What the upstream answered: a whole small answer, or the head of one to stream.
    enum Answer {
        case whole(HTTPResponseHead, ByteBuffer)
        case streaming(HTTPResponseHead)
    }

    /// The client is gone: the upstream request is cancelled.
    struct ClientGone: Error {}

    /// The upstream's answer, or why there is none.
    let answer: EventLoopPromise<Answer>
    private let source: Parts.Source
    private let demand: Demand
    private let allowsWhole: Bool
    /// The usage dialect of a model call, nil for any other request.
    private let dialect: ResponseUsageScanner.Dialect?
    private let session: MeteredExchange

    private struct State {
        /// Whether `answer` is settled.
        var answered = false
        /// The head and body so far of an answer read whole.
        var whole: (head: HTTPResponseHead, body: ByteBuffer)?
        var scanner: ResponseUsageScanner?
        var framing = ResponseUsageScanner.Framing.whole
        var firstByte: Duration?
        /// The consumer of `parts` ended before the upstream did.
        var clientGone = false
        /// A failure the proxy chose (the client's body over the cap), named for the record.
        var failure: String?
        var recorded = false
    }
    private let state = Mutex(State())

    /// An exchange and the body parts its response writer reads. Nothing else may keep `parts`:
    /// when the writer drops it unread, or stops reading, the client is taken as gone.
    /// `allowsWhole` false (a HEAD request) streams every answer.
    static func make(
        eventLoop: any EventLoop,
        allowsWhole: Bool,
        dialect: ResponseUsageScanner.Dialect?,
        session: MeteredExchange
    ) -> (exchange: UpstreamExchange, parts: Parts) {
        let demand = Demand()
        let made = Parts.makeSequence(
            backPressureStrategy: .init(lowWatermark: Self.bufferedPartsLow, highWatermark: Self.bufferedPartsHigh),
            finishOnDeinit: true,
            delegate: demand
        )
        let exchange = UpstreamExchange(
            eventLoop: eventLoop,
            allowsWhole: allowsWhole,
            dialect: dialect,
            session: session,
            source: made.source,
            demand: demand
        )
        return (exchange, made.sequence)
    }

    private init(
        eventLoop: any EventLoop,
        allowsWhole: Bool,
        dialect: ResponseUsageScanner.Dialect?,
        session: MeteredExchange,
        source: Parts.Source,
        demand: Demand
    ) {
        answer = eventLoop.makePromise(of: Answer.self)
        self.allowsWhole = allowsWhole
        self.dialect = dialect
        self.session = session
        self.source = source
        self.demand = demand
    }

    /// The client is gone (its connection failed a write): the cancel that follows is recorded
    /// as `client_disconnected`.
    func clientLeft() {
        state.withLock { $0.clientGone = true }
    }

    /// Names the failure to record if the request ends with an error (set before the error).
    func noteFailure(_ reason: String) {
        state.withLock { $0.failure = reason }
    }

    func didReceiveHead(task: HTTPClient.Task<Void>, _ head: HTTPResponseHead) -> EventLoopFuture<Void> {
        let status = Int(head.status.code)
        session.metrics.responded(status: status)
        let framing = ResponseUsageScanner.framing(contentType: head.headers.first(name: "content-type"))
        let scanner =
            (200..<300).contains(status) ? dialect.map { ResponseUsageScanner(dialect: $0, framing: framing) } : nil
        let length = head.headers.first(name: "content-length").flatMap { Int($0) }
        let whole =
            allowsWhole && length.map { $0 <= Self.wholeAnswerLimit } == true
            && !head.headers.contains(name: "transfer-encoding")
        state.withLock { state in
            state.framing = framing
            state.scanner = scanner
            if whole {
                state.whole = (head, ByteBuffer())
            } else {
                state.answered = true
            }
        }
        if !whole { answer.succeed(.streaming(head)) }
        return task.eventLoop.makeSucceededVoidFuture()
    }

    func didReceiveBodyPart(task: HTTPClient.Task<Void>, _ buffer: ByteBuffer) -> EventLoopFuture<Void> {
        let keptWhole = state.withLock { state -> Bool in
            if state.firstByte == nil, buffer.readableBytes > 0 {
                state.firstByte = ContinuousClock.now - session.started
            }
            buffer.withUnsafeReadableBytes { state.scanner?.consume($0) }
            guard state.whole != nil else { return false }
            var part = buffer
            state.whole!.body.writeBuffer(&part)
            return true
        }
        if keptWhole { return task.eventLoop.makeSucceededVoidFuture() }
        switch source.yield(buffer) {
        case .produceMore:
            return task.eventLoop.makeSucceededVoidFuture()
        case .stopProducing:
            return demand.wait(on: task.eventLoop)
        case .dropped:
            // Nobody reads the parts any more: the client is gone. Failing the part cancels the
            // upstream request (a model server stops generating for nobody).
            state.withLock { $0.clientGone = true }
            return task.eventLoop.makeFailedFuture(ClientGone())
        }
    }

    func didFinishRequest(task: HTTPClient.Task<Void>) throws {
        let whole = state.withLock { state -> (head: HTTPResponseHead, body: ByteBuffer)? in
            defer { state.answered = true }
            return state.answered ? nil : state.whole
        }
        // Recorded before the answer goes to the client: a whole answer is metered even if the
        // client left meanwhile.
        record(failure: nil)
        if let whole { answer.succeed(.whole(whole.head, whole.body)) }
        source.finish()
    }

    func didReceiveError(task: HTTPClient.Task<Void>, _ error: any Error) {
        let (answered, clientGone, chosen) = state.withLock { state in
            defer { state.answered = true }
            return (state.answered, state.clientGone, state.failure)
        }
        let reason: String
        if let chosen {
            reason = chosen
        } else if clientGone || error is ClientGone {
            reason = "client_disconnected"
        } else if answered {
            reason = ProxyResponder.failureReason(error) == "timeout" ? "timeout" : "closed_mid_stream"
        } else {
            reason = ProxyResponder.failureReason(error)
        }
        record(failure: reason)
        if !answered { answer.fail(error) }
        source.finish(error)
        demand.release()
    }

    /// Records the exchange once (AsyncHTTPClient ends a request with exactly one of the two
    /// callbacks above; the flag makes "once" hold whatever it does).
    private func record(failure: String?) {
        let taken = state.withLock { state -> (ResponseUsageScanner?, ResponseUsageScanner.Framing, Duration?)? in
            guard !state.recorded else { return nil }
            state.recorded = true
            let scanner = state.scanner
            state.scanner = nil
            return (scanner, state.framing, state.firstByte)
        }
        guard let (scanner, framing, firstByte) = taken else { return }
        var finished = scanner
        session.finish(usage: finished?.finish(), framing: framing, firstByte: firstByte, failure: failure)
    }

    /// Resumes the upstream once the client has taken enough of the buffered parts.
    final class Demand: NIOAsyncSequenceProducerDelegate {
        private enum State {
            case flowing
            /// The consumer asked for more before the producer got to wait.
            case resumedEarly
            case waiting(EventLoopPromise<Void>)
        }
        private let state = Mutex(State.flowing)

        func wait(on eventLoop: any EventLoop) -> EventLoopFuture<Void> {
            state.withLock { state in
                if case .resumedEarly = state {
                    state = .flowing
                    return eventLoop.makeSucceededVoidFuture()
                }
                let promise = eventLoop.makePromise(of: Void.self)
                state = .waiting(promise)
                return promise.futureResult
            }
        }

        func produceMore() {
            release()
        }

        func didTerminate() {
            release()
        }

        func release() {
            let promise: EventLoopPromise<Void>? = state.withLock { state in
                if case .waiting(let promise) = state {
                    state = .flowing
                    return promise
                }
                state = .resumedEarly
                return nil
            }
            promise?.succeed()
        }
    }
}
