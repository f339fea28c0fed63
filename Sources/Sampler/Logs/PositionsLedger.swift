import Logging
import WatcherProto

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// How far each source of one log reader (tailed files, container logs) has been shipped, and the
/// file in the spool directory that keeps it. Both readers work the same way:
///
/// - every tick `read` starts from the committed positions and returns new ones with a
///   generation (`beginRead`); only the latest read may be committed;
/// - `commit` is called once the read's records are in the spool: the positions become the
///   committed ones and the file is rewritten (temporary file, fsync, rename, fsync of the
///   directory) when they changed. A crash between append and commit resends those lines
///   (at-least-once); none is ever skipped.
///
/// The file (`tail-positions.json`, `container-log-positions.json`):
///
///     {"version": 1, "<sources key>": {"<source name>": <Position as JSON>, …}}
///
/// One writer: the spool's LOCK keeps a second agent out of the directory. Not thread-safe: the
/// reader keeps it under its own lock.
struct PositionsLedger<Position: Codable & Equatable & Sendable>: Sendable {
    /// The positions file.
    let path: String
    /// The document's member holding the positions ("files", "containers").
    let sourcesKey: String
    /// Committed positions by source; nil until loaded.
    private(set) var committed: [String: Position]?
    /// What the file holds, so an unchanged tick does not rewrite it.
    private var saved: [String: Position] = [:]
    /// Bumped by every read; only the latest read may be committed.
    private(set) var generation: UInt64 = 0
    /// Saving failed last time (logged once until it works again).
    private var saveFailing = false

    static var version: Int { 1 }

    init(path: String, sourcesKey: String) {
        self.path = path
        self.sourcesKey = sourcesKey
    }

    var isLoaded: Bool { committed != nil }

    /// The committed positions, loading them from the file on first use. An unreadable file is
    /// logged with `unreadable` (what that means for the sources) and read as empty. Blocking.
    mutating func loadedPositions(logger: Logger, unreadable: Logger.Message) -> [String: Position] {
        if let committed { return committed }
        var positions: [String: Position] = [:]
        do {
            positions = try Self.load(from: path, sourcesKey: sourcesKey) ?? [:]
        } catch {
            logger.warning(unreadable, metadata: ["log.positions": "\(path)", "error": "\(error)"])
        }
        committed = positions
        saved = positions
        return positions
    }

    /// The generation of a new read; earlier reads can no longer be committed.
    mutating func beginRead() -> UInt64 {
        generation += 1
        return generation
    }

    /// Makes `positions` (from the read of `generation`) the committed ones and saves them when
    /// they changed; false, changing nothing, for a read older than the latest. A failed save is
    /// logged once with `saveFailed`: the lines are in the spool, so after a crash they would be
    /// sent again, not lost. Blocking (fsync).
    mutating func commit(
        _ positions: [String: Position],
        generation: UInt64,
        logger: Logger,
        saveFailed: Logger.Message
    ) -> Bool {
        guard generation == self.generation else { return false }
        committed = positions
        saveIfChanged(positions, logger: logger, saveFailed: saveFailed)
        return true
    }

    /// Rewrites the file when `positions` differ from what it holds; a failure is logged once
    /// with `saveFailed` until a save works again. Blocking (fsync).
    private mutating func saveIfChanged(_ positions: [String: Position], logger: Logger, saveFailed: Logger.Message) {
        guard positions != saved else { return }
        do {
            try Self.save(positions, to: path, sourcesKey: sourcesKey)
            saved = positions
            saveFailing = false
        } catch {
            if !saveFailing { logger.warning(saveFailed, metadata: ["log.positions": "\(path)", "error": "\(error)"]) }
            saveFailing = true
        }
    }

    /// Makes `positions` committed at once for sources that have no committed position yet,
    /// and saves them: where a source seen for the first time starts (the end of a file already
    /// there, or "await the file") must not move because the tick's append failed, or a later
    /// read would start at a later end and skip what was written in between. Blocking (fsync).
    mutating func adoptStartingPositions(_ positions: [String: Position], logger: Logger, saveFailed: Logger.Message) {
        guard var committed, !positions.isEmpty else { return }
        for (source, position) in positions where committed[source] == nil { committed[source] = position }
        self.committed = committed
        saveIfChanged(committed, logger: logger, saveFailed: saveFailed)
    }

    /// The positions a file holds; nil when there is no file yet. Blocking.
    static func load(from path: String, sourcesKey: String) throws -> [String: Position]? {
        guard let bytes = try LogFileIO.readWholeFile(path) else { return nil }
        let document = try JSONDecoder().decode(Document.self, from: Data(bytes))
        guard document.version == version else {
            throw LogFileTailerError(.unreadablePositions, "unknown version \(document.version)", path: path)
        }
        guard let positions = document.sources[sourcesKey] else {
            throw LogFileTailerError(.unreadablePositions, "no \"\(sourcesKey)\" member", path: path)
        }
        return positions
    }

    /// Replaces the file atomically with `positions`. Blocking.
    static func save(_ positions: [String: Position], to path: String, sourcesKey: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let document = Document(version: version, sources: [sourcesKey: positions])
        try LogFileIO.replaceAtomically(path, with: Array(try encoder.encode(document)))
    }

    /// `{"version": 1, "<sources key>": {…}}`.
    private struct Document: Codable {
        var version: Int
        var sources: [String: [String: Position]]

        private struct Key: CodingKey {
            var stringValue: String
            var intValue: Int? { nil }
            init(stringValue: String) { self.stringValue = stringValue }
            init?(intValue: Int) { nil }
        }

        init(version: Int, sources: [String: [String: Position]]) {
            self.version = version
            self.sources = sources
        }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: Key.self)
            version = try container.decode(Int.self, forKey: Key(stringValue: "version"))
            sources = [:]
            for key in container.allKeys where key.stringValue != "version" {
                sources[key.stringValue] = try container.decode([String: Position].self, forKey: key)
            }
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: Key.self)
            try container.encode(version, forKey: Key(stringValue: "version"))
            for (key, positions) in sources { try container.encode(positions, forKey: Key(stringValue: key)) }
        }
    }
}

/// A log reader's records of one tick, and the positions to commit once they are in the spool.
struct LogSourceRead<Position: Sendable>: Sendable {
    var records: [ResourceWatcher_V1_LogRecord]
    /// The positions after `records`, by source.
    var positions: [String: Position]
    /// The ledger generation of the read; a later read makes this one uncommittable.
    var generation: UInt64
}
