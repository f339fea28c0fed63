import HTTPTransport
import Logging
import Synchronization
import WatcherModel
import WatcherProto

/// Reads each container component's stdout and stderr through the Docker Engine API into log
/// records (DESIGN §5), from positions saved in the spool directory: the configured ones, and
/// the containers discovery found (given to each `read`).
///
/// Each tick is `read(timeout:)`, append the records to the spool, then `commit(_:)`, as with
/// `LogFileTailer`: positions move (in memory and on disk) only after the lines before them are in
/// the spool, so a failed append reads the same lines again and a crash resends them.
///
/// - A component with no saved position starts at "now" when its container is there (its history
///   is not news); when no container is there yet, the one that appears later is read from its start.
/// - A container with another ID than the saved one (recreated) is read from its creation.
/// - Each container gives at most `LogReadLimits` per tick; the rest comes on the next ticks.
/// - The engine gets at most `timeout` per read: what has not arrived by then comes next tick.
///   A body over the transport's limit shrinks the request to a time window (`until`), halved
///   until it fits, then widened again.
///
/// Async: the requests run on the client's transport thread; `commit` blocks (fsync).
final class ContainerLogReader: Sendable {
    /// One container component.
    struct Source: Sendable, Equatable {
        var component: String
        var clientID: String
        var containerName: String
    }

    private struct State {
        /// Committed positions by component, loaded before the first read.
        var ledger: PositionsLedger<ContainerLogPosition>
        /// `Config.Tty` by container ID (it cannot change while the container exists).
        var isTTY: [String: Bool] = [:]
        /// The `until` window by component, after a body too large for the transport.
        var windowNanoseconds: [String: Int64] = [:]
    }

    /// Per component, what a read fetched; shared by the fetching task and the caller that stops waiting.
    private final class Fetched: Sendable {
        let results = Mutex<[String: (records: [ResourceWatcher_V1_LogRecord], position: ContainerLogPosition)]>([:])
    }

    let sources: [Source]
    let client: DockerClient
    let positionsPath: String
    let limits: LogReadLimits
    private let logger: Logger
    private let state: Mutex<State>

    /// Nil when no component has a `container_name` and containers are not discovered. `client`
    /// should have a transport of its own: requests on one transport run one at a time, and logs
    /// must not delay the stats.
    convenience init?(
        components: [ComponentConfig],
        spoolDirectory: String,
        client: DockerClient,
        limits: LogReadLimits = .init(),
        discoversContainers: Bool = false,
        logger: Logger
    ) {
        let sources = components.compactMap { component in
            component.containerName.map {
                Source(component: component.name, clientID: component.clientID, containerName: $0)
            }
        }
        self.init(
            sources: sources,
            client: client,
            positionsPath: spoolDirectory + "/" + ContainerLogPositionsFile.fileName,
            limits: limits,
            discoversContainers: discoversContainers,
            logger: logger
        )
    }

    init?(
        sources: [Source],
        client: DockerClient,
        positionsPath: String,
        limits: LogReadLimits = .init(),
        discoversContainers: Bool = false,
        logger: Logger
    ) {
        precondition(
            limits.areUsable,
            "container log limits must leave room for a line"
        )
        guard !sources.isEmpty || discoversContainers else { return nil }
        self.sources = sources
        self.client = client
        self.positionsPath = positionsPath
        self.limits = limits
        self.logger = logger
        self.state = Mutex(
            State(ledger: PositionsLedger(path: positionsPath, sourcesKey: ContainerLogPositionsFile.sourcesKey))
        )
    }

    /// Whether the saved positions were loaded (`loadPositions`, or the first `read`).
    var hasLoadedPositions: Bool { state.withLock { $0.ledger.isLoaded } }

    /// Loads the saved positions once; later calls do nothing. Blocking: the sampler calls it on
    /// its I/O pool before the first read (which would otherwise load them itself).
    func loadPositions() {
        _ = state.withLock { loadedPositions(&$0) }
    }

    private func loadedPositions(_ state: inout State) -> [String: ContainerLogPosition] {
        state.ledger.loadedPositions(
            logger: logger,
            unreadable: "container log positions unreadable; containers already there are read from now"
        )
    }

