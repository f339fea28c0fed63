/// One entry of `GET /containers/json?all=true`.
struct DockerContainer: Sendable, Equatable {
    /// The full 64-hex-digit ID.
    var id: String
    /// The container's own name, without the API's leading "/" ("web").
    var name: String
    /// Every name the engine lists, leading "/" stripped; legacy links add "other/alias" forms.
    var names: [String]
    var image: String
    /// "created", "running", "paused", "restarting", "removing", "exited" or "dead".
    var state: String
    /// The human status ("Up 2 hours", "Exited (0) 5 minutes ago").
    var status: String
    var labels: [String: String]
    /// `Created`: when the container was created, in Unix seconds; its logs start no earlier.
    var createdUnixSeconds: Int64 = 0
    /// `Ports`: the container's TCP ports published on the host, host port by container port.
    var publishedTCPPorts: [Int: Int] = [:]
    /// `HostConfig.NetworkMode`: "host" when it shares the host's network (its ports are the host's).
    var networkMode = ""

    /// Whether the container is running: only then do its stats carry figures.
    var isRunning: Bool { state == "running" }
}

extension DockerContainer: Decodable {
    private enum CodingKeys: String, CodingKey {
        case id = "Id"
        case names = "Names"
        case image = "Image"
        case state = "State"
        case status = "Status"
        case labels = "Labels"
        case created = "Created"
        case ports = "Ports"
        case hostConfig = "HostConfig"
    }

    private struct HostConfig: Decodable {
        let networkMode: String?

        private enum CodingKeys: String, CodingKey {
            case networkMode = "NetworkMode"
        }
    }

    /// One entry of `Ports`; `PublicPort` only when the port is published.
    private struct Port: Decodable {
        let privatePort: Int
        let publicPort: Int?
        let type: String?

        private enum CodingKeys: String, CodingKey {
            case privatePort = "PrivatePort"
            case publicPort = "PublicPort"
            case type = "Type"
        }
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try container.decode(String.self, forKey: .id)
        names = (try container.decodeIfPresent([String].self, forKey: .names) ?? []).map(Self.strippingSlash)
        // A link adds "/other/alias" to a container's names; its own name is the one without a "/".
        name = names.first { !$0.contains("/") } ?? names.first ?? String(id.prefix(12))
        image = try container.decodeIfPresent(String.self, forKey: .image) ?? ""
        state = try container.decodeIfPresent(String.self, forKey: .state) ?? ""
        status = try container.decodeIfPresent(String.self, forKey: .status) ?? ""
        labels = try container.decodeIfPresent([String: String].self, forKey: .labels) ?? [:]
        createdUnixSeconds = try container.decodeIfPresent(Int64.self, forKey: .created) ?? 0
        networkMode = try container.decodeIfPresent(HostConfig.self, forKey: .hostConfig)?.networkMode ?? ""
        for port in try container.decodeIfPresent([Port].self, forKey: .ports) ?? [] {
            guard let published = port.publicPort, (port.type ?? "tcp") == "tcp" else { continue }
            // IPv4 and IPv6 bindings list the same port twice: keep the first.
            if publishedTCPPorts[port.privatePort] == nil { publishedTCPPorts[port.privatePort] = published }
        }
    }

    static func strippingSlash(_ name: String) -> String {
        name.hasPrefix("/") ? String(name.dropFirst()) : name
    }
}
