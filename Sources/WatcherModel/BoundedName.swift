/// A name from outside (a model name, a label value) made fit to keep: at most
/// `InputLimitsConfig.nameBytes` bytes of printable UTF-8. Control characters (C0, DEL, C1) become
/// `_`, and a longer name is cut at a character boundary, so a 200 KB model name costs 256 bytes
/// in every batch, on `/metrics` and in remote-write, and no name can break a log line.
public enum BoundedName {
    /// `name` bounded, and whether anything was changed.
    public static func bounded(
        _ name: String,
        maximumBytes: Int = InputLimitsConfig.nameBytes
    ) -> (
        name: String, wasCut: Bool
    ) {
        var isPrintable = true
        for scalar in name.unicodeScalars where isControl(scalar) {
            isPrintable = false
            break
        }
        if isPrintable, name.utf8.count <= maximumBytes { return (name, false) }
        var result = String.UnicodeScalarView()
        var bytes = 0
        for scalar in name.unicodeScalars {
            let kept: Unicode.Scalar = isControl(scalar) ? "_" : scalar
            let width = UTF8.width(kept)
            guard bytes + width <= maximumBytes else { break }
            bytes += width
            result.append(kept)
        }
        return (String(result), true)
    }

    private static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value)
    }
}
