import CRC32C

/// A consumer's cursor file: 16 bytes, "RWC1" ‖ sequence (u64 LE) ‖ CRC-32C of the first 12 bytes.
enum CursorFile {
    static let magic: [UInt8] = Array("RWC1".utf8)
    static let suffix = ".cursor"

    static func path(for consumer: String, in directory: String) -> String {
        directory + "/" + consumer + suffix
    }

    static func encode(_ sequence: UInt64) -> [UInt8] {
        var bytes = magic
        withUnsafeBytes(of: sequence.littleEndian) { bytes.append(contentsOf: $0) }
        let crc = bytes.withUnsafeBytes { rw_crc32c_extend(0, $0.baseAddress, $0.count) }
        withUnsafeBytes(of: crc.littleEndian) { bytes.append(contentsOf: $0) }
        return bytes
    }

    /// The sequence in a cursor file's bytes, or nil if they are not a valid cursor.
    static func decode(_ bytes: [UInt8]) -> UInt64? {
        guard bytes.count == 16, Array(bytes[0..<4]) == magic else { return nil }
        return bytes.withUnsafeBytes { raw -> UInt64? in
            let crc = rw_crc32c_extend(0, raw.baseAddress, 12)
            guard UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 12, as: UInt32.self)) == crc else {
                return nil
            }
            return UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 4, as: UInt64.self))
        }
    }

    /// Consumer names become file names, so they are restricted to a safe alphabet.
    static func isValidConsumerName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 100
            && name.utf8.allSatisfy {
                ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) || $0 == 0x2D
                    || $0 == 0x5F
            }
    }
}
