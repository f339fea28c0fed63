import ArgumentParser
import Shipper
import WatcherModel

struct CheckConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract: "Validate the configuration and print what the agent would run with; exit 2 on any problem."
    )

    @OptionGroup var options: ConfigOptions

    func run() throws {
        let config = try options.load()
        print("configuration is valid")
        print("  client_id:      \(config.clientID)")
        print("  listen:         \(config.listenAddress) ports \(config.port) (API), \(config.metricsPort) (metrics)")
        print("  poll interval:  \(config.pollIntervalSeconds) s")
        print(
            "  spool:          \(config.spool.directory) (max \(config.spool.maxBytes) bytes, fsync \(config.spool.fsync))"
        )
        print("  components:     \(config.components.map(\.name).joined(separator: ", "))")
        let sinks = ShipperSinks.consumerNames(in: config)
        print("  sinks:          \(sinks.isEmpty ? "none (data is kept in the spool)" : sinks.joined(separator: ", "))")
    }
}
