import CRC32C
import CZstd

/// A frame header that passed validation: magic, length bound and CRC.
struct FrameHeader: Equatable {
    let sequence: UInt64
    let kind: UInt8
    let flags: UInt8
    /// Offset of the frame's first byte in the buffer it was found in.
    let offset: Int
    let payloadLength: Int

    var payloadOffset: Int { offset + FrameLayout.headerSize }
    var endOffset: Int { payloadOffset + payloadLength }
}

/// Compresses payloads and lays out frames. Not thread-safe: owned by the spool's writer state.
final class FrameEncoder {
    private let context: OpaquePointer
    private let level: Int32

    init(compressionLevel: Int32 = 3) {
        guard let context = ZSTD_createCCtx() else {
            preconditionFailure("ZSTD_createCCtx returned NULL (out of memory)")
        }
        self.context = context
        self.level = compressionLevel
    }

    deinit { ZSTD_freeCCtx(context) }

    /// Replaces `frame` with the complete frame for `payload`.
    func encode(
        sequence: UInt64,
        kind: UInt8,
        payload: UnsafeRawBufferPointer,
        into frame: inout [UInt8]
    ) throws(SpoolError) {
        let bound = ZSTD_compressBound(payload.count)
        frame.removeAll(keepingCapacity: true)
        frame.append(contentsOf: repeatElement(0, count: FrameLayout.headerSize + bound))
        let compressedSize = frame.withUnsafeMutableBytes { buffer in
            ZSTD_compressCCtx(
                context,
                buffer.baseAddress! + FrameLayout.headerSize,
                bound,
                payload.baseAddress,
                payload.count,
                level
            )
        }
        if ZSTD_isError(compressedSize) != 0 {
            throw SpoolError(
                .invalidArgument,
                "zstd compression failed: \(String(cString: ZSTD_getErrorName(compressedSize)))"
            )
        }
        guard compressedSize <= FrameLayout.maxPayloadBytes else {
            throw SpoolError(.invalidArgument, "record of \(payload.count) bytes is larger than the 64 MiB frame limit")
        }
        frame.removeLast(bound - compressedSize)
        frame.withUnsafeMutableBytes { buffer in
            buffer.storeBytes(of: FrameLayout.magic.littleEndian, toByteOffset: 0, as: UInt32.self)
            buffer.storeBytes(of: UInt32(compressedSize).littleEndian, toByteOffset: 4, as: UInt32.self)
            buffer.storeBytes(of: sequence.littleEndian, toByteOffset: 12, as: UInt64.self)
            buffer[20] = kind
            buffer[21] = FrameLayout.flagZstd
            buffer[22] = 0
            buffer[23] = 0
            let crc = FrameCodec.checksum(of: UnsafeRawBufferPointer(buffer))
            buffer.storeBytes(of: crc.littleEndian, toByteOffset: 8, as: UInt32.self)
        }
    }
}

/// Decompresses payloads. Not thread-safe: one per reader.
final class FrameDecoder {
    private let context: OpaquePointer

    init() {
        guard let context = ZSTD_createDCtx() else {
            preconditionFailure("ZSTD_createDCtx returned NULL (out of memory)")
        }
        self.context = context
    }

    deinit { ZSTD_freeDCtx(context) }

    /// The decompressed payload of a validated frame, or nil when it does not decompress
    /// (which, with a matching CRC, means it was written by a different encoder: treated as corrupt).
    func payload(of header: FrameHeader, in buffer: UnsafeRawBufferPointer) -> [UInt8]? {
        let source = UnsafeRawBufferPointer(rebasing: buffer[header.payloadOffset..<header.endOffset])
        guard header.flags & FrameLayout.flagZstd != 0 else { return Array(source) }
        let size = ZSTD_getFrameContentSize(source.baseAddress, source.count)
        guard size != ZSTD_CONTENTSIZE_ERROR, size != ZSTD_CONTENTSIZE_UNKNOWN, size <= UInt64(1 << 30) else {
            return nil
        }
        var output = [UInt8](repeating: 0, count: Int(size))
        let written = output.withUnsafeMutableBytes { out in
            ZSTD_decompressDCtx(context, out.baseAddress, out.count, source.baseAddress, source.count)
        }
        guard ZSTD_isError(written) == 0, written == Int(size) else { return nil }
        return output
    }
}

