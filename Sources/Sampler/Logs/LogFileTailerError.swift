/// Why the tail positions could not be loaded or saved. Reading a log file has no error: a file
/// that cannot be opened or read is retried on the next tick.
struct LogFileTailerError: Error, CustomStringConvertible, Sendable {
    enum Code: String, Sendable, Hashable {
        /// A system call on the positions file failed (`errno` says why).
        case system
        /// The positions file is not the JSON this version writes.
        case unreadablePositions
    }

    /// The kind of failure.
    var code: Code
    /// What failed: the system call, or what did not decode.
    var message: String
    /// The file concerned.
    var path: String
    /// The system call's errno, for `.system`.
    var errno: Int32?

    init(_ code: Code, _ message: String, path: String, errno: Int32? = nil) {
        self.code = code
        self.message = message
        self.path = path
        self.errno = errno
    }

    var description: String {
        "log tail \(code.rawValue): \(message) (\(path))" + (errno.map { " errno \($0)" } ?? "")
    }
}
