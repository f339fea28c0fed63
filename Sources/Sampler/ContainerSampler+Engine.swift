import Synchronization

/// The engine's part of the container sampler: what a tick asks it (only what is due), and the
/// event watcher that keeps the container table current between ticks.
extension ContainerSampler {
    /// When to ask the engine, and what it last said.
    struct EngineState: Sendable {
        /// Whether the `/events` stream is open: while it is, the list is taken every
        /// `reconcileInterval` only; while not, every tick (as nothing else tells of changes).
        var eventsLive = false
        /// Set when something may have been missed (the stream opened or broke, an event was
        /// dropped, the kernel contradicts the table): the next tick takes the list.
        var reconcileRequested = false
        var lastReconcile: ContinuousClock.Instant?
        /// When the engine last answered anything (a request, an event).
        var lastAnswer: ContinuousClock.Instant?
        /// What the engine's last failed exchange said, until one succeeds.
        var failure: String?
        /// Set while a tick's engine step runs (it may outlive its tick when the engine hangs).
        var stepRunning = false
        /// When a tick last asked `/_ping`: at most once a `livenessInterval`, answered or not.
        var lastPing: ContinuousClock.Instant?
    }

    enum EngineOutcome {
        case answered
        case failure(String)
    }

    /// Events waiting for the watcher, at most; past that the next tick takes the list instead.
    static let eventBufferLimit = 4096

    func noteEngine(_ outcome: EngineOutcome) {
        engineState.withLock { state in
            switch outcome {
            case .answered:
                state.lastAnswer = .now
                state.failure = nil
            case .failure(let message):
                state.failure = message
            }
        }
    }

    /// What a tick asks the engine: the list when a reconcile is due (the first tick, every
    /// `reconcileInterval`, every tick while no event stream is open, when asked for), then
    /// discovery against the table, then inspects of watched running containers whose main
    /// process is not known; with nothing else asked, `/_ping` when the engine has been quiet for
    /// `livenessInterval`. Discovery alone (nothing watched) asks only when a scan is due.
    func engineStep(reservedNames: Set<String>, now: ContinuousClock.Instant) async {
        let watching = !components.isEmpty || !discoveredComponents().isEmpty
        let scanDue = discoveryDue(now: now)
        let listed = table.withLock { $0.isListed }
        let reconcileDue =
            scanDue
            || (watching
                && engineState.withLock { state in
                    !listed || !state.eventsLive || state.reconcileRequested
                        || state.lastReconcile.map { now - $0 >= reconcileInterval } ?? true
                })
        var asked = false
        if reconcileDue {
            // One attempt per interval: an engine that fails or hangs is not asked again every
            // tick for discovery alone (each try could hold the tick up to its budget).
            if scanDue { markScanned(at: now) }
            engineState.withLock { state in
                state.lastReconcile = now
                state.reconcileRequested = false
            }
            asked = true
            let askedAt = table.withLock { $0.changes }
            do {
                let containers = try await lanes[0].containers()
                noteEngine(.answered)
                table.withLock { $0.apply(list: containers, askedAt: askedAt) }
            } catch {
                // Cut off by the tick's timeout: that is "no answer", which `sample` reports itself.
                if error.transportError?.code != .cancelled {
                    noteEngine(.failure(Self.operatorMessage(error, socket: engine.socketPath)))
                }
                return
            }
        }
        let snapshot = table.withLock { $0 }
        guard snapshot.isListed else { return }
        _ = discover(in: snapshot.containers, due: scanDue, reservedNames: reservedNames, now: now)
        let watchedNames = Set((components + discoveredComponents()).map(\.containerName))
        let uninspected = snapshot.entries.values.filter {
            watchedNames.contains($0.summary.name) && $0.summary.isRunning && $0.pid == nil
        }
        if !uninspected.isEmpty {
            asked = true
            await inspect(uninspected.map(\.summary.id))
        }
        let pingDue = engineState.withLock { state in
            let current = ContinuousClock.now
            let quiet = state.lastAnswer.map { current - $0 >= Self.livenessInterval } ?? true
            let pinged = state.lastPing.map { current - $0 < Self.livenessInterval } ?? false
            guard !asked && watching && quiet && !pinged else { return false }
            state.lastPing = current
            return true
        }
        if pingDue {
            do {
                try await lanes[0].ping()
                noteEngine(.answered)
            } catch {
                if error.transportError?.code != .cancelled {
                    noteEngine(.failure(Self.operatorMessage(error, socket: engine.socketPath)))
                }
            }
        }
    }

