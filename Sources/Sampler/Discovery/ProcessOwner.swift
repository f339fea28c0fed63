#if canImport(Glibc)
import Glibc
#endif

/// Who a discovered process runs as, for `discovered_owner`: the user name of its effective
/// uid (`/proc/<pid>/status`), or the uid in decimal when the user database has no name for
/// it (a container's user) or the name is not short printable text.
enum ProcessOwner {
    /// Bytes of a user name shown at most; a longer one shows as the uid.
    static let maximumNameBytes = 64

    /// The owner of process `pid`, nil when /proc does not show it (it exited).
    static func name(ofProcess pid: Int32, reader: any ProcReader, root: String = "/proc") -> String? {
        guard let status = reader.contents(of: "\(root)/\(pid)/status"), let uid = effectiveUID(status) else {
            return nil
        }
        return userName(uid) ?? String(uid)
    }

    /// The effective uid: the second number of the `Uid:` line (real, effective, saved, fs).
    static func effectiveUID(_ status: [UInt8]) -> UInt32? {
        for line in status.split(separator: UInt8(ascii: "\n")) where line.starts(with: Array("Uid:".utf8)) {
            let fields = line.dropFirst(4).split(whereSeparator: { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }
            )
            guard fields.count >= 2 else { return nil }
            return UInt32(String(decoding: fields[1], as: UTF8.self))
        }
        return nil
    }

    /// The user database's name for `uid` (getpwuid_r), when it is printable ASCII and short.
    private static func userName(_ uid: UInt32) -> String? {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 4096)
        guard getpwuid_r(uid, &entry, &buffer, buffer.count, &result) == 0, result != nil, let name = entry.pw_name
        else { return nil }
        let bytes = Array(UnsafeBufferPointer(start: name, count: strnlen(name, maximumNameBytes + 1)))
            .map { UInt8(bitPattern: $0) }
        guard !bytes.isEmpty, bytes.count <= maximumNameBytes, bytes.allSatisfy({ (0x21...0x7E).contains($0) }) else {
            return nil
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
