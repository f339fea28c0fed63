public import Hummingbird
import HummingbirdCore
import Logging
public import NIOCore
import NIOHTTPTypes
import Synchronization
public import WatcherModel

/// The connections of one HTTP server: how many are open, and why the server closed some.
public final class ConnectionRegistry: Sendable {
    /// Why the server closed a connection itself (a label on `/metrics`).
    public enum CloseReason: String, Sendable, CaseIterable {
        case headTimeout = "head_timeout"
        case bodyTimeout = "body_timeout"
        case idleTimeout = "idle_timeout"
        /// Closed to make room for a new connection over `max_connections`.
        case evicted
        /// A new connection over `max_connections` while every connection was busy.
        case overCapacity = "over_capacity"
    }

    /// The server's name on `/metrics` (`api`, `metrics`).
    public let server: String
    let limits: HTTPServerConfig
    /// Told of every connection the server closes itself, with the reason (outside the lock).
    private let onClose: (@Sendable (CloseReason) -> Void)?

    private struct Entry {
        let channel: any Channel
        /// Since when the connection has been without a request in progress; nil while one is.
        var waitingSince: ContinuousClock.Instant?
    }

    private struct State {
        var nextID: UInt64 = 0
        var open: [UInt64: Entry] = [:]
        var closed: [CloseReason: UInt64] = [:]
    }

    private let state = Mutex(State())

    /// A registry for `server` under `limits`; `onClose` hears of each connection the server
    /// closes itself (a metering proxy counts them as refused outside input).
    public init(server: String, limits: HTTPServerConfig, onClose: (@Sendable (CloseReason) -> Void)? = nil) {
        self.server = server
        self.limits = limits
        self.onClose = onClose
    }

    /// Connections open now, and the ones the server closed, by reason.
    public func snapshot() -> (open: Int, closed: [CloseReason: UInt64]) {
        state.withLock { ($0.open.count, $0.closed) }
    }

    /// Admits `channel`: its id, or nil when it must be closed (over the cap, nobody to evict).
    /// At the cap, the connection that has waited longest without a request in progress is
    /// closed to make room: a flood of connections that never finish a request cannot lock out
    /// a client that sends one.
    func admit(_ channel: any Channel) -> UInt64? {
        let (id, evicted): (UInt64?, (any Channel)?) = state.withLock { state in
            var evicted: (any Channel)?
            if state.open.count >= limits.maxConnections {
                let oldest = state.open
                    .compactMap { id, entry in entry.waitingSince.map { (id, $0) } }
                    .min { $0.1 < $1.1 }
                guard let (oldestID, _) = oldest, let entry = state.open.removeValue(forKey: oldestID) else {
                    state.closed[.overCapacity, default: 0] += 1
                    return (nil, nil)
                }
                state.closed[.evicted, default: 0] += 1
                evicted = entry.channel
            }
            state.nextID += 1
            state.open[state.nextID] = Entry(channel: channel, waitingSince: .now)
            return (state.nextID, evicted)
        }
        if let evicted {
            evicted.close(promise: nil)
            onClose?(.evicted)
        } else if id == nil {
            onClose?(.overCapacity)
        }
        return id
    }

    /// Marks whether connection `id` has a request past its head in progress (not evictable),
    /// or is idle or still sending a head (evictable, oldest first).
    func setBusy(_ id: UInt64, _ busy: Bool) {
        state.withLock { state in
            state.open[id]?.waitingSince = busy ? nil : .now
        }
    }

    func closed(_ id: UInt64, reason: CloseReason?) {
        state.withLock { state in
            state.open.removeValue(forKey: id)
            if let reason { state.closed[reason, default: 0] += 1 }
        }
        if let reason { onClose?(reason) }
    }

    /// An HTTP/1.1 server whose connections this registry admits and times (see `ConnectionGuard`).
    /// `configure` runs on each connection's pipeline once Hummingbird's handlers are in, before
    /// the first byte is read (the metering proxy adds its request check there).
    public func http1Server(
        configure: (@Sendable (ChannelPipeline.SynchronousOperations) throws -> Void)? = nil
    ) -> HTTPServerBuilder {
        HTTPServerBuilder { responder in
            GuardedHTTP1Channel(
                inner: HTTP1Channel(
                    responder: responder,
                    configuration: .init(additionalChannelHandlers: [RequestProgressHandler()])
                ),
                registry: self,
                configure: configure
            )
        }
    }
}

