/// Where a process sits in the cgroup hierarchies, as listed in /proc/<pid>/cgroup.
///
/// A host may have the unified (v2) hierarchy, v1 hierarchies, or both (systemd's "hybrid"
/// layout), so a membership holds one path for v2 and one per v1 controller.
struct CgroupMembership: Hashable, Sendable {
    /// The v1 hierarchy a controller is attached to, and the process's path within it.
    struct Placement: Hashable, Sendable {
        /// The hierarchy's controllers as the kernel lists them ("cpu,cpuacct"); usually also
        /// the name of its directory under the mount root.
        var hierarchy: String
        /// The path within that hierarchy, starting with "/".
        var path: String
    }

    /// The path in the unified (v2) hierarchy, from the "0::" line; nil when there is none.
    var unifiedPath: String?
    /// The v1 placement per controller: "memory", "cpu", "cpuacct", "blkio", "name=systemd", …
    var controllers: [String: Placement] = [:]

    /// True when the file listed no hierarchy at all (unreadable, or the process is gone).
    var isEmpty: Bool { unifiedPath == nil && controllers.isEmpty }

    init(unifiedPath: String? = nil, controllers: [String: Placement] = [:]) {
        self.unifiedPath = unifiedPath
        self.controllers = controllers
    }

    /// Parses the lines "hierarchy-ID:controller-list:path" of /proc/<pid>/cgroup. The v2 line
    /// is "0::/path"; a v1 line names one or more comma-separated controllers.
    /// Malformed lines are skipped, so a partial file still yields what it can.
    init(procCgroupFile bytes: [UInt8]) {
        self.init()
        for line in bytes.split(separator: UInt8(ascii: "\n")) {
            // At most two splits: a cgroup path may itself contain ':'.
            let fields = line.split(separator: UInt8(ascii: ":"), maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3, fields[2].first == UInt8(ascii: "/") else { continue }
            let identifier = String(decoding: fields[0], as: UTF8.self)
            let hierarchy = String(decoding: fields[1], as: UTF8.self)
            let path = String(decoding: fields[2], as: UTF8.self)
            if identifier == "0" && hierarchy.isEmpty {
                unifiedPath = path
                continue
            }
            guard !hierarchy.isEmpty else { continue }
            for controller in hierarchy.split(separator: ",") {
                controllers[String(controller)] = Placement(hierarchy: hierarchy, path: path)
            }
        }
    }
}
