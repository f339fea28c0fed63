/// Self-checking payloads for crash and disk-full tests: the content is a function of an index,
/// so a reader can regenerate what must have been written.
public enum CrashPayload {
    /// 100–4100 bytes: the index, then pseudo-random bytes (compressible runs mixed with noise).
    public static func make(index: UInt64) -> [UInt8] {
        var state = index &* 0x9E37_79B9_7F4A_7C15 &+ 1
        func next() -> UInt64 {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return state
        }
        let length = 100 + Int(next() % 4000)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(length)
        withUnsafeBytes(of: index.littleEndian) { bytes.append(contentsOf: $0) }
        while bytes.count < length {
            let value = next()
            let run = Int(value % 8)
            bytes.append(contentsOf: repeatElement(UInt8(truncatingIfNeeded: value >> 8), count: run))
            bytes.append(UInt8(truncatingIfNeeded: value >> 16))
        }
        return Array(bytes.prefix(length))
    }
}
