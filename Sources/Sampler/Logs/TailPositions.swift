#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// Which file a descriptor or path refers to: `st_dev` and `st_ino`, stable across renames.
struct FileIdentity: Hashable, Sendable {
    var device: UInt64
    var inode: UInt64

    /// No file: the path was missing when it was first watched. Inode 0 is never a real file, so
    /// any file that appears later differs from it and is read from its start.
    static let none = FileIdentity(device: 0, inode: 0)
}

/// How far one log path has been shipped.
///
/// `offset` is the start of the first byte not yet in a log record: a partial last line is not
/// consumed, so it is read again (whole) once its newline arrives. The fingerprint of the first
/// `headLength` (≤ 64) consumed bytes tells a copytruncate or a replaced file that has already
/// grown past `offset` apart from the file we were reading.
struct TailPosition: Codable, Equatable, Sendable {
    var file: FileIdentity
    var offset: Int
    /// Bytes at the start of the file covered by `headHash` (0 until something is consumed).
    var headLength: Int = 0
    /// FNV-1a 64 of the first `headLength` bytes.
    var headHash: UInt64 = 0
    /// The bytes at `offset` are the rest of an over-long line already shipped cut: drop them
    /// through the next newline.
    var discarding: Bool = false

    /// Bytes of the head fingerprinted: enough to tell two log files apart by their first line.
    static let headBytes = 64

    /// The start of `file`, nothing consumed yet.
    static func start(of file: FileIdentity) -> TailPosition { TailPosition(file: file, offset: 0) }

    enum CodingKeys: String, CodingKey {
        case device, inode, offset, discarding
        case headLength = "head_length"
        case headHash = "head_hash"
    }

    init(file: FileIdentity, offset: Int, headLength: Int = 0, headHash: UInt64 = 0, discarding: Bool = false) {
        self.file = file
        self.offset = offset
        self.headLength = headLength
        self.headHash = headHash
        self.discarding = discarding
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        file = FileIdentity(
            device: try container.decode(UInt64.self, forKey: .device),
            inode: try container.decode(UInt64.self, forKey: .inode)
        )
        offset = try container.decode(Int.self, forKey: .offset)
        headLength = try container.decodeIfPresent(Int.self, forKey: .headLength) ?? 0
        // Hex text: a 64-bit hash is not safe as a JSON number in every reader.
        headHash = UInt64(try container.decodeIfPresent(String.self, forKey: .headHash) ?? "0", radix: 16) ?? 0
        discarding = try container.decodeIfPresent(Bool.self, forKey: .discarding) ?? false
        guard offset >= 0, (0...Self.headBytes).contains(headLength) else {
            throw DecodingError.dataCorruptedError(forKey: .offset, in: container, debugDescription: "out of range")
        }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(file.device, forKey: .device)
        try container.encode(file.inode, forKey: .inode)
        try container.encode(offset, forKey: .offset)
        try container.encode(headLength, forKey: .headLength)
        try container.encode(String(headHash, radix: 16), forKey: .headHash)
        if discarding { try container.encode(true, forKey: .discarding) }
    }

    /// FNV-1a 64 of `bytes`: cheap, and plenty to notice that a file's first line changed.
    static func fingerprint(_ bytes: some Sequence<UInt8>) -> UInt64 {
        bytes.reduce(0xcbf2_9ce4_8422_2325 as UInt64) { hash, byte in (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
    }
}

/// The tail positions file in the spool directory, kept by a `PositionsLedger`:
///
///     {"version": 1,
///      "files": {"/var/log/app.log": {"device": 2049, "inode": 1312, "offset": 5120,
///                                      "head_length": 64, "head_hash": "9e3779b97f4a7c15"}}}
enum TailPositionsFile {
    static let fileName = "tail-positions.json"
    static let sourcesKey = "files"

    /// The saved positions; nil when there is no file yet. Blocking.
    static func load(from path: String) throws -> [String: TailPosition]? {
        try PositionsLedger<TailPosition>.load(from: path, sourcesKey: sourcesKey)
    }

    /// Replaces the file atomically with `positions`. Blocking.
    static func save(_ positions: [String: TailPosition], to path: String) throws {
        try PositionsLedger<TailPosition>.save(positions, to: path, sourcesKey: sourcesKey)
    }
}
