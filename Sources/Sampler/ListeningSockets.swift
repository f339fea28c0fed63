/// Which processes listen on which TCP ports, from /proc/net/tcp{,6} (socket inode per
/// listening port) and /proc/<pid>/fd (socket inode per process).
struct ListeningSockets {
    /// Inodes of listening sockets per local port.
    let inodesByPort: [Int: Set<UInt64>]

    init(reader: any ProcReader, root: String = "/proc") {
        var inodes: [Int: Set<UInt64>] = [:]
        for file in ["\(root)/net/tcp", "\(root)/net/tcp6"] {
            guard let bytes = reader.contents(of: file) else { continue }
            for (port, inode) in Self.parseListening(bytes) { inodes[port, default: []].insert(inode) }
        }
        inodesByPort = inodes
    }

    /// The sockets `inodesByPort` lists (a part of a table already read).
    init(inodesByPort: [Int: Set<UInt64>]) {
        self.inodesByPort = inodesByPort
    }

    /// (port, inode) of every socket in state LISTEN (0A) of a /proc/net/tcp-format table.
    static func parseListening(_ bytes: [UInt8]) -> [(port: Int, inode: UInt64)] {
        var result: [(Int, UInt64)] = []
        for line in bytes.split(separator: UInt8(ascii: "\n")).dropFirst() {
            let fields = line.split(separator: UInt8(ascii: " "))
            // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
            guard fields.count > 9, String(decoding: fields[3], as: UTF8.self) == "0A",
                let colon = fields[1].lastIndex(of: UInt8(ascii: ":")),
                let port = Int(String(decoding: fields[1][(colon + 1)...], as: UTF8.self), radix: 16),
                let inode = UInt64(String(decoding: fields[9], as: UTF8.self)), inode != 0
            else { continue }
            result.append((port, inode))
        }
        return result
    }

    /// PIDs holding a listening socket on any of `ports`.
    func pids(
        listeningOn ports: [Int],
        among pids: some Sequence<Int32>,
        reader: any ProcReader,
        root: String = "/proc"
    )
        -> [Int32]
    {
        let wanted = ports.reduce(into: Set<UInt64>()) { $0.formUnion(inodesByPort[$1] ?? []) }
        guard !wanted.isEmpty else { return [] }
        var found: [Int32] = []
        for pid in pids {
            for descriptor in reader.entries(of: "\(root)/\(pid)/fd") {
                guard let target = reader.linkTarget(of: "\(root)/\(pid)/fd/\(descriptor)"),
                    target.hasPrefix("socket:["),
                    let inode = UInt64(target.dropFirst(8).dropLast()), wanted.contains(inode)
                else { continue }
                found.append(pid)
                break
            }
        }
        return found
    }

    /// The TCP ports `pids` listen on, ascending.
    func ports(of pids: some Sequence<Int32>, reader: any ProcReader, root: String = "/proc") -> [Int] {
        var portOf: [UInt64: Int] = [:]
        for (port, inodes) in inodesByPort {
            for inode in inodes { portOf[inode] = port }
        }
        guard !portOf.isEmpty else { return [] }
        var ports = Set<Int>()
        for pid in pids {
            for descriptor in reader.entries(of: "\(root)/\(pid)/fd") {
                guard let target = reader.linkTarget(of: "\(root)/\(pid)/fd/\(descriptor)"),
                    target.hasPrefix("socket:["),
                    let inode = UInt64(target.dropFirst(8).dropLast()), let port = portOf[inode]
                else { continue }
                ports.insert(port)
            }
        }
        return ports.sorted()
    }
}
