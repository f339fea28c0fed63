import HTTPTransport
public import Logging
import ModelUsage
import Synchronization
public import WatcherModel
public import WatcherProto

/// The per-tick model sources of components (DESIGN §5), read in parallel within the tick's
/// budget, one transport per component so a slow server never delays another:
/// - `metrics_url`: the LLM server's Prometheus endpoint. vLLM, llama.cpp and TGI counters become
///   usage deltas (`LLMServerCounters`: a reset is a restart, never a negative delta), and the
///   series named in `custom_metrics` are kept on the component.
/// - Ollama's `/api/ps` (a component whose proxy's provider is ollama): the loaded models.
/// - Discovered services (`DiscoveredSource`, given each tick): Ollama's `/api/ps`, an LLM
///   server's `/metrics` on the ports it listens on, as their discovery rule says.
public final class ModelSources: Sendable {
    /// What one tick read.
    public struct Reading: Sendable {
        /// Loaded models by component (only for components whose server answered).
        public var loadedModels: [String: [ResourceWatcher_V1_LoadedModel]] = [:]
        /// Kept series by component.
        public var customMetrics: [String: [ResourceWatcher_V1_CustomMetric]] = [:]
        /// Usage since the previous scrape, as events for the ledger.
        public var usage: [ResourceWatcher_V1_ModelUsage] = []
    }

    struct Source: Sendable {
        var component: String
        var clientID: String
        /// `metrics_url`, or for a component with `custom_metrics` and no `metrics_url`, the
        /// `/metrics` of each of its ports on loopback, tried in order until one answers.
        var metricsURLs: [String]
        var customMetrics: Set<String>
        var ollamaPS: String?
        var transport: CurlTransport
    }

    private struct SourceState {
        var counters: LLMServerCounters
        var failing: [String: String] = [:]
        /// Index in `metricsURLs` of the endpoint that answered last.
        var metricsURLIndex = 0
    }

    /// A discovered service's usage source, on 127.0.0.1.
    public struct DiscoveredSource: Sendable, Equatable {
        public var component: String
        public var clientID: String
        /// Its `/metrics` on each port it listens on, tried in order until one answers.
        public var metricsURLs: [String]
        public var ollamaPS: String?

        public init(component: String, clientID: String, metricsURLs: [String] = [], ollamaPS: String? = nil) {
            self.component = component
            self.clientID = clientID
            self.metricsURLs = metricsURLs
            self.ollamaPS = ollamaPS
        }
    }

    let sources: [Source]
    private let logger: Logger
    private let states: Mutex<[String: SourceState]>
    private let agentStartUnixSeconds: Double
    /// The discovered services' sources now read, by component.
    private let discovered = Mutex<[String: (DiscoveredSource, Source)]>([:])

    /// Nil when no component has a `metrics_url` or an Ollama proxy and discovery is off.
    public init?(config: Config, agentStartUnixSeconds: Double, logger: Logger) {
        var sources: [Source] = []
        var states: [String: SourceState] = [:]
        for component in config.components {
            let ollamaPS = component.proxy.flatMap { proxy in
                proxy.provider == .ollama ? Self.trimmed(proxy.upstream) + "/api/ps" : nil
            }
            let metricsURLs =
                component.metricsURL.map { [$0] }
                ?? (component.customMetrics.isEmpty ? [] : component.ports.map { "http://127.0.0.1:\($0)/metrics" })
            guard !metricsURLs.isEmpty || ollamaPS != nil else { continue }
            sources.append(
                Source(
                    component: component.name,
                    clientID: component.clientID,
                    metricsURLs: metricsURLs,
                    customMetrics: Set(component.customMetrics),
                    ollamaPS: ollamaPS,
                    transport: Self.makeTransport()
                )
            )
            states[component.name] = SourceState(
                counters: LLMServerCounters(agentStartUnixSeconds: agentStartUnixSeconds, defaultModel: component.name)
            )
        }
        guard !sources.isEmpty || config.discovery.enabled else { return nil }
        self.sources = sources
        self.states = Mutex(states)
        self.logger = logger
        self.agentStartUnixSeconds = agentStartUnixSeconds
    }

