import ArgumentParser

/// The `resource-watcher` command line: parses arguments and wires the modules together.
@main
struct ResourceWatcher: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resource-watcher",
        abstract: "Watches the AI components of a host and reports to Prometheus, Loki and the Agent Orchestrator.",
        version: AgentVersion.current,
        subcommands: [
            RunCommand.self, StatusCommand.self, LogsCommand.self, CheckConfigCommand.self, SpoolCommand.self,
            VersionCommand.self,
        ],
        defaultSubcommand: RunCommand.self
    )
}

/// The agent's version, reported by `version`, `/health` and the User-Agent of every sink.
enum AgentVersion {
    static let current = "0.1.0"
}

struct VersionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "version", abstract: "Print the version.")

    func run() {
        print("resource-watcher \(AgentVersion.current)")
    }
}
