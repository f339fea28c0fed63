#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads a config file whole with plain POSIX calls (this module links no Foundation).
enum ConfigFile {
    /// Config files are small; anything bigger is a mistake, not a config.
    static let maximumBytes = 16 << 20

    /// The file's bytes, or a sentence saying why they could not be read.
    static func contents(of path: String) -> Result<[UInt8], ReadFailure> {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return .failure(ReadFailure(errorNumber: errno)) }
        defer { close(descriptor) }
        var contents: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                return .failure(ReadFailure(errorNumber: errno))
            }
            if count == 0 { return .success(contents) }
            contents.append(contentsOf: chunk[..<count])
            if contents.count > maximumBytes {
                return .failure(ReadFailure(message: "the file is larger than \(maximumBytes >> 20) MiB"))
            }
        }
    }

    /// Why a file could not be read, as `strerror` words it.
    struct ReadFailure: Error {
        let message: String

        init(message: String) {
            self.message = message
        }

        init(errorNumber: Int32) {
            message = String(cString: strerror(errorNumber))
        }
    }
}