    private static func makeTransport() -> CurlTransport {
        CurlTransport(
            userAgent: "resource-watcher/scrape",
            connectTimeout: .seconds(2),
            requestTimeout: .seconds(5),
            maximumResponseBodyBytes: 32 << 20
        )
    }

    /// Reads every source, each within `timeout`; a source that fails or is late adds nothing.
    /// `discovered` are the discovered services' sources this tick: one no longer listed is
    /// forgotten (its counters too: a service found again starts from its next scrape).
    public func read(
        timeout: Duration,
        nowUnixMilliseconds: Int64,
        discovered: [DiscoveredSource] = []
    ) async -> Reading {
        let sources = self.sources + adopt(discovered)
        return await withTaskGroup(of: Reading.self) { group in
            for source in sources {
                group.addTask { await self.read(source, timeout: timeout, now: nowUnixMilliseconds) }
            }
            var reading = Reading()
            for await part in group {
                reading.loadedModels.merge(part.loadedModels) { $1 }
                reading.customMetrics.merge(part.customMetrics) { $1 }
                reading.usage += part.usage
            }
            return reading
        }
    }

    /// The sources of `discovered`: a service seen before keeps its connection and counters
    /// while its endpoints stay the same.
    private func adopt(_ discovered: [DiscoveredSource]) -> [Source] {
        let start = agentStartUnixSeconds
        let (sources, gone) = self.discovered.withLock { current -> ([Source], [String]) in
            var next: [String: (DiscoveredSource, Source)] = [:]
            for wanted in discovered {
                if let (known, source) = current[wanted.component], known == wanted {
                    next[wanted.component] = (known, source)
                    continue
                }
                let source = Source(
                    component: wanted.component,
                    clientID: wanted.clientID,
                    metricsURLs: wanted.metricsURLs,
                    customMetrics: [],
                    ollamaPS: wanted.ollamaPS,
                    transport: current[wanted.component]?.1.transport ?? Self.makeTransport()
                )
                next[wanted.component] = (wanted, source)
            }
            let gone = current.keys.filter { next[$0] == nil }
            current = next
            return (discovered.compactMap { next[$0.component]?.1 }, gone)
        }
        states.withLock { states in
            for name in gone { states[name] = nil }
            for source in sources where states[source.component] == nil {
                states[source.component] = SourceState(
                    counters: LLMServerCounters(agentStartUnixSeconds: start, defaultModel: source.component)
                )
            }
        }
        return sources
    }

    private func read(_ source: Source, timeout: Duration, now: Int64) async -> Reading {
        var reading = Reading()
        if let response = await fetchMetrics(source, timeout: timeout) {
            let contentType = response.header("Content-Type")?.lowercased() ?? ""
            let document = ExpositionParser.parse(
                response.body,
                openMetrics: contentType.hasPrefix("application/openmetrics-text")
            )
            if let problem = document.problems.first {
                logger.debug(
                    "metrics_url: malformed lines skipped",
                    metadata: [
                        "component": "\(source.component)", "skipped": "\(document.problems.count)",
                        "first": "\(problem)",
                    ]
                )
            }
            let deltas = states.withLock { $0[source.component]?.counters.deltas(from: document) ?? [] }
            reading.usage = deltas.map { Self.event($0, clientID: source.clientID, now: now) }
            if !source.customMetrics.isEmpty {
                reading.customMetrics[source.component] = Self.kept(document, names: source.customMetrics)
            }
        }
        if let url = source.ollamaPS,
            let response = await fetch(
                url,
                accept: "application/json",
                source: source,
                what: "ollama_ps",
                timeout: timeout
            )
        {
            do {
                reading.loadedModels[source.component] = try OllamaLoadedModels.parse(response.body)
            } catch {
                noteFailure(source, what: "ollama_ps", url: url, problem: "the answer is not /api/ps JSON: \(error)")
            }
        }
        return reading
    }