    /// Inspects `ids` over the lanes (container i on lane i mod lanes) for their main processes.
    func inspect(_ ids: [String]) async {
        let askedAt = table.withLock { $0.changes }
        let lanes = self.lanes
        await withTaskGroup(of: Void.self) { group in
            for (laneIndex, client) in lanes.enumerated() {
                let share = stride(from: laneIndex, to: ids.count, by: lanes.count).map { ids[$0] }
                guard !share.isEmpty else { continue }
                group.addTask {
                    for id in share {
                        if Task.isCancelled { return }
                        do throws(DockerError) {
                            let details = try await client.inspect(id: id, includeSize: false)
                            self.noteEngine(.answered)
                            self.table.withLock { $0.apply(details: details, askedAt: askedAt) }
                        } catch {
                            if error.transportError?.code == .cancelled { return }
                            if error.code == .notFound {
                                // Removed since it was listed: the next list says so.
                                self.engineState.withLock { $0.reconcileRequested = true }
                                continue
                            }
                            self.noteEngine(.failure(Self.operatorMessage(error, socket: self.engine.socketPath)))
                            self.logger.debug(
                                "cannot inspect a container",
                                metadata: ["container_id": "\(id)", "error": "\(error)"]
                            )
                        }
                    }
                }
            }
        }
    }

    /// Follows the engine's container events until cancelled, reconnecting (1 s, doubling to
    /// 30 s) after the stream breaks; the tick after each open or break takes the list again, so
    /// what happened meanwhile is not missed. Run it beside the tick loop.
    func watchEngine() async {
        var pause = Duration.seconds(1)
        while !Task.isCancelled {
            let started = ContinuousClock.now
            let (events, continuation) = AsyncStream.makeStream(
                of: DockerEvent.self,
                bufferingPolicy: .bufferingOldest(Self.eventBufferLimit)
            )
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    do {
                        try await self.eventsClient.followEvents(
                            opened: {
                                self.engineState.withLock { state in
                                    state.eventsLive = true
                                    state.reconcileRequested = true
                                }
                                self.logger.debug("following the Docker engine's events")
                            },
                            event: { event in
                                if case .dropped = continuation.yield(event) {
                                    self.engineState.withLock { $0.reconcileRequested = true }
                                }
                            },
                            skippedLine: { tooLong in
                                self.sourceLimits.note(
                                    component: Self.sourceName,
                                    reason: tooLong ? "engine_event_too_long" : "engine_event_malformed",
                                    detail: tooLong
                                        ? "a Docker engine event longer than \(DockerEventLines.defaultMaximumLineBytes) "
                                            + "bytes was skipped"
                                        : "a line of the Docker engine's event stream was not a container event"
                                )
                            }
                        )
                    } catch {
                        self.logger.debug("the Docker engine's event stream broke", metadata: ["error": "\(error)"])
                    }
                    continuation.finish()
                }
                for await event in events { await self.handle(event) }
            }
            engineState.withLock { state in
                state.eventsLive = false
                state.reconcileRequested = true
            }
            if ContinuousClock.now - started > .seconds(30) { pause = .seconds(1) }
            try? await Task.sleep(for: pause)
            pause = min(pause * 2, .seconds(30))
        }
    }

    /// Applies one event to the table; a started container is inspected at once (its main
    /// process), so the next tick samples it.
    func handle(_ event: DockerEvent) async {
        table.withLock { $0.apply(event) }
        noteEngine(.answered)
        guard event.action == .start else { return }
        let askedAt = table.withLock { $0.changes }
        do {
            let summary = try await watcherClient.container(id: event.containerID)
            let details = try await watcherClient.inspect(id: event.containerID, includeSize: false)
            table.withLock { $0.apply(details: details, summary: summary, askedAt: askedAt) }
        } catch {
            // Left for the next tick's inspect (the container reads unknown until then).
            logger.debug(
                "cannot inspect a started container",
                metadata: ["container_id": "\(event.containerID)", "error": "\(error)"]
            )
        }
    }
}
