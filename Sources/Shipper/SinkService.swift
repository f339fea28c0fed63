public import HTTPTransport
public import Logging
public import NIOPosix
public import ServiceLifecycle
public import Spool
import SwiftProtobuf
public import WatcherModel
import WatcherProto

#if canImport(Glibc)
import Glibc
#endif

/// One sink's loop (DESIGN §7): read the next records after the sink's own spool cursor,
/// encode them, send each request until it is delivered (2xx) or dropped (other 4xx), and move
/// the cursor only past records whose requests are settled. A destination that is down makes
/// this loop back off and retry; it never holds back another sink.
///
/// On graceful shutdown no new request starts; the one in flight may finish within
/// `shutdownGrace`, then it is aborted (and resent after the restart). Cursors are durable as
/// soon as they move, so there is nothing more to save.
public struct SinkService<Encoder: SinkEncoder>: Service {
    /// The spool consumer name ("prometheus", "loki", "orchestrator").
    public let name: String
    let spool: Spool
    let transport: any HTTPTransport
    let retryPolicy: RetryPolicy
    let ioThreadPool: NIOThreadPool
    let logger: Logger
    /// The sink's counters, shared with the status API.
    public let metrics: SinkMetrics
    let initialEncoder: Encoder
    /// How long an in-flight request may run on after a graceful shutdown began.
    let shutdownGrace: Duration
    /// How often an idle sink looks for new records.
    let idlePollInterval: Duration
    /// Records read (and encoded) at a time.
    let readBatchRecords: Int

    public init(
        name: String,
        encoder: Encoder,
        spool: Spool,
        transport: any HTTPTransport,
        retryPolicy: RetryPolicy,
        ioThreadPool: NIOThreadPool,
        logger: Logger,
        shutdownGrace: Duration = .seconds(5),
        idlePollInterval: Duration = .milliseconds(200),
        readBatchRecords: Int = 256
    ) {
        self.name = name
        self.initialEncoder = encoder
        self.spool = spool
        self.transport = transport
        self.retryPolicy = retryPolicy
        self.ioThreadPool = ioThreadPool
        self.metrics = SinkMetrics(sink: name, itemName: encoder.itemName)
        self.shutdownGrace = shutdownGrace
        self.idlePollInterval = idlePollInterval
        self.readBatchRecords = readBatchRecords
        var logger = logger
        logger[metadataKey: "sink.name"] = "\(name)"
        self.logger = logger
    }

    public func run() async throws {
        let stop = StopSignal()
        try await withGracefulShutdownHandler {
            try await loop(stop: stop)
        } onGracefulShutdown: {
            stop.stop()
        }
        logger.debug("sink stopped", metadata: ["sink.cursor": "\(spool.cursor(of: name) ?? 0)"])
    }

    /// A chunk of records, encoded.
    private struct Chunk: Sendable {
        var requests: [OutgoingRequest]
        var encoder: Encoder
        var throughSequence: UInt64
        var lostRecords: UInt64
        var undecodable: Int
    }

    private func loop(stop: StopSignal) async throws {
        var reader = try spool.reader(for: name)
        var encoder = initialEncoder
        var delivered = spool.cursor(of: name) ?? 0
        while !stop.isStopped && !Task.isCancelled {
            guard spool.lastSequence > delivered else {
                metrics.pending(since: nil)
                _ = await stop.sleep(for: idlePollInterval)
                continue
            }
            let chunk: Chunk
            do {
                chunk = try await read(reader, encoder: encoder)
            } catch {
                // A spool that cannot be read now (I/O error, a file gone under us) must not stop
                // the agent: wait, then read again from the durable cursor.
                guard await spoolTrouble("spool read failed; retrying from the cursor", error, stop: stop) else {
                    return
                }
                reader = try spool.reader(for: name)
                delivered = spool.cursor(of: name) ?? delivered
                continue
            }
            encoder = chunk.encoder
            metrics.lost(records: chunk.lostRecords)
            if chunk.undecodable > 0 {
                logger.error(
                    "spool records could not be decoded; skipped",
                    metadata: ["sink.records": "\(chunk.undecodable)"]
                )
            }
            for request in chunk.requests {
                metrics.pending(since: request.oldestUnixMilliseconds)
                guard await settle(request, stop: stop) else { return }
                if let sequence = request.acknowledgeThrough {
                    guard await acknowledge(through: sequence, stop: stop) else { return }
                }
            }
            if chunk.throughSequence > delivered {
                guard await acknowledge(through: chunk.throughSequence, stop: stop) else { return }
            } else if chunk.requests.isEmpty {
                // No progress (the last sequence is beyond what can be read, e.g. a damaged tail
                // or a cursor ahead of the data after a power cut): wait for new appends.
                _ = await stop.sleep(for: idlePollInterval)
            }
            delivered = max(delivered, chunk.throughSequence)
        }
    }

