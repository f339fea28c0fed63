import Logging

#if canImport(Glibc)
import Glibc
#endif

/// One watched log path and the descriptors open on it.
///
/// The descriptor of the file the committed position points at stays open between ticks: when
/// the file is renamed away (rotation) or deleted, the rest of it is still readable through that
/// descriptor, and is read before the new file at the path. Blocking; used under the tailer's lock.
struct TailedFile {
    let path: String
    /// Open descriptors by the identity of the file they hold: the committed position's file,
    /// the file now at the path, and any seen at the path in between (rotated away before a
    /// commit).
    private var descriptors: [FileIdentity: Int32] = [:]
    /// The files of `descriptors` in the order they were first seen at the path.
    private var seenOrder: [FileIdentity] = []
    /// The path was missing at the last look (logged once per disappearance).
    private var reportedMissing = false
    /// Why what is at the path is not read (`LogFileIO.open`'s rules), while it is refused;
    /// logged once per reason.
    private(set) var refusal: String?

    init(path: String) {
        self.path = path
    }

    /// How far a read got: the lines, and the position after them (not yet committed).
    struct Advance {
        var lines: [LogLine] = []
        var position: TailPosition
    }

    /// The bytes and lines one read may still take.
    private struct Budget {
        var bytes: Int
        var lines: Int
    }

    /// Reads what was appended since `saved`, within the per-file limits.
    ///
    /// With no saved position, a file already at the path starts at its end (an existing log,
    /// possibly huge, is history rather than news), and a missing path is awaited as
    /// `FileIdentity.none`: the file that appears there later is read from its start.
    mutating func advance(from saved: TailPosition?, limits: LogReadLimits, logger: Logger) -> Advance {
        let atPath = openFileAtPath(logger: logger)
        guard var position = saved else {
            guard let atPath, let descriptor = descriptors[atPath], let status = LogFileIO.status(of: descriptor) else {
                return Advance(position: .start(of: .none))
            }
            var position = TailPosition(file: atPath, offset: status.size)
            refreshHead(of: &position, descriptor: descriptor)
            return Advance(position: position)
        }
        var budget = Budget(bytes: limits.maxBytesPerSource, lines: limits.maxLinesPerSource)
        var lines: [LogLine] = []
        if position.file != atPath {
            // Rotated away or deleted. Finish the old file through the descriptor kept from the
            // previous tick; after a restart there is none, and its rest is out of reach.
            if let old = descriptors[position.file] {
                // A partial last line is final only once a new file has taken the path.
                let drained = read(
                    old,
                    position: &position,
                    budget: &budget,
                    limits: limits,
                    flushingPartialLine: atPath != nil,
                    into: &lines
                )
                guard drained else { return Advance(lines: lines, position: position) }
                if atPath == nil {
                    // Deleted and read to its end: let it go, and await a new file.
                    let deleted = LogFileIO.status(of: old).map { $0.linkCount == 0 } ?? true
                    return Advance(lines: lines, position: deleted ? .start(of: .none) : position)
                }
            }
            // Files seen at the path after that one and rotated away since (two rotations before
            // a commit): each from its start, in order, before the one there now.
            while let next = fileSeen(after: position.file), next != atPath, let descriptor = descriptors[next] {
                logger.debug("log file rotated twice; reading the one in between", metadata: ["log.path": "\(path)"])
                position = .start(of: next)
                let drained = read(
                    descriptor,
                    position: &position,
                    budget: &budget,
                    limits: limits,
                    flushingPartialLine: true,
                    into: &lines
                )
                guard drained else { return Advance(lines: lines, position: position) }
            }
            guard let atPath else { return Advance(lines: lines, position: position) }
            logger.debug("log file replaced; reading the new one from its start", metadata: ["log.path": "\(path)"])
            position = .start(of: atPath)
        }
        guard let descriptor = descriptors[position.file], let status = LogFileIO.status(of: descriptor) else {
            return Advance(lines: lines, position: position)
        }
        if status.size < position.offset || !headMatches(position, descriptor: descriptor) {
            logger.info(
                "log file truncated; reading it from the start",
                metadata: ["log.path": "\(path)", "log.offset": "\(position.offset)", "log.size": "\(status.size)"]
            )
            position = .start(of: position.file)
        }
        read(descriptor, position: &position, budget: &budget, limits: limits, flushingPartialLine: false, into: &lines)
        refreshHead(of: &position, descriptor: descriptor)
        return Advance(lines: lines, position: position)
    }

