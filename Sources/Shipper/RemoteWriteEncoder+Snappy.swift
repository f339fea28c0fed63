import CSnappy

extension RemoteWriteEncoder {
    /// Snappy block format (not framed), as remote-write requires.
    public static func snappyCompress(_ bytes: [UInt8]) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: snappy_max_compressed_length(bytes.count))
        var length = output.count
        let status = bytes.withUnsafeBytes { input in
            output.withUnsafeMutableBytes { out in
                snappy_compress(
                    input.baseAddress?.assumingMemoryBound(to: CChar.self),
                    input.count,
                    out.baseAddress!.assumingMemoryBound(to: CChar.self),
                    &length
                )
            }
        }
        precondition(status == SNAPPY_OK, "snappy_compress failed with a buffer of snappy_max_compressed_length")
        output.removeLast(output.count - length)
        return output
    }

    /// The inverse of `snappyCompress`; nil when `bytes` is not a valid snappy block.
    public static func snappyDecompress(_ bytes: [UInt8]) -> [UInt8]? {
        bytes.withUnsafeBytes { input -> [UInt8]? in
            let source = input.baseAddress?.assumingMemoryBound(to: CChar.self)
            var length = 0
            guard snappy_uncompressed_length(source, input.count, &length) == SNAPPY_OK else { return nil }
            var output = [UInt8](repeating: 0, count: length)
            let status = output.withUnsafeMutableBytes { out in
                snappy_uncompress(source, input.count, out.baseAddress?.assumingMemoryBound(to: CChar.self), &length)
            }
            return status == SNAPPY_OK ? output : nil
        }
    }
}