    /// Every container component's lines since the committed positions, and those of the
    /// `discovered` containers (each bounded by `limits` like a configured one), waiting for the
    /// engine at most `timeout`. Nothing moves until `commit` is given this result.
    func read(
        timeout: Duration,
        discovered: [Source] = [],
        nowUnixNanoseconds: Int64 = LogFileIO.nowUnixNanoseconds()
    ) async -> LogSourceRead<ContainerLogPosition> {
        let configured = Set(self.sources.map(\.component))
        let sources = self.sources + discovered.filter { !configured.contains($0.component) }
        let committed = state.withLock { loadedPositions(&$0) }
        let fetched = Fetched()
        let deadline = ContinuousClock.now + timeout
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                await self.collect(
                    sources,
                    committed: committed,
                    now: nowUnixNanoseconds,
                    deadline: deadline,
                    into: fetched
                )
            }
            group.addTask { try? await Task.sleep(until: deadline) }
            await group.next()
            group.cancelAll()
        }
        let results = fetched.results.withLock { $0 }
        var positions = committed
        var records: [ResourceWatcher_V1_LogRecord] = []
        for source in sources {
            guard let result = results[source.component] else { continue }
            records += result.records
            positions[source.component] = result.position
        }
        let generation = state.withLock { $0.ledger.beginRead() }
        return LogSourceRead(records: records, positions: positions, generation: generation)
    }

    /// Makes `read`'s positions the committed ones and saves them; call it only once its records
    /// are in the spool. A read older than the latest is ignored. Blocking (fsync).
    func commit(_ read: LogSourceRead<ContainerLogPosition>) {
        state.withLock { state in
            _ = state.ledger.commit(
                read.positions,
                generation: read.generation,
                logger: logger,
                saveFailed: "cannot save container log positions"
            )
        }
    }

    private func collect(
        _ sources: [Source],
        committed: [String: ContainerLogPosition],
        now: Int64,
        deadline: ContinuousClock.Instant,
        into fetched: Fetched
    ) async {
        // Discovery alone with nothing discovered: the engine is not asked.
        guard !sources.isEmpty else { return }
        let containers: [DockerContainer]
        do {
            containers = try await client.containers()
        } catch {
            logger.debug("cannot list containers for their logs", metadata: ["error": "\(error)"])
            return
        }
        let byName = Dictionary(containers.map { ($0.name, $0) }) { first, _ in first }
        let listed = Set(containers.map(\.id))
        state.withLock { $0.isTTY = $0.isTTY.filter { listed.contains($0.key) } }
        for source in sources {
            if Task.isCancelled { return }
            let container = byName[source.containerName]
            guard let position = committed[source.component] else {
                // First look: a container already there is read from now on; one that appears later
                // has another ID than "" and is read from its start.
                let start = ContainerLogPosition(
                    containerID: container?.id ?? "",
                    shippedThroughUnixNanoseconds: container == nil ? 0 : now
                )
                fetched.results.withLock { $0[source.component] = ([], start) }
                continue
            }
            guard let container else { continue }
            let after =
                position.containerID == container.id
                ? position
                : ContainerLogPosition(
                    containerID: container.id,
                    shippedThroughUnixNanoseconds: max(0, container.createdUnixSeconds * 1_000_000_000 - 1)
                )
            guard let result = await fetch(source, container, after: after, now: now, deadline: deadline)
            else { continue }
            fetched.results.withLock { $0[source.component] = result }
        }
    }

    /// The container's lines stamped after `shippedThrough`, within the limits, and the position
    /// after them; nil when the engine gave no usable answer in time.
    private func fetch(
        _ source: Source,
        _ container: DockerContainer,
        after position: ContainerLogPosition,
        now: Int64,
        deadline: ContinuousClock.Instant
    ) async -> (records: [ResourceWatcher_V1_LogRecord], position: ContainerLogPosition)? {
        let shippedThrough = position.sinceUnixNanoseconds
        guard let isTTY = await isTTY(container) else { return nil }
        var window = state.withLock { $0.windowNanoseconds[source.component] }
        // Each too-large answer halves the window: a few dozen halvings reach a millisecond.
        for _ in 0..<48 {
            let remaining = deadline - .now
            guard remaining > .milliseconds(1), !Task.isCancelled else { return nil }
            let until = window.map { shippedThrough + $0 }.flatMap { $0 < now ? $0 : nil }
            do {
                let body = try await client.logs(
                    id: container.id,
                    sinceUnixNanoseconds: shippedThrough > 0 ? shippedThrough : nil,
                    untilUnixNanoseconds: until,
                    timeout: remaining
                )
                if let current = window {
                    // Widen again once a window's answer is small; drop it once it reaches now.
                    let widened = body.count < limits.maxBytesPerSource ? current * 2 : current
                    window = shippedThrough + widened >= now ? nil : widened
                    state.withLock { $0.windowNanoseconds[source.component] = window }
                }
                return take(body, multiplexed: !isTTY, from: source, container, after: position, until: until, now: now)
            } catch  where error.transportError?.code == .responseTooLarge {
                let span = window ?? max(now - shippedThrough, 2_000_000)
                window = max(1_000_000, span / 2)
                state.withLock { $0.windowNanoseconds[source.component] = window }
            } catch {
                logger.debug(
                    "cannot read container logs",
                    metadata: [
                        "component": "\(source.component)", "container_id": "\(container.id)", "error": "\(error)",
                    ]
                )
                return nil
            }
        }
        return nil
    }

    /// How long after its time a line can still be written to the engine's log behind a line
    /// of the other stream (the engine copies stdout and stderr separately). A stream with no
    /// line in a read that reached the present moves its mark up to this far before the read.
    static let streamReorderLookbackNanoseconds: Int64 = 1_000_000_000

    /// The lines of `body` after each stream's mark, cut to the limits (a prefix in the
    /// engine's order, so each stream's lines taken are a prefix of its own), and the position
    /// after them.
    private func take(
        _ body: [UInt8],
        multiplexed: Bool,
        from source: Source,
        _ container: DockerContainer,
        after position: ContainerLogPosition,
        until: Int64?,
        now: Int64
    ) -> (records: [ResourceWatcher_V1_LogRecord], position: ContainerLogPosition) {
        // A stream's lines before its mark were shipped, and the first `atThrough` bytes of its
        // lines at it: a line shipped in part (read half-written) continues with its rest.
        var alreadyAtThrough = [
            DockerLogStream.Stream.stdout: position.stdout.atThrough, .stderr: position.stderr.atThrough,
        ]
        var lines: [DockerLogStream.Line] = []
        for line in DockerLogStream(maxLineBytes: limits.maxLineBytes).lines(of: body, multiplexed: multiplexed) {
            let mark = position[line.stream]
            if line.timestampUnixNanoseconds > mark.through {
                lines.append(line)
                continue
            }
            guard line.timestampUnixNanoseconds == mark.through, mark.through > 0 else { continue }
            let length = Self.length(of: line)
            let already = alreadyAtThrough[line.stream] ?? 0
            if already >= length {
                alreadyAtThrough[line.stream] = already - length
                continue
            }
            var rest = line
            rest.text = String(decoding: line.text.utf8.dropFirst(already), as: UTF8.self)
            rest.originalLength = line.originalLength.map { $0 - already }
            alreadyAtThrough[line.stream] = 0
            lines.append(rest)
        }
        var count = 0
        var bytes = 0
        while count < lines.count, count < limits.maxLinesPerSource,
            count == 0 || bytes + lines[count].text.utf8.count <= limits.maxBytesPerSource
        {
            bytes += lines[count].text.utf8.count
            count += 1
        }
        let taken = lines[..<count]
        var next = position
        next.containerID = container.id
        for stream in [DockerLogStream.Stream.stdout, .stderr] where next[stream].atThrough == Int.max {
            next[stream].atThrough = 0
        }
        var streamsTaken: Set<DockerLogStream.Stream> = []
        for line in taken {
            streamsTaken.insert(line.stream)
            var mark = next[line.stream]
            if line.timestampUnixNanoseconds > mark.through {
                mark = .init(through: line.timestampUnixNanoseconds, atThrough: Self.length(of: line))
            } else if line.timestampUnixNanoseconds == mark.through {
                mark.atThrough += Self.length(of: line)
            }
            next[line.stream] = mark
        }
        if count == lines.count {
            // The whole answer was taken: nothing of either stream before its end is left.
            let end: Int64? = until ?? now - Self.streamReorderLookbackNanoseconds
            for stream in [DockerLogStream.Stream.stdout, .stderr] {
                guard let end, end > next[stream].through else { continue }
                // Up to the window's end; without a window, a stream with no line in this read
                // up to the lookback before the read (its lines may still land behind the other's).
                if until != nil || !streamsTaken.contains(stream) {
                    next[stream] = .init(through: end, atThrough: 0)
                }
            }
        }
        // Without a TTY there is one stream, reported as stdout.
        if !multiplexed { next.stderr = next.stdout }
        let records = taken.map { Self.record(of: $0, from: source, containerID: container.id) }
        return (records, next)
    }

    /// A line's length in bytes as the engine has it (before any cut to `maxLineBytes`).
    private static func length(of line: DockerLogStream.Line) -> Int {
        line.originalLength ?? line.text.utf8.count
    }

    private func isTTY(_ container: DockerContainer) async -> Bool? {
        if let known = state.withLock({ $0.isTTY[container.id] }) { return known }
        do {
            let details = try await client.inspect(id: container.id, includeSize: false)
            state.withLock { $0.isTTY[container.id] = details.isTTY }
            return details.isTTY
        } catch {
            logger.debug(
                "cannot inspect container for its logs",
                metadata: ["component": "\(container.name)", "container_id": "\(container.id)", "error": "\(error)"]
            )
            return nil
        }
    }

    /// The log record of one line: stamped with the engine's time, its level guessed from the text.
    static func record(
        of line: DockerLogStream.Line,
        from source: Source,
        containerID: String
    ) -> ResourceWatcher_V1_LogRecord {
        var record = ResourceWatcher_V1_LogRecord()
        record.timestampUnixNs = line.timestampUnixNanoseconds
        record.clientID = source.clientID
        record.component = source.component
        record.source = "container"
        record.level = LogLevelGuess.level(of: line.text)
        record.message = line.text
        record.metadata = ["stream": line.stream.rawValue, "container_id": containerID]
        if let originalLength = line.originalLength {
            record.metadata["truncated"] = "true"
            record.metadata["original_length"] = "\(originalLength)"
        }
        return record
    }
}
