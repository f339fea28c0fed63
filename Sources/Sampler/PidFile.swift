#if canImport(Glibc)
import Glibc
#endif

/// What a component's `pid_file` says. The file is outside input: whoever can write its
/// directory decides what is there, so it is opened like a log file (`OwnerCheckedPath`: a
/// regular file only, checked before it is opened, symlinks only to their owner's files) and at
/// most `maxBytes` of it are read. A FIFO cannot block the tick, a link to `/dev/zero` cannot
/// fill the agent's memory.
enum PidFile: Equatable {
    case pid(Int32)
    /// Nothing at the path (or it cannot be opened): the component is down, as before it starts.
    case missing
    /// A regular file that does not hold a PID.
    case unparsable
    /// Something the agent must not read, or more than `maxBytes`: `reason` is the
    /// `SourceLimits` reason, `detail` says what for the operator.
    case refused(reason: String, detail: String)

    /// The most of a pid file read: a PID and a newline take at most 11 bytes, and some tools
    /// pad or add a comment line.
    static let maxBytes = 64

    /// The PID, when the file holds one.
    var pid: Int32? {
        if case .pid(let pid) = self { pid } else { nil }
    }

    /// Reads the pid file at `path`. Blocking (a few system calls): call it from the sampler's
    /// I/O thread.
    static func read(_ path: String) -> PidFile {
        switch OwnerCheckedPath.open(path) {
        case .missing:
            return .missing
        case .refused(let detail):
            return .refused(reason: "pid_file_refused", detail: detail)
        case .file(let descriptor, _):
            defer { close(descriptor) }
            // One byte past the bound says whether the file is longer.
            var bytes = [UInt8](repeating: 0, count: maxBytes + 1)
            var count = 0
            while count < bytes.count {
                let read = bytes.withUnsafeMutableBytes { buffer in
                    pread(descriptor, buffer.baseAddress! + count, buffer.count - count, off_t(count))
                }
                if read < 0 && errno == EINTR { continue }
                guard read > 0 else {
                    if read < 0 { return .missing }
                    break
                }
                count += read
            }
            guard count <= maxBytes else {
                return .refused(reason: "pid_file_too_large", detail: "more than \(maxBytes) bytes")
            }
            return parse(bytes[..<count])
        }
    }

    /// A decimal PID surrounded by white space; anything else is `unparsable`.
    static func parse(_ bytes: ArraySlice<UInt8>) -> PidFile {
        let text = String(decoding: bytes, as: UTF8.self).trimmingWhitespace
        guard let pid = Int32(text), pid > 0 else { return .unparsable }
        return .pid(pid)
    }
}
