import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The file system under the Sampler: /proc and friends. Tests substitute fixture trees.
public protocol ProcReader: Sendable {
    /// The whole content of a (small) file, or nil if it cannot be read (e.g. the process exited).
    func contents(of path: String) -> [UInt8]?
    /// Names of the entries of a directory, or [] if it cannot be read.
    func entries(of directory: String) -> [String]
    /// The target of a symbolic link (e.g. `/proc/<pid>/fd/3` -> `socket:[123]`), or nil.
    func linkTarget(of path: String) -> String?
    /// The content of a file the sampler reads every tick (`/proc/<pid>/stat` and friends), or
    /// nil as `contents(of:)`. A live reader keeps the file open and reads it again from offset
    /// 0 (the kernel regenerates a /proc file on every read from its start).
    func freshContents(of path: String) -> [UInt8]?
    /// Closes the files `freshContents(of:)` kept open that were not read since the last call
    /// (their processes are gone or no longer watched). Call it once per tick.
    func closeUnread()
    /// At most the first `maxBytes` of a file, and whether it holds more; nil as
    /// `contents(of:)`. For a file whose size someone else decides (`/proc/<pid>/cmdline`): a
    /// live reader reads no further than the bound.
    func prefix(of path: String, maxBytes: Int) -> (bytes: [UInt8], truncated: Bool)?
}

extension ProcReader {
    public func freshContents(of path: String) -> [UInt8]? { contents(of: path) }
    public func prefix(of path: String, maxBytes: Int) -> (bytes: [UInt8], truncated: Bool)? {
        contents(of: path).map { (Array($0.prefix(maxBytes)), $0.count > maxBytes) }
    }
    public func closeUnread() {}
}

/// Reads the real /proc. Blocking: call it from the sampler's I/O thread.
public struct LiveProcReader: ProcReader {
    private let openFiles: OpenFiles

    public init() {
        openFiles = OpenFiles(limit: Self.openFileLimit())
    }

    public func contents(of path: String) -> [UInt8]? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        return Self.readAll(descriptor)
    }

    public func freshContents(of path: String) -> [UInt8]? {
        openFiles.read(path)
    }

    public func prefix(of path: String, maxBytes: Int) -> (bytes: [UInt8], truncated: Bool)? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        // One byte past the bound says whether there is more.
        var bytes = [UInt8](repeating: 0, count: maxBytes + 1)
        var count = 0
        while count < bytes.count {
            let read = bytes.withUnsafeMutableBytes { buffer in
                pread(descriptor, buffer.baseAddress! + count, buffer.count - count, off_t(count))
            }
            if read < 0 && errno == EINTR { continue }
            guard read > 0 else {
                if read < 0 { return nil }
                break
            }
            count += read
        }
        return (Array(bytes[..<min(count, maxBytes)]), count > maxBytes)
    }

    public func closeUnread() {
        openFiles.closeUnread()
    }

    /// Everything from offset 0 of an open file, or nil when reading fails (for a /proc file of
    /// a process that exited: ESRCH).
    static func readAll(_ descriptor: Int32) -> [UInt8]? {
        var result: [UInt8] = []
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 4096) { chunk -> [UInt8]? in
            while true {
                let count = pread(descriptor, chunk.baseAddress, chunk.count, off_t(result.count))
                if count < 0 && errno == EINTR { continue }
                guard count > 0 else { return count == 0 ? result : nil }
                result.append(contentsOf: UnsafeBufferPointer(rebasing: chunk[0..<count]))
            }
        }
    }

    /// Files kept open for `freshContents`: a quarter of the descriptor limit, at most 4096, so
    /// the agent's sockets, spool and log files always have room.
    static func openFileLimit() -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 0 }
        return Int(min(4096, limit.rlim_cur / 4))
    }

    /// Descriptors kept open by path, with whether each was read since the last `closeUnread`.
    /// A process's /proc file stays bound to that process: once it exits, reads fail and the
    /// path is opened again (a new process with the reused PID, or nothing).
    final class OpenFiles: Sendable {
        private struct Entry {
            let descriptor: Int32
            var read: Bool
        }
        private let limit: Int
        private let files = Mutex<[String: Entry]>([:])

        init(limit: Int) {
            self.limit = limit
        }

        deinit {
            files.withLock { files in
                for entry in files.values { close(entry.descriptor) }
            }
        }

        func read(_ path: String) -> [UInt8]? {
            files.withLock { files -> [UInt8]? in
                if let entry = files[path] {
                    if let bytes = LiveProcReader.readAll(entry.descriptor) {
                        files[path]!.read = true
                        return bytes
                    }
                    close(entry.descriptor)
                    files[path] = nil
                }
                let descriptor = open(path, O_RDONLY | O_CLOEXEC)
                guard descriptor >= 0 else { return nil }
                guard let bytes = LiveProcReader.readAll(descriptor) else {
                    close(descriptor)
                    return nil
                }
                if files.count < limit {
                    files[path] = Entry(descriptor: descriptor, read: true)
                } else {
                    close(descriptor)
                }
                return bytes
            }
        }

        func closeUnread() {
            files.withLock { files in
                for (path, entry) in files {
                    if entry.read {
                        files[path]!.read = false
                    } else {
                        close(entry.descriptor)
                        files[path] = nil
                    }
                }
            }
        }

        var count: Int { files.withLock { $0.count } }
    }

    public func linkTarget(of path: String) -> String? {
        var buffer = [CChar](repeating: 0, count: 256)
        let length = readlink(path, &buffer, buffer.count)
        guard length > 0 else { return nil }
        return String(decoding: buffer[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    public func entries(of directory: String) -> [String] {
        guard let handle = opendir(directory) else { return [] }
        defer { closedir(handle) }
        var names: [String] = []
        while let entry = readdir(handle) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }
}
