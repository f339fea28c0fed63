#if canImport(Glibc)
import Glibc
#endif

/// The one error type of the Spool module.
public struct SpoolError: Error, CustomStringConvertible, Sendable {
    /// What went wrong, in a form callers can branch on.
    public enum Code: String, Sendable, CaseIterable {
        case diskFull = "disk_full"
        case io = "io"
        case locked = "locked"
        case corrupt = "corrupt"
        case invalidArgument = "invalid_argument"
        case closed = "closed"
    }

    public let code: Code
    public let message: String
    /// The file involved, when there is one.
    public let path: String?
    /// Byte offset in `path`, for corruption.
    public let offset: Int?
    /// The `errno` of the failed system call, when there is one.
    public let errnoValue: Int32?

    init(_ code: Code, _ message: String, path: String? = nil, offset: Int? = nil, errno errnoValue: Int32? = nil) {
        self.code = code
        self.message = message
        self.path = path
        self.offset = offset
        self.errnoValue = errnoValue
    }

    /// An error for a failed system call, classified by its errno (ENOSPC and EDQUOT are disk full).
    static func system(_ operation: String, path: String, errno value: Int32) -> SpoolError {
        let code: Code = (value == ENOSPC || value == EDQUOT) ? .diskFull : .io
        return SpoolError(code, "\(operation) failed: \(String(cString: strerror(value)))", path: path, errno: value)
    }

    public var description: String {
        var text = "spool \(code.rawValue): \(message)"
        if let path { text += " (\(path)" + (offset.map { " at offset \($0)" } ?? "") + ")" }
        return text
    }
}
