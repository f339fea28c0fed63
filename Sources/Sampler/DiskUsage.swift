import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Disk figures of components with `data_paths`: bytes allocated under the paths (like `du`,
/// hard links counted once, symlinks not followed) and the used percent of the filesystem
/// holding them (like `df`, for `disk_threshold_percent`).
///
/// Walking a large tree is slow, so it never runs inside a tick: `refresh()` is called by its own
/// loop at a slower cadence and the tick reads the cached figures.
public final class DiskUsage: Sendable {
    /// One component's figures at the last walk.
    public struct Figures: Sendable, Equatable {
        public var allocatedBytes: UInt64
        /// Highest used percent among the filesystems holding the paths; nil if none could be read.
        public var filesystemUsedPercent: Double?
    }

    private let pathsByComponent: [String: [String]]
    private let cache = Mutex<[String: Figures]>([:])

    public init(components: [(name: String, dataPaths: [String])]) {
        var paths: [String: [String]] = [:]
        for component in components where !component.dataPaths.isEmpty { paths[component.name] = component.dataPaths }
        pathsByComponent = paths
    }

    public var isEmpty: Bool { pathsByComponent.isEmpty }

    /// The figures of the last walk, nil before the first or for a component without data paths.
    public func figures(for component: String) -> Figures? { cache.withLock { $0[component] } }

    /// Walks every component's data paths. Blocking: run it on an I/O thread.
    public func refresh() {
        var results: [String: Figures] = [:]
        for (component, paths) in pathsByComponent {
            var seen = Set<FileIdentity>()
            var total: UInt64 = 0
            var usedPercent: Double?
            for path in paths {
                total += Self.allocatedBytes(under: path, seen: &seen)
                if let percent = Self.filesystemUsedPercent(of: path) { usedPercent = max(usedPercent ?? 0, percent) }
            }
            results[component] = Figures(allocatedBytes: total, filesystemUsedPercent: usedPercent)
        }
        cache.withLock { $0 = results }
    }

    /// Allocated bytes under `paths` (hard links once). Blocking: run it on an I/O thread.
    public static func allocatedBytes(under paths: [String]) -> UInt64 {
        var seen = Set<FileIdentity>()
        return paths.reduce(0) { $0 + allocatedBytes(under: $1, seen: &seen) }
    }

    private struct FileIdentity: Hashable {
        let device: UInt64
        let inode: UInt64
    }

    /// Allocated bytes (st_blocks × 512) of `path` and, for a directory, everything under it.
    static private func allocatedBytes(under path: String, seen: inout Set<FileIdentity>) -> UInt64 {
        var info = stat()
        guard lstat(path, &info) == 0 else { return 0 }
        let identity = FileIdentity(device: UInt64(info.st_dev), inode: UInt64(info.st_ino))
        guard seen.insert(identity).inserted else { return 0 }
        var total = UInt64(info.st_blocks) * 512
        guard (info.st_mode & S_IFMT) == S_IFDIR else { return total }
        for name in LiveProcReader().entries(of: path) {
            total += allocatedBytes(under: path + "/" + name, seen: &seen)
        }
        return total
    }

    /// Used percent as `df` shows it: used / (used + available to unprivileged users).
    static func filesystemUsedPercent(of path: String) -> Double? {
        var info = statvfs()
        guard statvfs(path, &info) == 0 else { return nil }
        let used = Double(info.f_blocks - info.f_bfree)
        let usable = used + Double(info.f_bavail)
        return usable > 0 ? used / usable * 100 : nil
    }
}
