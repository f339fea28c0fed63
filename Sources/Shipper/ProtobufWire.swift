/// The few pieces of the protobuf wire format the remote-write encoder writes by hand.
enum ProtobufWire {
    static func appendVarint(_ value: UInt64, to bytes: inout [UInt8]) {
        var value = value
        while value >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        bytes.append(UInt8(value))
    }

    static func varintLength(_ value: UInt64) -> Int {
        var length = 1
        var value = value >> 7
        while value != 0 {
            length += 1
            value >>= 7
        }
        return length
    }

    /// A length-delimited field (wire type 2): tag, length, bytes.
    static func appendBytes(field: Int, _ payload: [UInt8], to bytes: inout [UInt8]) {
        appendVarint(UInt64(field << 3 | 2), to: &bytes)
        appendVarint(UInt64(payload.count), to: &bytes)
        bytes.append(contentsOf: payload)
    }
}