    /// Closes every descriptor but the one on `file` (the committed position's).
    mutating func keepOnly(_ file: FileIdentity) {
        for (identity, descriptor) in descriptors where identity != file { close(descriptor) }
        descriptors = descriptors.filter { $0.key == file }
        seenOrder = seenOrder.filter { $0 == file }
    }

    /// The file first seen at the path right after `file`, if its descriptor is still open;
    /// for `FileIdentity.none` (nothing was there), the first one seen.
    private func fileSeen(after file: FileIdentity) -> FileIdentity? {
        guard let index = seenOrder.firstIndex(of: file) else {
            return file == .none ? seenOrder.first : nil
        }
        let next = seenOrder.index(after: index)
        return next < seenOrder.endIndex ? seenOrder[next] : nil
    }

    /// Closes every descriptor.
    mutating func closeAll() { keepOnly(.none) }

    /// The identity of the regular file now at the path, with a descriptor open on it; nil when
    /// the path is missing. The identity comes from the descriptor, so a rotation between the
    /// `stat` and the `open` cannot pair the wrong file with it.
    private mutating func openFileAtPath(logger: Logger) -> FileIdentity? {
        if let identity = LogFileIO.identity(ofPath: path), descriptors[identity] != nil {
            reportedMissing = false
            refusal = nil
            return identity
        }
        let descriptor: Int32
        let identity: FileIdentity
        switch LogFileIO.open(path) {
        case .missing:
            refusal = nil
            if !reportedMissing {
                logger.debug("log file missing; looking again every tick", metadata: ["log.path": "\(path)"])
                reportedMissing = true
            }
            return nil
        case .refused(let reason):
            if refusal != reason {
                logger.warning(
                    "log file refused: nothing of it is read",
                    metadata: ["log.path": "\(path)", "reason": "\(reason)"]
                )
            }
            refusal = reason
            return nil
        case .file(let opened, let openedIdentity):
            descriptor = opened
            identity = openedIdentity
        }
        refusal = nil
        reportedMissing = false
        if descriptors[identity] == nil {
            descriptors[identity] = descriptor
            seenOrder.append(identity)
        } else {
            close(descriptor)
        }
        return identity
    }

    /// Reads lines from `position.offset` within the budget and moves the position past them.
    /// Returns whether the file was read to its end, nothing held back.
    @discardableResult
    private func read(
        _ descriptor: Int32,
        position: inout TailPosition,
        budget: inout Budget,
        limits: LogReadLimits,
        flushingPartialLine: Bool,
        into lines: inout [LogLine]
    ) -> Bool {
        guard let size = LogFileIO.status(of: descriptor)?.size else { return false }
        let available = max(0, size - position.offset)
        guard available > 0 else { return true }
        guard budget.bytes > 0, budget.lines > 0,
            let bytes = LogFileIO.read(descriptor, offset: position.offset, count: min(available, budget.bytes))
        else { return false }
        budget.bytes -= bytes.count
        let splitter = LogLineSplitter(maxLineBytes: limits.maxLineBytes, maxLines: budget.lines)
        let split = splitter.split(
            bytes[...],
            discarding: position.discarding,
            flushingPartialLine: flushingPartialLine && bytes.count == available
        )
        budget.lines -= split.lines.count
        lines += split.lines
        position.offset += split.consumed
        position.discarding = split.discarding
        return position.offset >= size
    }

    /// Whether the file still starts with the bytes fingerprinted when they were consumed.
    private func headMatches(_ position: TailPosition, descriptor: Int32) -> Bool {
        guard position.headLength > 0 else { return true }
        guard let head = LogFileIO.read(descriptor, offset: 0, count: position.headLength),
            head.count == position.headLength
        else { return false }
        return TailPosition.fingerprint(head) == position.headHash
    }

    /// Fingerprints up to the first 64 consumed bytes, once more of them are consumed.
    private func refreshHead(of position: inout TailPosition, descriptor: Int32) {
        let length = min(TailPosition.headBytes, position.offset)
        guard length > position.headLength, let head = LogFileIO.read(descriptor, offset: 0, count: length),
            head.count == length
        else { return }
        position.headLength = length
        position.headHash = TailPosition.fingerprint(head)
    }
}
