/// Number scanning over the bytes of a /proc file, without building strings: the sampler runs
/// these for every watched process on every tick.
enum ProcBytes {
    /// The decimal numbers of `bytes` in order (runs of digits; anything else separates them).
    /// Stops after `limit` numbers.
    static func numbers(_ bytes: ArraySlice<UInt8>, limit: Int) -> [UInt64] {
        var result: [UInt64] = []
        result.reserveCapacity(min(limit, 32))
        var value: UInt64 = 0
        var inNumber = false
        for byte in bytes {
            if byte >= 0x30 && byte <= 0x39 {
                value = value &* 10 &+ UInt64(byte &- 0x30)
                inNumber = true
            } else if inNumber {
                result.append(value)
                if result.count == limit { return result }
                value = 0
                inNumber = false
            }
        }
        if inNumber { result.append(value) }
        return result
    }

    /// The number after `key` at the start of a line ("read_bytes: 123"), or nil.
    static func keyedNumber(_ bytes: [UInt8], key: StaticString) -> UInt64? {
        let keyLength = key.utf8CodeUnitCount
        var lineStart = 0
        while lineStart < bytes.count {
            var lineEnd = lineStart
            while lineEnd < bytes.count && bytes[lineEnd] != UInt8(ascii: "\n") { lineEnd += 1 }
            if lineEnd - lineStart > keyLength && matches(bytes, at: lineStart, key) {
                return numbers(bytes[(lineStart + keyLength)..<lineEnd], limit: 1).first
            }
            lineStart = lineEnd + 1
        }
        return nil
    }

    private static func matches(_ bytes: [UInt8], at start: Int, _ key: StaticString) -> Bool {
        key.withUTF8Buffer { key in
            for index in 0..<key.count where bytes[start + index] != key[index] { return false }
            return true
        }
    }
}
