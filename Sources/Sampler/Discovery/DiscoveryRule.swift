/// One kind of well-known AI service and how discovery recognises it among the host's
/// processes: by executable (the kernel's command name or argv[0]'s base name), by a piece of
/// the command line (a Python module run with `-m`), or by a port it listens on; and among the
/// Docker engine's containers by image. Only ports no other common software uses are rules of
/// their own: 8000 and 8080 would find half the host.
public struct DiscoveryRule: Sendable, Equatable {
    /// The component name of the first instance (`ollama`); further ones get `-2`, `-3`, ...
    public let name: String
    /// Executable names; a name longer than 15 bytes also matches the kernel's cut command name.
    public let executables: [String]
    /// Pieces of the command line (arguments joined by spaces) that identify it.
    public let commandLineContains: [String]
    /// TCP ports the service listens on by default and nothing else commonly does.
    public let ports: [Int]
    /// Image repositories of its containers, without registry, tag or digest
    /// (`ghcr.io/open-webui/open-webui:main` is `open-webui/open-webui`; see `repository(of:)`).
    public let images: [String]
    /// Where its usage figures come from once found.
    public let usage: Usage

    /// The usage source a discovered service gets.
    public enum Usage: Sendable, Equatable {
        /// None that the agent reads.
        case none
        /// Ollama's `/api/ps` (loaded models and their VRAM) on the port it listens on.
        case ollamaLoadedModels
        /// The server's Prometheus `/metrics` on the port it listens on (vLLM, llama.cpp, TGI
        /// counters become usage; see `LLMServerCounters`).
        case serverMetrics
    }

    /// A rule; list it in `DiscoveryRules.all`.
    public init(
        name: String,
        executables: [String] = [],
        commandLineContains: [String] = [],
        ports: [Int] = [],
        images: [String] = [],
        usage: Usage = .none
    ) {
        self.name = name
        self.executables = executables
        self.commandLineContains = commandLineContains
        self.ports = ports
        self.images = images
        self.usage = usage
    }

    /// The component name of a new instance: the rule's name, or with the first free suffix
    /// (`ollama-2`, `ollama-3`, ...) when `taken` holds it.
    func instanceName(avoiding taken: Set<String>) -> String {
        var name = self.name
        var suffix = 2
        while taken.contains(name) {
            name = "\(self.name)-\(suffix)"
            suffix += 1
        }
        return name
    }

    /// Whether a container of `image` (as the engine lists it) is this service.
    public func matches(image: String) -> Bool {
        guard let repository = Self.repository(of: image) else { return false }
        return images.contains(repository)
    }

    /// The repository path of an image reference, lowercased, without registry host, tag,
    /// digest or Docker Hub's `library/`: `docker.io/qdrant/qdrant:v1.9.0` and
    /// `qdrant/qdrant@sha256:…` are `qdrant/qdrant`. Nil for a bare image ID (`sha256:…`, what
    /// the engine lists once the image's tag is gone), which names no service.
    public static func repository(of image: String) -> String? {
        var reference = Substring(image.lowercased())
        if let at = reference.firstIndex(of: "@") { reference = reference[..<at] }
        guard !reference.isEmpty, !reference.hasPrefix("sha256:") else { return nil }
        var parts = reference.split(separator: "/", omittingEmptySubsequences: false)
        // A tag follows the last ":" of the last part (a registry's port is in the first part).
        if let last = parts.last, let colon = last.lastIndex(of: ":") { parts[parts.count - 1] = last[..<colon] }
        // The first part is a registry when it has a "." or a ":" or is localhost.
        if parts.count > 1, let first = parts.first, first.contains(".") || first.contains(":") || first == "localhost"
        {
            parts.removeFirst()
        }
        if parts.count == 2, parts[0] == "library" { parts.removeFirst() }
        let repository = parts.joined(separator: "/")
        return repository.isEmpty || parts.contains(where: \.isEmpty) ? nil : repository
    }
}

/// The services discovery knows, in the order a process matching several is claimed (first
/// rule wins). Extend it here; the README's table lists the same rules. Images are those the
/// projects publish (Docker Hub unless a registry is named in their docs).
public enum DiscoveryRules {
    public static let all: [DiscoveryRule] = [
        DiscoveryRule(
            name: "ollama",
            executables: ["ollama"],
            ports: [11434],
            images: ["ollama/ollama"],
            usage: .ollamaLoadedModels
        ),
        DiscoveryRule(
            name: "vllm",
            executables: ["vllm"],
            commandLineContains: ["vllm.entrypoints"],
            images: ["vllm/vllm-openai"],
            usage: .serverMetrics
        ),
        DiscoveryRule(
            name: "llama-server",
            executables: ["llama-server"],
            images: ["ggml-org/llama.cpp", "ggerganov/llama.cpp"],
            usage: .serverMetrics
        ),
        DiscoveryRule(
            name: "text-generation-inference",
            executables: ["text-generation-launcher", "text-generation-router", "text-generation-server"],
            images: ["huggingface/text-generation-inference"],
            usage: .serverMetrics
        ),
        DiscoveryRule(
            name: "localai",
            executables: ["local-ai", "localai"],
            images: ["localai/localai", "go-skynet/local-ai"]
        ),
        DiscoveryRule(
            name: "open-webui",
            executables: ["open-webui"],
            commandLineContains: ["open_webui.main"],
            images: ["open-webui/open-webui"]
        ),
        DiscoveryRule(name: "qdrant", executables: ["qdrant"], ports: [6333, 6334], images: ["qdrant/qdrant"]),
        DiscoveryRule(
            name: "chroma",
            executables: ["chroma"],
            commandLineContains: ["chromadb.app"],
            images: ["chromadb/chroma"]
        ),
        DiscoveryRule(name: "weaviate", executables: ["weaviate"], images: ["semitechnologies/weaviate"]),
        DiscoveryRule(name: "milvus", executables: ["milvus"], ports: [19530], images: ["milvusdb/milvus"]),
        DiscoveryRule(name: "langchain", ports: [5111]),
    ]
}

extension DiscoveryRule {
    /// The usage source of an instance of this service reachable on `ports` of 127.0.0.1 (the
    /// rule's own port first when it has one): Ollama's `/api/ps` on the first, a server's
    /// `/metrics` on each in turn until one answers. Nil when the rule has no usage source or
    /// no port is known.
    func usageSource(component: String, clientID: String, ports: [Int]) -> ModelSources.DiscoveredSource? {
        var seen = Set<Int>()
        let ports = ports.filter { seen.insert($0).inserted }
        guard let first = ports.first else { return nil }
        switch usage {
        case .none:
            return nil
        case .ollamaLoadedModels:
            return ModelSources.DiscoveredSource(
                component: component,
                clientID: clientID,
                ollamaPS: "http://127.0.0.1:\(first)/api/ps"
            )
        case .serverMetrics:
            return ModelSources.DiscoveredSource(
                component: component,
                clientID: clientID,
                metricsURLs: ports.map { "http://127.0.0.1:\($0)/metrics" }
            )
        }
    }
}
