/// One thing wrong with a configuration, and where: a JSON path (`$.spool.max_bytes`,
/// `$.components[1].ports[0]`), an environment variable (`env RESOURCE_WATCHER_PORT`), a flag
/// (`--port`) or the config file itself.
public struct ConfigProblem: Sendable, Equatable, CustomStringConvertible {
    /// Where the bad value came from.
    public let path: String
    /// What is wrong and, where it helps, what would be right.
    public let message: String

    /// A problem at `path`.
    public init(path: String, message: String) {
        self.path = path
        self.message = message
    }

    /// `path: message`, one line.
    public var description: String { "\(path): \(message)" }
}
