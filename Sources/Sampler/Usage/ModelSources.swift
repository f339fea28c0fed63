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
        /// Usage since the previous scrape, as events for the ledger, by component.
        public var usage: [String: [ResourceWatcher_V1_ModelUsage]] = [:]
    }

    struct Source: Sendable {
        var component: String
        var clientID: String
        /// `metrics_url`, or for a component with `custom_metrics` and no `metrics_url`, the
        /// `/metrics` of each of its ports on loopback that it owns this tick, tried in order until
        /// one answers.
        var metricsURLs: [String]
        /// For `metricsURLs` made from the component's `ports`: each URL's port, which is read
        /// only while one of the component's own processes listens on it. Empty otherwise.
        var ownedPortOfURL: [Int] = []
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
    /// Bounds on what a scrape or `/api/ps` may bring (`limits`), and where cuts are counted.
    private let bounds: InputLimitsConfig
    private let limits: SourceLimits
    /// The discovered services' sources by component: those read now, and those missing from
    /// the last ticks' lists, kept (with their counters) until `discoveredGracePeriod` passes.
    private let discovered = Mutex<DiscoveredSources>(DiscoveredSources())
    /// How long a discovered source missing from the list keeps its counters and baselines:
    /// discovery's grace period, as long as its component stays listed while down.
    private let discoveredGracePeriod: Duration

    private struct DiscoveredSources {
        var sources: [String: (wanted: DiscoveredSource, source: Source)] = [:]
        var missingSince: [String: ContinuousClock.Instant] = [:]
    }

    /// Nil when no component has a `metrics_url` or an Ollama proxy and discovery is off.
    public init?(
        config: Config,
        agentStartUnixSeconds: Double,
        logger: Logger,
        limits: SourceLimits = SourceLimits()
    ) {
        var sources: [Source] = []
        var states: [String: SourceState] = [:]
        for component in config.components {
            let ollamaPS = component.proxy.flatMap { proxy in
                proxy.provider == .ollama ? Self.trimmed(proxy.upstream) + "/api/ps" : nil
            }
            let portsScraped = component.metricsURL == nil && !component.customMetrics.isEmpty ? component.ports : []
            let metricsURLs =
                component.metricsURL.map { [$0] } ?? portsScraped.map { "http://127.0.0.1:\($0)/metrics" }
            guard !metricsURLs.isEmpty || ollamaPS != nil else { continue }
            sources.append(
                Source(
                    component: component.name,
                    clientID: component.clientID,
                    metricsURLs: metricsURLs,
                    ownedPortOfURL: portsScraped,
                    customMetrics: Set(component.customMetrics),
                    ollamaPS: ollamaPS,
                    transport: Self.makeTransport(bodyBytes: config.limits.scrapeBodyBytes)
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
        self.discoveredGracePeriod = .milliseconds(Int64((config.discovery.gracePeriodSeconds * 1000).rounded()))
        self.bounds = config.limits
        self.limits = limits
    }

    private static func makeTransport(bodyBytes: Int) -> CurlTransport {
        CurlTransport(
            userAgent: "resource-watcher/scrape",
            connectTimeout: .seconds(2),
            requestTimeout: .seconds(5),
            maximumResponseBodyBytes: bodyBytes
        )
    }

    /// The `ports` to check each tick (`ownedPorts` of `read`): those of components whose
    /// `/metrics` is looked for on their ports.
    public var portsToCheck: [String: [Int]] {
        sources.reduce(into: [:]) { result, source in
            if !source.ownedPortOfURL.isEmpty { result[source.component] = source.ownedPortOfURL }
        }
    }

    /// Reads every source, each within `timeout`; a source that fails or is late adds nothing.
    /// `discovered` are the discovered services' sources this tick: one no longer listed (its
    /// process gone or restarting, its ports not known yet) keeps its counters and baselines for
    /// discovery's grace period, so a service back within it is counted from its last scrape.
    /// `ownedPorts` are the ports of `portsToCheck` that each component's own processes listen
    /// on now; a port not among them is not scraped.
    public func read(
        timeout: Duration,
        nowUnixMilliseconds: Int64,
        discovered: [DiscoveredSource] = [],
        ownedPorts: [String: Set<Int>] = [:]
    ) async -> Reading {
        let sources = self.sources.map { Self.owned($0, ports: ownedPorts[$0.component] ?? []) } + adopt(discovered)
        return await withTaskGroup(of: Reading.self) { group in
            for source in sources {
                group.addTask { await self.read(source, timeout: timeout, now: nowUnixMilliseconds) }
            }
            var reading = Reading()
            for await part in group {
                reading.loadedModels.merge(part.loadedModels) { $1 }
                reading.customMetrics.merge(part.customMetrics) { $1 }
                reading.usage.merge(part.usage) { $0 + $1 }
            }
            return reading
        }
    }

    /// `source` with only the URLs of the ports its component owns, when its URLs are ports.
    private static func owned(_ source: Source, ports: Set<Int>) -> Source {
        guard !source.ownedPortOfURL.isEmpty else { return source }
        var owned = source
        owned.metricsURLs = zip(source.metricsURLs, source.ownedPortOfURL).filter { ports.contains($0.1) }.map(\.0)
        return owned
    }

    /// The sources of `discovered`: a service seen before keeps its connection while its
    /// endpoints stay the same, and its counters (the baselines of its last scrape) while it is
    /// listed or was last listed less than the grace period ago; after that they are forgotten.
    private func adopt(_ discovered: [DiscoveredSource], now: ContinuousClock.Instant = .now) -> [Source] {
        let start = agentStartUnixSeconds
        let bounds = self.bounds
        let gracePeriod = discoveredGracePeriod
        let (sources, forgotten) = self.discovered.withLock { known -> ([Source], [String]) in
            var listed = Set<String>()
            for wanted in discovered {
                listed.insert(wanted.component)
                known.missingSince[wanted.component] = nil
                if let before = known.sources[wanted.component], before.wanted == wanted { continue }
                let source = Source(
                    component: wanted.component,
                    clientID: wanted.clientID,
                    metricsURLs: wanted.metricsURLs,
                    customMetrics: [],
                    ollamaPS: wanted.ollamaPS,
                    transport: known.sources[wanted.component]?.source.transport
                        ?? Self.makeTransport(bodyBytes: bounds.scrapeBodyBytes)
                )
                known.sources[wanted.component] = (wanted, source)
            }
            var forgotten: [String] = []
            for name in known.sources.keys where !listed.contains(name) {
                let since = known.missingSince[name] ?? now
                known.missingSince[name] = since
                guard now - since >= gracePeriod else { continue }
                known.sources[name] = nil
                known.missingSince[name] = nil
                forgotten.append(name)
            }
            return (discovered.compactMap { known.sources[$0.component]?.source }, forgotten)
        }
        states.withLock { states in
            for name in forgotten { states[name] = nil }
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
        let deadline = ContinuousClock.now + timeout
        if let response = await fetchMetrics(source, timeout: timeout) {
            let contentType = response.header("Content-Type")?.lowercased() ?? ""
            let document = ExpositionParser.parse(
                response.body,
                openMetrics: contentType.hasPrefix("application/openmetrics-text"),
                maximumSamples: bounds.scrapeSamples,
                deadline: deadline
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
            if let cut = document.cut {
                // A partial document lacks series: counting deltas from it would count their
                // whole history when they come back. Its baselines are left alone.
                limits.note(
                    component: source.component,
                    reason: cut == .samples ? "scrape_samples_over_limit" : "scrape_parse_time_over_budget",
                    detail: cut == .samples
                        ? "a scrape keeps at most \(bounds.scrapeSamples) samples (limits.scrape_samples); its usage is not counted"
                        : "parsing the scrape did not finish within the tick's budget; its usage is not counted"
                )
            } else {
                let deltas = states.withLock { $0[source.component]?.counters.deltas(from: document) ?? [] }
                if !deltas.isEmpty {
                    reading.usage[source.component] = deltas.map { event($0, source: source, now: now) }
                }
            }
            if !source.customMetrics.isEmpty {
                reading.customMetrics[source.component] = kept(document, names: source.customMetrics, of: source)
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
                var models = try OllamaLoadedModels.parse(response.body)
                if models.count > bounds.loadedModels {
                    limits.note(
                        component: source.component,
                        reason: "loaded_models_over_limit",
                        count: UInt64(models.count - bounds.loadedModels),
                        detail:
                            "at most \(bounds.loadedModels) loaded models are kept per component (limits.loaded_models)"
                    )
                    models.removeSubrange(bounds.loadedModels...)
                }
                limits.boundNames(&models, at: \.name, component: source.component)
                reading.loadedModels[source.component] = models
            } catch {
                noteFailure(source, what: "ollama_ps", url: url, problem: "the answer is not /api/ps JSON: \(error)")
            }
        }
        return reading
    }

    /// The component's metrics endpoint's answer: `metrics_url`, or the first of its ports'
    /// `/metrics` that answers (starting from the one that answered last).
    private func fetchMetrics(_ source: Source, timeout: Duration) async -> HTTPResponse? {
        guard !source.metricsURLs.isEmpty else {
            if !source.ownedPortOfURL.isEmpty {
                noteFailure(
                    source,
                    what: "metrics_url",
                    url: source.ownedPortOfURL.map(String.init).joined(separator: ", "),
                    problem: "none of the component's ports is listened on by one of its own processes; not scraped"
                )
            }
            return nil
        }
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
            switch error.code {
            case .responseTooLarge:
                limits.note(
                    component: source.component,
                    reason: "scrape_body_too_large",
                    detail: "\(what) answered with more than \(bounds.scrapeBodyBytes) bytes (limits.scrape_body_bytes)"
                )
            case .timeout:
                limits.note(
                    component: source.component,
                    reason: "scrape_timeout",
                    detail:
                        "\(what) did not answer in full within the tick's budget (half the poll interval, 5 s at most)"
                )
            default:
                break
            }
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

    /// The series of `document` whose name is in `names` (gauges and counters as written), at
    /// most `limits.custom_metric_series` of them, each with at most `custom_metric_labels`
    /// labels (a series with more is left out) and label values bounded like model names.
    func kept(
        _ document: ExpositionDocument,
        names: Set<String>,
        of source: Source
    ) -> [ResourceWatcher_V1_CustomMetric] {
        var kept: [ResourceWatcher_V1_CustomMetric] = []
        var overSeries: UInt64 = 0
        var overLabels: UInt64 = 0
        var cutValues: UInt64 = 0
        for family in document.families {
            for sample in family.samples where names.contains(sample.name) && sample.value.isFinite {
                guard sample.labels.count <= bounds.customMetricLabels else {
                    overLabels += 1
                    continue
                }
                guard kept.count < bounds.customMetricSeries else {
                    overSeries += 1
                    continue
                }
                var metric = ResourceWatcher_V1_CustomMetric()
                metric.name = sample.name
                for label in sample.labels {
                    let (value, wasCut) = BoundedName.bounded(label.value)
                    if wasCut { cutValues += 1 }
                    metric.labels[label.name] = value
                }
                metric.value = sample.value
                kept.append(metric)
            }
        }
        limits.note(
            component: source.component,
            reason: "custom_metric_series_over_limit",
            count: overSeries,
            detail:
                "at most \(bounds.customMetricSeries) custom_metrics series are kept per component (limits.custom_metric_series)"
        )
        limits.note(
            component: source.component,
            reason: "custom_metric_labels_over_limit",
            count: overLabels,
            detail:
                "a custom_metrics series with more than \(bounds.customMetricLabels) labels is left out (limits.custom_metric_labels)"
        )
        limits.note(
            component: source.component,
            reason: "label_value_cut",
            count: cutValues,
            detail: "label values are kept to \(InputLimitsConfig.nameBytes) bytes of printable UTF-8"
        )
        return kept
    }

    /// The usage event of one delta; a latency sum past what microseconds can hold is clamped
    /// and counted (`number_out_of_range`), never converted with a trap.
    func event(_ delta: ModelUsageDelta, source: Source, now: Int64) -> ResourceWatcher_V1_ModelUsage {
        var event = ResourceWatcher_V1_ModelUsage()
        event.clientID = source.clientID
        event.name = delta.model
        event.provider = delta.provider
        event.requestsCount = delta.requests
        event.tokensInput = delta.tokensInput
        event.tokensOutput = delta.tokensOutput
        if delta.latencyCount > 0 {
            let (microseconds, wasClamped) = OutsideNumber.microseconds(fromSeconds: delta.latencySecondsSum)
            if wasClamped {
                limits.note(
                    component: source.component,
                    reason: "number_out_of_range",
                    detail: "a latency sum of \(delta.latencySecondsSum) s does not fit in microseconds; clamped"
                )
            }
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
