import Spool

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

    /// What opening a log path found.
    enum Opened {
        case file(descriptor: Int32, identity: FileIdentity)
        case missing
        /// There is something at the path the agent must not read; why, for the operator.
        case refused(String)
    }

    /// Opens the regular file at `path` for reading, under the rules that keep a tenant who can
    /// write the log directory from making the agent (often root) read someone else's file
    /// (`OwnerCheckedPath`): a symlink, the file's or a directory's on the path, is followed only
    /// when the link and its target have the same owner; a file with more than one hard link
    /// must have the owner of the directory holding it; only regular files, checked before they
    /// are opened, so a FIFO cannot hang the tick.
    static func open(_ path: String) -> Opened {
        switch OwnerCheckedPath.open(path) {
        case .missing:
            return .missing
        case .refused(let reason):
            return .refused(reason)
        case .file(let descriptor, let status):
            return .file(
                descriptor: descriptor,
                identity: FileIdentity(device: UInt64(status.st_dev), inode: UInt64(status.st_ino))
            )
        }
    }

    /// The directory part of `path` ("." for a bare name, "/" for a file in the root).
    static func parentDirectory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
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

    /// Up to `count` bytes at `offset` (fewer only at end of file), or nil on an I/O error
    /// (Spool's `FileIO.read`; the caller treats an error as "try again next tick").
    static func read(_ descriptor: Int32, offset: Int, count: Int) -> [UInt8]? {
        try? FileIO.read(descriptor, path: "", offset: offset, count: count)
    }

    /// The whole (small) file, or nil if it does not exist (Spool's `FileIO`, with this module's error).
    static func readWholeFile(_ path: String) throws(LogFileTailerError) -> [UInt8]? {
        do {
            return try FileIO.readWholeFile(path)
        } catch  where error.errnoValue == ENOENT {
            return nil
        } catch {
            throw LogFileTailerError(.system, error.message, path: path, errno: error.errnoValue)
        }
    }

    /// Replaces `path` so that after a crash it holds the old content or the new, whole (Spool's
    /// `FileIO`: temporary file, fsync, rename, fsync of the directory).
    static func replaceAtomically(_ path: String, with bytes: [UInt8]) throws(LogFileTailerError) {
        do {
            try FileIO.replaceAtomically(path, in: parentDirectory(of: path), with: bytes)
        } catch {
            throw LogFileTailerError(.system, error.message, path: error.path ?? path, errno: error.errnoValue)
        }
    }

    /// Wall-clock time in nanoseconds since the Unix epoch.
    static func nowUnixNanoseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
    }
}