    /// Logs a spool error (at most once per streak of failures) and waits before the next try;
    /// false when stopping.
    private func spoolTrouble(_ message: Logger.Message, _ error: any Error, stop: StopSignal) async -> Bool {
        logger.error(message, metadata: ["error": "\(error)", "spool.dir": "\(spool.directory)"])
        return await stop.sleep(for: min(retryPolicy.maximumBackoff, .seconds(5)))
    }

    /// Moves the cursor, retrying (the records are delivered; only the cursor file is behind)
    /// until it is durable; false when stopping first (the records are resent after a restart).
    private func acknowledge(through sequence: UInt64, stop: StopSignal) async -> Bool {
        while true {
            do {
                try await acknowledge(through: sequence)
                return true
            } catch {
                guard await spoolTrouble("cannot save the sink's cursor; retrying", error, stop: stop) else {
                    return false
                }
            }
        }
    }

    private func read(_ reader: SpoolReader, encoder: Encoder) async throws -> Chunk {
        let maxRecords = readBatchRecords
        return try await ioThreadPool.runIfActive {
            let result = try reader.read(maxRecords: maxRecords, kinds: encoder.recordKinds)
            var batches: [SpoolBatch] = []
            batches.reserveCapacity(result.records.count)
            var undecodable = 0
            for record in result.records {
                guard let batch = try? ResourceWatcher_V1_Batch(serializedBytes: record.payload) else {
                    undecodable += 1
                    continue
                }
                batches.append(SpoolBatch(sequence: record.sequence, kind: record.kind, batch: batch))
            }
            var encoder = encoder
            let requests = encoder.encode(batches)
            return Chunk(
                requests: requests,
                encoder: encoder,
                throughSequence: result.throughSequence,
                lostRecords: result.lostRecords,
                undecodable: undecodable
            )
        }
    }

    private func acknowledge(through sequence: UInt64) async throws {
        let spool = self.spool
        let name = self.name
        try await ioThreadPool.runIfActive { try spool.acknowledge(consumer: name, through: sequence) }
    }

    /// Sends `outgoing` until it is delivered or dropped; false when stopping first.
    private func settle(_ outgoing: OutgoingRequest, stop: StopSignal) async -> Bool {
        var attempt = 0
        var random = SystemRandomNumberGenerator()
        let probe = ReachabilityProbe(url: outgoing.request.url)
        while true {
            if stop.isStopped || Task.isCancelled { return false }
            guard let outcome = await send(outgoing.request, stop: stop) else { return false }
            let decision: RetryPolicy.Decision
            let description: String
            var unreachable = false
            switch outcome {
            case .success(let response):
                decision = RetryPolicy.decide(
                    status: response.status,
                    retryAfter: response.header("Retry-After"),
                    body: response.body
                )
                description = "HTTP \(response.status): " + Self.excerpt(response.body)
            case .failure(let error):
                if error.code == .cancelled || error.code == .shutDown { return false }
                unreachable = error.code == .connect
                decision = RetryPolicy.decide(status: nil)
                description = error.description
            }
            switch decision {
            case .delivered:
                if attempt > 0 {
                    logger.info("sink recovered", metadata: ["sink.failed_attempts": "\(attempt)"])
                }
                metrics.delivered(items: outgoing.itemCount, atUnixMilliseconds: RFC3339.nowUnixMilliseconds())
                return true
            case .drop(let reason):
                // A request the destination refuses whole for some of its items (Prometheus rolls
                // back a request with one out-of-order sample) is sent again in halves, so the
                // others still arrive; only the refused items themselves are dropped. Loki keeps
                // the valid entries of a push itself.
                if outgoing.splitsOnRejection, let split = outgoing.split {
                    let parts = split()
                    if parts.count > 1 {
                        logger.debug(
                            "request rejected; sending it in halves to keep what the destination accepts",
                            metadata: ["sink.reason": "\(reason)", "sink.items": "\(outgoing.itemCount)"]
                        )
                        for part in parts {
                            guard await settle(part, stop: stop) else { return false }
                        }
                        return true
                    }
                }
                metrics.dropped(items: outgoing.itemCount, reason: reason, error: description)
                // Out of order or duplicate: a repeat of what the destination already holds (a
                // resend after a crash), counted; anything else is worth a warning.
                logger.log(
                    level: reason == "out_of_order" || reason == "duplicate" ? .debug : .warning,
                    "request rejected; dropped",
                    metadata: [
                        "sink.reason": "\(reason)", "sink.items": "\(outgoing.itemCount) \(metrics.itemName)",
                        "http.response": "\(description)",
                    ]
                )
                return true
            case .tooLarge:
                guard let split = outgoing.split else {
                    metrics.dropped(items: outgoing.itemCount, reason: "too_large", error: description)
                    logger.warning(
                        "request too large for the destination, and it holds one item; dropped",
                        metadata: [
                            "sink.items": "\(outgoing.itemCount) \(metrics.itemName)",
                            "http.response": "\(description)",
                        ]
                    )
                    return true
                }
                let parts = split()
                logger.info(
                    "request too large for the destination; sending it in smaller parts",
                    metadata: [
                        "sink.items": "\(outgoing.itemCount) \(metrics.itemName)", "sink.parts": "\(parts.count)",
                    ]
                )
                for part in parts {
                    guard await settle(part, stop: stop) else { return false }
                }
                return true
            case .misconfigured(let reason):
                let failures = metrics.failed(error: description)
                attempt += 1
                let metadata: Logger.Metadata = [
                    "sink.reason": "\(reason)", "http.response": "\(description)",
                    "sink.retry_in_ms": "\(retryPolicy.maximumBackoff.inMilliseconds)",
                    "sink.items": "\(outgoing.itemCount) \(metrics.itemName)",
                ]
                if failures == 1 {
                    await persistCursor()
                    logger.error(
                        "sink refuses the agent (check its URL and token); keeping the data and retrying",
                        metadata: metadata
                    )
                } else {
                    logger.debug("sink still refuses the agent", metadata: metadata)
                }
                guard await stop.sleep(for: retryPolicy.maximumBackoff) else { return false }
            case .retry(let notBefore):
                let failures = metrics.failed(error: description)
                let delay = retryPolicy.backoff(attempt: attempt, notBefore: notBefore, using: &random)
                attempt += 1
                let metadata: Logger.Metadata = [
                    "sink.error": "\(description)", "sink.retry_in_ms": "\(delay.inMilliseconds)",
                    "sink.attempt": "\(attempt)",
                ]
                // Once per outage at warning, then quietly: an outage must not flood the log.
                if failures == 1 {
                    await persistCursor()
                    logger.warning("sink failing; retrying with backoff", metadata: metadata)
                } else {
                    logger.debug("sink retry", metadata: metadata)
                }
                if unreachable, let probe {
                    guard await waitForReturn(of: probe, atMost: delay, stop: stop) else { return false }
                } else {
                    guard await stop.sleep(for: delay) else { return false }
                }
            }
        }
    }

