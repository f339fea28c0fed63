import AsyncHTTPClient
import NIOCore
import NIOHTTP1
import Synchronization

/// One request to the upstream, its answer read on the client connection's own event loop.
///
/// Why not `HTTPClient.execute(_:deadline:)`: its response stream takes a body part only when
/// the consumer asks for the next one, and when the upstream closes the connection NIO reads
/// everything left at once; parts that arrive with the close while the consumer is busy writing
/// the previous one are dropped with the connection. A proxy must pass on every byte the
/// upstream sent, so this delegate takes each part as it is decoded (on the client connection's event loop)
/// into a bounded buffer the response writer drains; it withholds demand only when that buffer
/// is full (a client slower than its upstream), which is also what keeps memory flat.
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

    /// The upstream's answer, or why there is none.
    let answer: EventLoopPromise<Answer>
    /// The body, part by part, as the upstream sent it; ends with the upstream's error if it failed.
    let parts: Parts
    private let source: Parts.Source
    private let demand: Demand
    private let allowsWhole: Bool
    /// Whether `answer` is settled; the head and body so far of an answer read whole.
    private let state = Mutex<(answered: Bool, whole: (head: HTTPResponseHead, body: ByteBuffer)?)>((false, nil))

    /// `allowsWhole` false (a HEAD request) streams every answer.
    init(eventLoop: any EventLoop, allowsWhole: Bool) {
        answer = eventLoop.makePromise(of: Answer.self)
        self.allowsWhole = allowsWhole
        demand = Demand()
        let made = Parts.makeSequence(
            backPressureStrategy: .init(lowWatermark: Self.bufferedPartsLow, highWatermark: Self.bufferedPartsHigh),
            finishOnDeinit: true,
            delegate: demand
        )
        parts = made.sequence
        source = made.source
    }

    func didReceiveHead(task: HTTPClient.Task<Void>, _ head: HTTPResponseHead) -> EventLoopFuture<Void> {
        let length = head.headers.first(name: "content-length").flatMap { Int($0) }
        if allowsWhole, let length, length <= Self.wholeAnswerLimit, !head.headers.contains(name: "transfer-encoding") {
            state.withLock { $0.whole = (head, ByteBuffer()) }
        } else {
            state.withLock { $0.answered = true }
            answer.succeed(.streaming(head))
        }
        return task.eventLoop.makeSucceededVoidFuture()
    }

    func didReceiveBodyPart(task: HTTPClient.Task<Void>, _ buffer: ByteBuffer) -> EventLoopFuture<Void> {
        let keptWhole = state.withLock { state -> Bool in
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
            // The client is gone; the response writer cancels the task.
            return task.eventLoop.makeSucceededVoidFuture()
        }
    }

    func didFinishRequest(task: HTTPClient.Task<Void>) throws {
        let whole = state.withLock { state -> (head: HTTPResponseHead, body: ByteBuffer)? in
            defer { state.answered = true }
            return state.answered ? nil : state.whole
        }
        if let whole { answer.succeed(.whole(whole.head, whole.body)) }
        source.finish()
    }

    func didReceiveError(task: HTTPClient.Task<Void>, _ error: any Error) {
        let answered = state.withLock { state in
            defer { state.answered = true }
            return state.answered
        }
        if !answered { answer.fail(error) }
        source.finish(error)
        demand.release()
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
