/// Renders a sample's exact integers in the units of DESIGN §3 for logs (one decimal).
enum SampleFormatting {
    static func percent(_ centipercent: UInt32) -> String { oneDecimal(Double(centipercent) / 100) }
    static func mebibytes(kibibytes: UInt64) -> String { oneDecimal(Double(kibibytes) / 1024) }
    static func kibibytes(bytes: UInt64) -> String { oneDecimal(Double(bytes) / 1024) }

    private static func oneDecimal(_ value: Double) -> String {
        let tenths = (value * 10).rounded()
        return "\(Int(tenths) / 10).\(abs(Int(tenths)) % 10)"
    }
}