    /// Writes this sink's cursor file now. While deliveries flow it is written lazily (at most
    /// every `SpoolOptions.cursorPersistInterval`); a sink that starts failing may stay down for
    /// long, and a crash meanwhile must not resend what was delivered before (Prometheus refuses
    /// such repeats as out of order, and sorting them out costs requests after the return).
    private func persistCursor() async {
        let spool = self.spool
        let name = self.name
        do {
            try await ioThreadPool.runIfActive { try spool.persistCursors([name]) }
        } catch {
            logger.debug(
                "cursor not saved at the start of a failure; it is saved later",
                metadata: ["error": "\(error)"]
            )
        }
    }

    /// Waits out `limit` (rounded up to whole probe intervals, at least one) a probe interval at
    /// a time, probing the destination between them: returns (true) as soon as a connection
    /// opens, or when the time is up; false when stopping first. A destination that is down sees
    /// at most one probe or request per interval.
    private func waitForReturn(of probe: ReachabilityProbe, atMost limit: Duration, stop: StopSignal) async -> Bool {
        let steps = max(1, Int((limit / Self.probeInterval).rounded(.up)))
        for step in 1...steps {
            guard await stop.sleep(for: Self.probeInterval) else { return false }
            if step == steps { break }
            let reachable = (try? await ioThreadPool.runIfActive { probe.isReachable() }) ?? false
            if reachable {
                logger.debug("sink destination accepts connections again; retrying now")
                return true
            }
        }
        return true
    }

    /// How often a sink whose requests cannot connect probes its destination.
    static var probeInterval: Duration { .seconds(1) }

    /// One attempt; nil when the shutdown grace ran out and the request was aborted.
    private func send(_ request: HTTPRequest, stop: StopSignal) async -> Result<HTTPResponse, HTTPTransportError>? {
        let transport = self.transport
        let grace = shutdownGrace
        return await withTaskGroup(of: Result<HTTPResponse, HTTPTransportError>?.self) { group in
            group.addTask {
                do throws(HTTPTransportError) {
                    return .success(try await transport.send(request))
                } catch {
                    return .failure(error)
                }
            }
            group.addTask {
                await stop.wait()
                if Task.isCancelled { return nil }
                do { try await Task.sleep(for: grace) } catch { return nil }
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
    }

    /// The first bytes of a response body, for logs.
    static func excerpt(_ body: [UInt8]) -> String {
        let text = String(decoding: body.prefix(256), as: UTF8.self)
        return body.count > 256 ? text + "…" : text
    }
}
