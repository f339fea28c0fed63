/// What `GET /containers/{id}/json?size=true` tells beyond the list: sizes, mounts and limits.
struct DockerContainerDetails: Sendable, Equatable {
    var id: String
    /// The name without its leading "/".
    var name: String
    var isRunning: Bool
    /// The main process's host PID; nil when the container is not running (the API says 0).
    var pid: Int32?
    /// `SizeRw`: bytes written in the container's writable layer; only with `size=true`.
    var sizeRwBytes: Int64?
    /// `SizeRootFs`: the image's and the writable layer's bytes together; only with `size=true`.
    var sizeRootFsBytes: Int64?
    var mounts: [Mount]
    /// The CPU limit in cores: `HostConfig.NanoCpus` (`--cpus`), else `CpuQuota`/`CpuPeriod`
    /// (`--cpu-quota`); nil when unlimited.
    var cpuLimitCores: Double?
    /// `HostConfig.Memory` (`--memory`); nil when unlimited.
    var memoryLimitBytes: Int64?
    /// `Config.Tty`: the container has a terminal, so its logs are one raw stream, not multiplexed.
    var isTTY: Bool = false

    /// One entry of `Mounts`.
    struct Mount: Sendable, Equatable, Decodable {
        /// "bind", "volume", "tmpfs", …
        var type: String
        /// The volume's name; nil for bind mounts.
        var name: String?
        /// The host path (a volume's `_data` directory for volumes).
        var source: String
        /// The path inside the container.
        var destination: String
        var isReadWrite: Bool

        private enum CodingKeys: String, CodingKey {
            case type = "Type"
            case name = "Name"
            case source = "Source"
            case destination = "Destination"
            case isReadWrite = "RW"
        }

        init(type: String, name: String?, source: String, destination: String, isReadWrite: Bool) {
            self.type = type
            self.name = name
            self.source = source
            self.destination = destination
            self.isReadWrite = isReadWrite
        }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            type = try container.decodeIfPresent(String.self, forKey: .type) ?? ""
            name = try container.decodeIfPresent(String.self, forKey: .name).flatMap { $0.isEmpty ? nil : $0 }
            source = try container.decodeIfPresent(String.self, forKey: .source) ?? ""
            destination = try container.decodeIfPresent(String.self, forKey: .destination) ?? ""
            isReadWrite = try container.decodeIfPresent(Bool.self, forKey: .isReadWrite) ?? false
        }
    }
}

extension DockerContainerDetails: Decodable {
    private enum CodingKeys: String, CodingKey {
        case id = "Id"
        case name = "Name"
        case state = "State"
        case sizeRw = "SizeRw"
        case sizeRootFs = "SizeRootFs"
        case mounts = "Mounts"
        case hostConfig = "HostConfig"
        case config = "Config"
    }

    private struct ContainerConfig: Decodable {
        var Tty: Bool?
    }

    private struct State: Decodable {
        var Running: Bool?
        var Pid: Int32?
    }

    private struct HostConfig: Decodable {
        var NanoCpus: Int64?
        var CpuQuota: Int64?
        var CpuPeriod: Int64?
        var Memory: Int64?
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try container.decode(String.self, forKey: .id)
        name = DockerContainer.strippingSlash(try container.decodeIfPresent(String.self, forKey: .name) ?? "")
        let state = try container.decodeIfPresent(State.self, forKey: .state)
        isRunning = state?.Running ?? false
        pid = state?.Pid.flatMap { $0 > 0 ? $0 : nil }
        sizeRwBytes = try container.decodeIfPresent(Int64.self, forKey: .sizeRw)
        sizeRootFsBytes = try container.decodeIfPresent(Int64.self, forKey: .sizeRootFs)
        mounts = try container.decodeIfPresent([Mount].self, forKey: .mounts) ?? []
        let host = try container.decodeIfPresent(HostConfig.self, forKey: .hostConfig)
        cpuLimitCores = Self.cpuLimitCores(
            nanoCPUs: host?.NanoCpus ?? 0,
            quotaMicroseconds: host?.CpuQuota ?? 0,
            periodMicroseconds: host?.CpuPeriod ?? 0
        )
        memoryLimitBytes = host?.Memory.flatMap { $0 > 0 ? $0 : nil }
        isTTY = try container.decodeIfPresent(ContainerConfig.self, forKey: .config)?.Tty ?? false
    }

    /// `--cpus` sets NanoCpus; `--cpu-quota` sets a quota per period (period 0 means the
    /// kernel's default, 100 ms). A quota of 0 or -1 means no limit.
    static func cpuLimitCores(nanoCPUs: Int64, quotaMicroseconds: Int64, periodMicroseconds: Int64) -> Double? {
        if nanoCPUs > 0 { return Double(nanoCPUs) / 1e9 }
        guard quotaMicroseconds > 0 else { return nil }
        return Double(quotaMicroseconds) / Double(periodMicroseconds > 0 ? periodMicroseconds : 100_000)
    }
}