    /// The component's metrics endpoint's answer: `metrics_url`, or the first of its ports'
    /// `/metrics` that answers (starting from the one that answered last).
    private func fetchMetrics(_ source: Source, timeout: Duration) async -> HTTPResponse? {
        guard !source.metricsURLs.isEmpty else { return nil }
        let accept = "text/plain;version=0.0.4;q=0.9,application/openmetrics-text;version=1.0.0;q=0.5,*/*;q=0.1"
        let first = states.withLock { $0[source.component]?.metricsURLIndex ?? 0 }
        let deadline = ContinuousClock.now + timeout
        for offset in source.metricsURLs.indices {
            let index = (first + offset) % source.metricsURLs.count
            let remaining = deadline - ContinuousClock.now
            guard remaining > .zero else { return nil }
            if let response = await fetch(
                source.metricsURLs[index],
                accept: accept,
                source: source,
                what: "metrics_url",
                timeout: remaining,
                quiet: source.metricsURLs.count > 1
            ) {
                states.withLock { $0[source.component]?.metricsURLIndex = index }
                return response
            }
        }
        if source.metricsURLs.count > 1 {
            noteFailure(
                source,
                what: "metrics_url",
                url: source.metricsURLs.joined(separator: ", "),
                problem: "none of the component's ports serves /metrics; set metrics_url"
            )
        }
        return nil
    }

    /// GETs `url`; nil (and a warning when the source starts failing, unless `quiet`) on any failure.
    private func fetch(
        _ url: String,
        accept: String,
        source: Source,
        what: String,
        timeout: Duration,
        quiet: Bool = false
    ) async -> HTTPResponse? {
        let response: HTTPResponse
        do {
            response = try await source.transport.send(
                HTTPRequest(
                    url: url,
                    headers: [("Accept", accept)],
                    timeout: timeout,
                    connectTimeout: min(timeout, .seconds(2))
                )
            )
        } catch {
            if !quiet { noteFailure(source, what: what, url: url, problem: "\(error)") }
            return nil
        }
        guard (200..<300).contains(response.status) else {
            if !quiet { noteFailure(source, what: what, url: url, problem: "HTTP \(response.status)") }
            return nil
        }
        let recovered = states.withLock { $0[source.component]?.failing.removeValue(forKey: what) != nil }
        if recovered {
            logger.notice(
                "\(what) answers again",
                metadata: ["component": "\(source.component)", "url": "\(url)"]
            )
        }
        return response
    }

    private func noteFailure(_ source: Source, what: String, url: String, problem: String) {
        let isNew = states.withLock { states in
            defer { states[source.component]?.failing[what] = problem }
            return states[source.component]?.failing[what] == nil
        }
        if isNew {
            logger.warning(
                "\(what) cannot be read; retrying every tick",
                metadata: ["component": "\(source.component)", "url": "\(url)", "error": "\(problem)"]
            )
        }
    }

    /// The series of `document` whose name is in `names` (gauges and counters as written).
    static func kept(_ document: ExpositionDocument, names: Set<String>) -> [ResourceWatcher_V1_CustomMetric] {
        document.families.flatMap(\.samples).filter { names.contains($0.name) && $0.value.isFinite }.map { sample in
            var metric = ResourceWatcher_V1_CustomMetric()
            metric.name = sample.name
            for label in sample.labels { metric.labels[label.name] = label.value }
            metric.value = sample.value
            return metric
        }
    }

    static func event(_ delta: ModelUsageDelta, clientID: String, now: Int64) -> ResourceWatcher_V1_ModelUsage {
        var event = ResourceWatcher_V1_ModelUsage()
        event.clientID = clientID
        event.name = delta.model
        event.provider = delta.provider
        event.requestsCount = delta.requests
        event.tokensInput = delta.tokensInput
        event.tokensOutput = delta.tokensOutput
        if delta.latencyCount > 0 {
            let microseconds = UInt64(max(0, delta.latencySecondsSum * 1_000_000).rounded())
            event.latencyMicrosecondsSum = microseconds
            event.latencyCount = delta.latencyCount
            event.inferenceMicrosecondsSum = microseconds
            event.inferenceCount = delta.latencyCount
        }
        event.lastUsedUnixMs = now
        return event
    }

    private static func trimmed(_ url: String) -> String {
        var url = url
        while url.hasSuffix("/") { url.removeLast() }
        return url
    }
}
