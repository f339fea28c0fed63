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
}

/// Reads the real /proc. Blocking: call it from the sampler's I/O thread.
public struct LiveProcReader: ProcReader {
    public init() {}

    public func contents(of path: String) -> [UInt8]? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var result: [UInt8] = []
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 4096) { chunk -> [UInt8]? in
            while true {
                let count = read(descriptor, chunk.baseAddress, chunk.count)
                if count < 0 && errno == EINTR { continue }
                guard count > 0 else { return count == 0 ? result : nil }
                result.append(contentsOf: UnsafeBufferPointer(rebasing: chunk[0..<count]))
            }
        }
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
