/// One kind of well-known AI service and how discovery recognises it among the host's
/// processes: by executable (the kernel's command name or argv[0]'s base name), by a piece of
/// the command line (a Python module run with `-m`), or by a port it listens on. Only ports no
/// other common software uses are rules of their own: 8000 and 8080 would find half the host.
public struct DiscoveryRule: Sendable, Equatable {
    /// The component name of the first instance (`ollama`); further ones get `-2`, `-3`, ...
    public let name: String
    /// Executable names; a name longer than 15 bytes also matches the kernel's cut command name.
    public let executables: [String]
    /// Pieces of the command line (arguments joined by spaces) that identify it.
    public let commandLineContains: [String]
    /// TCP ports the service listens on by default and nothing else commonly does.
    public let ports: [Int]
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
        usage: Usage = .none
    ) {
        self.name = name
        self.executables = executables
        self.commandLineContains = commandLineContains
        self.ports = ports
        self.usage = usage
    }
}

/// The services discovery knows, in the order a process matching several is claimed (first
/// rule wins). Extend it here; the README's table lists the same rules.
public enum DiscoveryRules {
    public static let all: [DiscoveryRule] = [
        DiscoveryRule(name: "ollama", executables: ["ollama"], ports: [11434], usage: .ollamaLoadedModels),
        DiscoveryRule(
            name: "vllm",
            executables: ["vllm"],
            commandLineContains: ["vllm.entrypoints"],
            usage: .serverMetrics
        ),
        DiscoveryRule(name: "llama-server", executables: ["llama-server"], usage: .serverMetrics),
        DiscoveryRule(
            name: "text-generation-inference",
            executables: ["text-generation-launcher", "text-generation-router", "text-generation-server"],
            usage: .serverMetrics
        ),
        DiscoveryRule(name: "localai", executables: ["local-ai", "localai"]),
        DiscoveryRule(name: "open-webui", executables: ["open-webui"], commandLineContains: ["open_webui.main"]),
        DiscoveryRule(name: "qdrant", executables: ["qdrant"], ports: [6333, 6334]),
        DiscoveryRule(name: "chroma", executables: ["chroma"], commandLineContains: ["chromadb.app"]),
        DiscoveryRule(name: "weaviate", executables: ["weaviate"]),
        DiscoveryRule(name: "milvus", executables: ["milvus"], ports: [19530]),
        DiscoveryRule(name: "langchain", ports: [5111]),
    ]
}
