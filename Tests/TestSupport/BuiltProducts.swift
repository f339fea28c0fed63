#if canImport(Glibc)
import Glibc
#endif

/// Paths of executables SwiftPM built next to the running test bundle.
public enum BuiltProducts {
    public static let directory: String = {
        var buffer = [CChar](repeating: 0, count: 4096)
        let length = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        precondition(length > 0, "cannot read /proc/self/exe")
        let executable = String(decoding: buffer[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return "/" + executable.split(separator: "/").dropLast().joined(separator: "/")
    }()

    public static func path(of product: String) -> String { directory + "/" + product }
}

/// Writes `text` to a new file at `path`.
public func writeText(_ text: String, to path: String) {
    let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    precondition(descriptor >= 0, "cannot create \(path)")
    let bytes = Array(text.utf8)
    _ = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
    close(descriptor)
}

/// Files under Tests/Fixtures.
public enum Fixtures {
    public static func path(_ name: String, file: StaticString = #filePath) -> String {
        let testsDirectory = "\(file)".split(separator: "/").dropLast(2).joined(separator: "/")
        return "/" + testsDirectory + "/Fixtures/" + name
    }

    /// A file of the repository itself (`config/grafana/dashboard.json`), by its path from the root.
    public static func repositoryPath(_ relative: String, file: StaticString = #filePath) -> String {
        let root = "\(file)".split(separator: "/").dropLast(3).joined(separator: "/")
        return "/" + root + "/" + relative
    }
}
