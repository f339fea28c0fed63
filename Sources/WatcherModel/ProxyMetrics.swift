import Synchronization

/// What one metering proxy has done since the agent started, for `:5221/metrics` and `/health`:
/// requests by upstream status class, requests counted as model use, and failures by reason.
/// Written by the proxy, read by the status API (shared runtime state, like `SinkMetrics`).
public final class ProxyMetrics: Sendable {
    /// A copy of the figures at one moment.
    public struct Snapshot: Sendable, Equatable {
        public var component: String
        public var clientID: String
        public var listenPort: Int
        /// Responses passed to clients, by upstream status class ("2xx", "4xx", ...; "502" for
        /// the proxy's own answer when the upstream could not be reached).
        public var responses: [String: UInt64]
        /// Requests recorded as model use.
        public var meteredRequests: UInt64
        /// Failures by reason: connect_failed, timeout, closed_mid_stream, client_disconnected,
        /// malformed_response (usage unreadable), request_body_too_large (the client's chunked
        /// body passed `max_body_bytes` mid-way), other.
        public var failures: [String: UInt64]
        /// Requests being served now.
        public var inFlight: Int
    }

    public let component: String
    public let clientID: String
    public let listenPort: Int
    private let state: Mutex<Snapshot>

    public init(component: String, clientID: String, listenPort: Int) {
        self.component = component
        self.clientID = clientID
        self.listenPort = listenPort
        state = Mutex(
            Snapshot(
                component: component,
                clientID: clientID,
                listenPort: listenPort,
                responses: [:],
                meteredRequests: 0,
                failures: [:],
                inFlight: 0
            )
        )
    }

    public func began() { state.withLock { $0.inFlight += 1 } }
    public func ended() { state.withLock { $0.inFlight -= 1 } }
    public func responded(status: Int) {
        let key = status == 502 ? "502" : "\(status / 100)xx"
        state.withLock { $0.responses[key, default: 0] += 1 }
    }
    public func metered() { state.withLock { $0.meteredRequests += 1 } }
    public func failed(_ reason: String) { state.withLock { $0.failures[reason, default: 0] += 1 } }

    public func snapshot() -> Snapshot { state.withLock { $0 } }
}