/// Finds and validates frames in a buffer of segment bytes.
enum FrameCodec {
    /// CRC-32C over the length field and everything after the CRC field (see the format drawing).
    static func checksum(of frame: UnsafeRawBufferPointer) -> UInt32 {
        let crc = rw_crc32c_extend(0, frame.baseAddress! + 4, 4)
        return rw_crc32c_extend(crc, frame.baseAddress! + 12, frame.count - 12)
    }

    /// What is at `offset` of `buffer`.
    enum Probe: Equatable {
        /// A whole valid frame.
        case frame(FrameHeader)
        /// A plausible header whose frame runs past the end of the buffer.
        case incomplete
        /// Not a valid frame.
        case invalid
    }

    static func probe(_ buffer: UnsafeRawBufferPointer, at offset: Int) -> Probe {
        let available = buffer.count - offset
        guard available >= 4 else { return available > 0 ? .incomplete : .invalid }
        guard buffer.loadUnaligned(fromByteOffset: offset, as: UInt32.self) == FrameLayout.magic.littleEndian else {
            return .invalid
        }
        guard available >= FrameLayout.headerSize else { return .incomplete }
        let length = Int(UInt32(littleEndian: buffer.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self)))
        guard length <= FrameLayout.maxPayloadBytes else { return .invalid }
        guard available >= FrameLayout.headerSize + length else { return .incomplete }
        let frame = UnsafeRawBufferPointer(rebasing: buffer[offset..<(offset + FrameLayout.headerSize + length)])
        let stored = UInt32(littleEndian: frame.loadUnaligned(fromByteOffset: 8, as: UInt32.self))
        guard stored == checksum(of: frame) else { return .invalid }
        return .frame(
            FrameHeader(
                sequence: UInt64(littleEndian: frame.loadUnaligned(fromByteOffset: 12, as: UInt64.self)),
                kind: frame[20],
                flags: frame[21],
                offset: offset,
                payloadLength: length
            )
        )
    }

    /// The offset of the next valid frame after damage at `offset`, or nil if there is none
    /// in the buffer. Candidates are positions holding the magic whose CRC also checks out.
    static func resynchronise(_ buffer: UnsafeRawBufferPointer, after offset: Int) -> Int? {
        let first: UInt8 = 0x52  // "R", first byte of the magic
        var position = offset + 1
        while position + FrameLayout.headerSize <= buffer.count {
            guard let found = UnsafeRawBufferPointer(rebasing: buffer[position...]).firstIndex(of: first) else {
                return nil
            }
            let candidate = position + found
            if case .frame = probe(buffer, at: candidate) { return candidate }
            position = candidate + 1
        }
        return nil
    }

    /// The outcome of scanning a whole buffer from `start`.
    struct Scan {
        var frames: [FrameHeader] = []
        /// Damaged ranges that were skipped (offset, length), excluding a damaged tail.
        var corruptRegions: [(offset: Int, length: Int)] = []
        /// Where the valid data ends: after the last frame, before any damaged or partial tail.
        var validEnd: Int = 0
        /// Bytes after `validEnd` that hold no valid frame (a torn or garbage tail).
        var tailBytes: Int = 0
    }

    /// Walks every frame of `buffer` from `start`, resynchronising past damage.
    static func scan(_ buffer: UnsafeRawBufferPointer, from start: Int = 0) -> Scan {
        var result = Scan()
        var offset = start
        result.validEnd = start
        while offset < buffer.count {
            switch probe(buffer, at: offset) {
            case .frame(let header):
                result.frames.append(header)
                offset = header.endOffset
                result.validEnd = offset
            case .incomplete, .invalid:
                guard let next = resynchronise(buffer, after: offset) else {
                    result.tailBytes = buffer.count - offset
                    return result
                }
                result.corruptRegions.append((offset, next - offset))
                offset = next
            }
        }
        return result
    }
}
