#if canImport(Glibc)
import Glibc
#endif

/// The POSIX calls the log tailer needs. Every call here blocks: callers run on the sampler's
/// I/O thread pool, never on the cooperative pool.
enum LogFileIO {
    /// What `fstat` says about an open log file.
    struct Status {
        var identity: FileIdentity
        var size: Int
        /// 0 once the file is deleted (it lives on while a descriptor holds it).
        var linkCount: Int
    }

    /// The identity of the regular file at `path`, or nil when there is none.
    static func identity(ofPath path: String) -> FileIdentity? {
        var info = stat()
        guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return nil }
        return FileIdentity(device: UInt64(info.st_dev), inode: UInt64(info.st_ino))
    }

    /// Opens the regular file at `path` for reading. Non-blocking open, so a FIFO put where a log
    /// file should be cannot hang the tick (it is then refused as not a regular file).
    static func open(_ path: String) -> (descriptor: Int32, identity: FileIdentity)? {
        let descriptor = Glibc.open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard descriptor >= 0 else { return nil }
        guard let status = status(of: descriptor) else {
            close(descriptor)
            return nil
        }
        return (descriptor, status.identity)
    }

    /// The open file's identity, size and link count; nil for anything but a regular file.
    static func status(of descriptor: Int32) -> Status? {
        var info = stat()
        guard fstat(descriptor, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return nil }
        return Status(
            identity: FileIdentity(device: UInt64(info.st_dev), inode: UInt64(info.st_ino)),
            size: Int(info.st_size),
            linkCount: Int(info.st_nlink)
        )
    }

    /// Up to `count` bytes at `offset` (fewer only at end of file), or nil on an I/O error.
    static func read(_ descriptor: Int32, offset: Int, count: Int) -> [UInt8]? {
        var bytes = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let result = bytes.withUnsafeMutableBytes { buffer in
                pread(descriptor, buffer.baseAddress! + done, count - done, off_t(offset + done))
            }
            if result < 0 {
                if errno == EINTR { continue }
                return nil
            }
            if result == 0 { break }
            done += result
        }
        bytes.removeLast(count - done)
        return bytes
    }

    /// The whole (small) file, or nil if it does not exist.
    static func readWholeFile(_ path: String) throws(LogFileTailerError) -> [UInt8]? {
        guard let descriptor = open(path)?.descriptor else {
            if errno == ENOENT { return nil }
            throw LogFileTailerError(.system, "open", path: path, errno: errno)
        }
        defer { close(descriptor) }
        guard let size = status(of: descriptor)?.size, let bytes = read(descriptor, offset: 0, count: size) else {
            throw LogFileTailerError(.system, "read", path: path, errno: errno)
        }
        return bytes
    }

    /// Writes `bytes` to a temporary file beside `path`, fsyncs it, renames it over `path` and
    /// fsyncs the directory: after a crash the file holds the old content or the new, whole.
    static func replaceAtomically(_ path: String, with bytes: [UInt8]) throws(LogFileTailerError) {
        let temporary = path + ".tmp"
        let descriptor = Glibc.open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw LogFileTailerError(.system, "open", path: temporary, errno: errno) }
        var done = 0
        while done < bytes.count {
            let result = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress! + done, bytes.count - done) }
            if result < 0 && errno == EINTR { continue }
            guard result > 0 else {
                let error = errno
                close(descriptor)
                throw LogFileTailerError(.system, "write", path: temporary, errno: error)
            }
            done += result
        }
        guard fsync(descriptor) == 0 else {
            let error = errno
            close(descriptor)
            throw LogFileTailerError(.system, "fsync", path: temporary, errno: error)
        }
        close(descriptor)
        guard rename(temporary, path) == 0 else {
            throw LogFileTailerError(.system, "rename", path: path, errno: errno)
        }
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { $0 == path.startIndex ? "/" : String(path[..<$0]) } ?? "."
        let directoryDescriptor = Glibc.open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard directoryDescriptor >= 0 else { throw LogFileTailerError(.system, "open", path: directory, errno: errno) }
        defer { close(directoryDescriptor) }
        guard fsync(directoryDescriptor) == 0 else {
            throw LogFileTailerError(.system, "fsync", path: directory, errno: errno)
        }
    }

    /// Wall-clock time in nanoseconds since the Unix epoch.
    static func nowUnixNanoseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
    }
}