/// Hummingbird's HTTP/1.1 channel with a `ConnectionGuard` in front of it.
struct GuardedHTTP1Channel: ServerChildChannel {
    let inner: HTTP1Channel
    let registry: ConnectionRegistry
    let configure: (@Sendable (ChannelPipeline.SynchronousOperations) throws -> Void)?

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<HTTP1Channel.Value> {
        do {
            try channel.pipeline.syncOperations.addHandler(ConnectionGuard(registry: registry), position: .first)
        } catch {
            return channel.eventLoop.makeFailedFuture(error)
        }
        let configured = inner.setup(channel: channel, logger: logger)
        guard let configure else { return configured }
        return configured.flatMapThrowing { value in
            try configure(channel.pipeline.syncOperations)
            return value
        }
    }

    func handle(value: HTTP1Channel.Value, logger: Logger) async {
        await inner.handle(value: value, logger: logger)
    }
}

/// The first handler of a connection: admits it under the cap and closes it when it takes too
/// long to send a request head (from its first byte, or from being accepted), a request body
/// (from the head), or stays idle between requests. No timer runs while a request is being
/// answered: a long answer (a stream) is the server's business, not the client's.
final class ConnectionGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = IOData
    typealias OutboundOut = IOData

    private enum Phase {
        /// Accepted, or kept alive after an answer: waiting for a request's first byte.
        case waiting(keptAlive: Bool)
        case receivingHead
        case receivingBody
        case answering
    }

    private let registry: ConnectionRegistry
    private var activated = false
    private var id: UInt64?
    private var phase = Phase.waiting(keptAlive: false)
    private var timer: Scheduled<Void>?
    private var context: ChannelHandlerContext?

    init(registry: ConnectionRegistry) {
        self.registry = registry
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { activate(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        activate(context)
        context.fireChannelActive()
    }

    private func activate(_ context: ChannelHandlerContext) {
        guard !activated else { return }
        activated = true
        guard let admitted = registry.admit(context.channel) else {
            context.close(promise: nil)
            return
        }
        id = admitted
        arm(registry.limits.headTimeout, reason: .headTimeout)
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        if let id { registry.closed(id, reason: nil) }
        id = nil
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .waiting(let keptAlive) = phase {
            phase = .receivingHead
            // A new connection's head timer runs from its accept; a kept-alive one's from now.
            if keptAlive { arm(registry.limits.headTimeout, reason: .headTimeout) }
        }
        context.fireChannelRead(data)
    }

    /// The request head was decoded: the body must follow within its timeout.
    func headReceived() {
        phase = .receivingBody
        // A client that sent a whole head is not the one to close for room; one still sending
        // its head (slowloris) or idle may be.
        id.map { registry.setBusy($0, true) }
        arm(registry.limits.bodyTimeout, reason: .bodyTimeout)
    }

    /// The whole request is in: no timer while it is answered.
    func requestReceived() {
        phase = .answering
        timer?.cancel()
        timer = nil
    }

    /// The answer is written: the connection may idle until the next request.
    func responseSent() {
        phase = .waiting(keptAlive: true)
        id.map { registry.setBusy($0, false) }
        arm(registry.limits.idleTimeout, reason: .idleTimeout)
    }

    private func arm(_ timeout: Duration, reason: ConnectionRegistry.CloseReason) {
        timer?.cancel()
        guard let context else { return }
        let nanoseconds = timeout.components.seconds * 1_000_000_000 + timeout.components.attoseconds / 1_000_000_000
        timer = context.eventLoop.assumeIsolated().scheduleTask(in: .nanoseconds(nanoseconds)) { [self] in
            timer = nil
            guard let context = self.context, let id else { return }
            registry.closed(id, reason: reason)
            self.id = nil
            context.close(promise: nil)
        }
    }
}

/// Sits after HTTP decoding and tells the connection's `ConnectionGuard` where the exchange is.
final class RequestProgressHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private var connectionGuard: ConnectionGuard?

    func handlerAdded(context: ChannelHandlerContext) {
        connectionGuard = try? context.pipeline.syncOperations.handler(type: ConnectionGuard.self)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head: connectionGuard?.headReceived()
        case .body: break
        case .end: connectionGuard?.requestReceived()
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) {
            let connectionGuard = connectionGuard
            let written = promise ?? context.eventLoop.makePromise()
            written.futureResult.assumeIsolated().whenSuccess { connectionGuard?.responseSent() }
            context.write(data, promise: written)
        } else {
            context.write(data, promise: promise)
        }
    }
}
