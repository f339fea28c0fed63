#if canImport(Glibc)
import Glibc
#endif

/// Thin, error-mapped wrappers over the POSIX calls the spool needs. Every call here blocks:
/// callers keep it off the cooperative thread pool. The Sampler's log readers use the whole-file
/// read and the atomic replace for their positions files too.
///
/// The files hold every tenant's data, so they are private: directories are created 0700 and
/// files 0600, and no open here follows a symlink (`O_NOFOLLOW`; temporaries also `O_EXCL`): a
/// link planted in the spool directory makes the operation fail rather than write elsewhere.
public enum FileIO {
    /// Mode of the directories the agent creates.
    static let directoryMode: mode_t = 0o700
    /// Mode of the files the agent creates.
    static let fileMode: mode_t = 0o600

    static func makeDirectory(_ path: String) throws(SpoolError) {
        var prefix = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            prefix += "/" + component
            if mkdir(prefix, directoryMode) != 0 && errno != EEXIST {
                throw SpoolError.system("mkdir", path: prefix, errno: errno)
            }
        }
    }

    /// Makes the existing directory at `path` private (0700) when group or others may use it;
    /// returns its old mode then, nil when it was private already. `path` itself must be a
    /// directory, not a link to one, unless `followingLink` (the configured spool directory:
    /// the operator's choice).
    static func makePrivate(directory path: String, followingLink: Bool) throws(SpoolError) -> mode_t? {
        var info = stat()
        guard lstat(path, &info) == 0 else { throw SpoolError.system("lstat", path: path, errno: errno) }
        if (info.st_mode & S_IFMT) == S_IFLNK {
            guard followingLink else {
                throw SpoolError(
                    .invalidArgument,
                    "is a symbolic link; the agent does not follow links inside its spool",
                    path: path
                )
            }
            guard stat(path, &info) == 0 else { throw SpoolError.system("stat", path: path, errno: errno) }
        }
        guard (info.st_mode & S_IFMT) == S_IFDIR else {
            throw SpoolError(.invalidArgument, "is not a directory", path: path)
        }
        let mode = info.st_mode & 0o7777
        guard mode & 0o077 != 0 else { return nil }
        guard chmod(path, mode & ~0o077) == 0 else { throw SpoolError.system("chmod", path: path, errno: errno) }
        return mode
    }

    static func listDirectory(_ path: String) throws(SpoolError) -> [String] {
        guard let directory = opendir(path) else { throw SpoolError.system("opendir", path: path, errno: errno) }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.baseAddress!.assumingMemoryBound(to: CChar.self))
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// Opens `path` without following a symlink at its last component.
    static func open(_ path: String, flags: Int32, mode: mode_t = fileMode) throws(SpoolError) -> Int32 {
        let descriptor = Glibc.open(path, flags | O_CLOEXEC | O_NOFOLLOW, mode)
        guard descriptor >= 0 else {
            let code = errno
            if code == ELOOP {
                throw SpoolError(
                    .io,
                    "open failed: it is a symbolic link, and the agent does not follow links for its own files",
                    path: path,
                    errno: code
                )
            }
            throw SpoolError.system("open", path: path, errno: code)
        }
        return descriptor
    }

    static func size(of descriptor: Int32, path: String) throws(SpoolError) -> Int {
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { throw SpoolError.system("fstat", path: path, errno: errno) }
        return Int(info.st_size)
    }

    /// Reads `count` bytes at `offset` (fewer only at end of file).
    public static func read(_ descriptor: Int32, path: String, offset: Int, count: Int) throws(SpoolError) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let result = bytes.withUnsafeMutableBytes { buffer in
                pread(descriptor, buffer.baseAddress! + done, count - done, off_t(offset + done))
            }
            if result < 0 {
                if errno == EINTR { continue }
                throw SpoolError.system("pread", path: path, errno: errno)
            }
            if result == 0 { break }
            done += result
        }
        bytes.removeLast(count - done)
        return bytes
    }

    /// The whole (small) file at `path`.
    public static func readWholeFile(_ path: String) throws(SpoolError) -> [UInt8] {
        let descriptor = try open(path, flags: O_RDONLY)
        defer { close(descriptor) }
        return try read(descriptor, path: path, offset: 0, count: try size(of: descriptor, path: path))
    }

    /// Writes all of `bytes` at `offset`.
    static func write(_ descriptor: Int32, path: String, bytes: UnsafeRawBufferPointer, offset: Int) throws(SpoolError)
    {
        var done = 0
        while done < bytes.count {
            let result = pwrite(descriptor, bytes.baseAddress! + done, bytes.count - done, off_t(offset + done))
            if result < 0 {
                if errno == EINTR { continue }
                throw SpoolError.system("pwrite", path: path, errno: errno)
            }
            done += result
        }
    }

    static func syncData(_ descriptor: Int32, path: String) throws(SpoolError) {
        guard fdatasync(descriptor) == 0 else { throw SpoolError.system("fdatasync", path: path, errno: errno) }
    }

    /// fsync of a directory. Opened read-only and may be a link: the configured spool
    /// directory can be one (the operator's choice), and nothing is written through it.
    static func syncDirectory(_ path: String) throws(SpoolError) {
        let descriptor = Glibc.open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { throw SpoolError.system("open", path: path, errno: errno) }
        defer { close(descriptor) }
        guard fsync(descriptor) == 0 else { throw SpoolError.system("fsync", path: path, errno: errno) }
    }

    static func truncate(_ descriptor: Int32, path: String, to length: Int) throws(SpoolError) {
        guard ftruncate(descriptor, off_t(length)) == 0 else {
            throw SpoolError.system("ftruncate", path: path, errno: errno)
        }
    }

    /// Removes a file; a file already gone is not an error.
    static func remove(_ path: String) throws(SpoolError) {
        guard unlink(path) == 0 || errno == ENOENT else { throw SpoolError.system("unlink", path: path, errno: errno) }
    }

    /// Replaces `path` with `bytes` so that a crash leaves either the old or the new content:
    /// write a temporary file, fsync it, rename it over `path`, fsync the directory. Whatever is
    /// at the temporary's name (a leftover, or a planted link) is removed, not followed, and the
    /// temporary is created new (`O_EXCL`); the rename replaces a link at `path`, never its target.
    public static func replaceAtomically(_ path: String, in directory: String, with bytes: [UInt8]) throws(SpoolError) {
        let temporary = path + ".tmp"
        try remove(temporary)
        let descriptor = try open(temporary, flags: O_WRONLY | O_CREAT | O_EXCL)
        do throws(SpoolError) {
            try bytes.withUnsafeBytes { buffer in
                Result { () throws(SpoolError) in try write(descriptor, path: temporary, bytes: buffer, offset: 0) }
            }.get()
            guard fsync(descriptor) == 0 else { throw SpoolError.system("fsync", path: temporary, errno: errno) }
        } catch {
            close(descriptor)
            try? remove(temporary)
            throw error
        }
        close(descriptor)
        guard rename(temporary, path) == 0 else {
            let code = errno
            try? remove(temporary)
            throw SpoolError.system("rename", path: path, errno: code)
        }
        try syncDirectory(directory)
    }
}
