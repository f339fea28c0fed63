import Logging
import Synchronization
import WatcherModel
import WatcherProto

/// Tails every component's `log_files` into log records (DESIGN §5), from positions saved in
/// the spool directory, across rotation and truncation.
///
/// Each tick is `read()`, append the records to the spool, then `commit(_:)`: positions move
/// (in memory and on disk) only after the lines before them are in the spool, so a failed
/// append reads the same lines again and a crash resends them (at-least-once, never lost).
///
/// - A path with no saved position starts at the end of the file already there: on the first
///   start an existing, possibly huge log is history, not news. A path missing at its first
///   look is awaited, and the file that appears later is read from its start.
/// - Rotation (the path now names another file): the rest of the old file is read through the
///   descriptor kept open since the previous tick, then the new file from its start.
/// - Truncation (the file is shorter than the position, or its first bytes changed): read again
///   from the start.
/// - A missing file is not an error: it is logged once at debug and looked for every tick.
///
/// Blocking: `read` and `commit` run on the sampler's I/O thread pool, one tick at a time.
final class LogFileTailer: Sendable {
    /// One tailed path and whose log it is.
    struct Source: Sendable, Equatable {
        var path: String
        var component: String
        var clientID: String
    }

    private struct State {
        /// Committed positions by path, loaded on the first read (on the I/O thread).
        var ledger: PositionsLedger<TailPosition>
        var files: [String: TailedFile] = [:]
    }

    let sources: [Source]
    let positionsPath: String
    let limits: LogReadLimits
    private let logger: Logger
    /// Where refused paths are counted (`log_file_refused`, per component, each tick refused).
    private let sourceLimits: SourceLimits
    private let state: Mutex<State>

    /// The name of the positions file in the spool directory.
    static let positionsFileName = TailPositionsFile.fileName

    /// Nil when no component has `log_files`. A path listed by two components is tailed once,
    /// for the first.
    convenience init?(
        components: [ComponentConfig],
        spoolDirectory: String,
        limits: LogReadLimits = .init(),
        logger: Logger,
        sourceLimits: SourceLimits = SourceLimits()
    ) {
        self.init(
            sources: Self.sources(of: components),
            positionsPath: spoolDirectory + "/" + Self.positionsFileName,
            limits: limits,
            logger: logger,
            sourceLimits: sourceLimits
        )
    }

    init?(
        sources: [Source],
        positionsPath: String,
        limits: LogReadLimits = .init(),
        logger: Logger,
        sourceLimits: SourceLimits = SourceLimits()
    ) {
        precondition(
            limits.areUsable,
            "log tail limits must leave room for a line"
        )
        guard !sources.isEmpty else { return nil }
        self.sources = sources
        self.positionsPath = positionsPath
        self.limits = limits
        self.logger = logger
        self.sourceLimits = sourceLimits
        self.state = Mutex(
            State(ledger: PositionsLedger(path: positionsPath, sourcesKey: TailPositionsFile.sourcesKey))
        )
    }

    deinit {
        state.withLock { state in
            for path in state.files.keys { state.files[path]?.closeAll() }
        }
    }

    static func sources(of components: [ComponentConfig]) -> [Source] {
        var seen = Set<String>()
        return components.flatMap { component in
            component.logFiles.compactMap { path in
                seen.insert(path).inserted
                    ? Source(path: path, component: component.name, clientID: component.clientID) : nil
            }
        }
    }

    /// Every file's lines since the committed positions, stamped `nowUnixNanoseconds` (the time
    /// they were read). Nothing moves until `commit` is given this result. Blocking.
    func read(nowUnixNanoseconds: Int64 = LogFileIO.nowUnixNanoseconds()) -> LogSourceRead<TailPosition> {
        state.withLock { state in
            let committed = state.ledger.loadedPositions(
                logger: logger,
                unreadable: "log tail positions unreadable; files already there are read from their end"
            )
            let generation = state.ledger.beginRead()
            var records: [ResourceWatcher_V1_LogRecord] = []
            var positions: [String: TailPosition] = [:]
            var starting: [String: TailPosition] = [:]
            for source in sources {
                var file = state.files[source.path] ?? TailedFile(path: source.path)
                let advance = file.advance(from: committed[source.path], limits: limits, logger: logger)
                state.files[source.path] = file
                if let refusal = file.refusal {
                    sourceLimits.note(
                        component: source.component,
                        reason: "log_file_refused",
                        detail: "log file \(source.path): \(refusal)"
                    )
                }
                positions[source.path] = advance.position
                if committed[source.path] == nil { starting[source.path] = advance.position }
                // Each line its own, increasing timestamp (1 ns apart): Loki keeps one of several
                // entries with the same stream, timestamp and line, so a line repeated in one
                // tick would otherwise arrive once.
                for (offset, line) in advance.lines.enumerated() {
                    records.append(Self.record(of: line, from: source, at: nowUnixNanoseconds + Int64(offset)))
                }
            }
            state.ledger.adoptStartingPositions(starting, logger: logger, saveFailed: "cannot save log tail positions")
            return LogSourceRead(records: records, positions: positions, generation: generation)
        }
    }

    /// How many watched paths are refused now (`LogFileIO.open`'s rules): nothing of them is read.
    func refusedCount() -> Int {
        state.withLock { state in state.files.values.filter { $0.refusal != nil }.count }
    }

    /// Makes `read`'s positions the committed ones and saves them; call it only once its records
    /// are in the spool. A read older than the latest is ignored. Blocking (fsync).
    func commit(_ read: LogSourceRead<TailPosition>) {
        state.withLock { state in
            guard
                state.ledger.commit(
                    read.positions,
                    generation: read.generation,
                    logger: logger,
                    saveFailed: "cannot save log tail positions"
                )
            else { return }
            for (path, position) in read.positions { state.files[path]?.keepOnly(position.file) }
        }
    }

    /// The log record of one line; its level is guessed from the text.
    static func record(
        of line: LogLine,
        from source: Source,
        at unixNanoseconds: Int64
    ) -> ResourceWatcher_V1_LogRecord {
        var record = ResourceWatcher_V1_LogRecord()
        record.timestampUnixNs = unixNanoseconds
        record.clientID = source.clientID
        record.component = source.component
        record.source = source.path
        record.level = LogLevelGuess.level(of: line.text)
        record.message = line.text
        if let originalLength = line.originalLength {
            record.metadata = ["truncated": "true", "original_length": "\(originalLength)"]
        }
        return record
    }
}
