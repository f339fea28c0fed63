public import Logging
public import Synchronization

/// Log messages, kept, for tests that check what code under test logged (and how often).
public final class LogRecorder: Sendable {
    /// Every message logged so far, in order.
    public let messages = Mutex<[String]>([])

    public init() {}

    struct Handler: LogHandler {
        let recorder: LogRecorder
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .debug

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            recorder.messages.withLock { $0.append(event.message.description) }
        }
    }

    /// A logger whose messages (debug and above) this recorder keeps.
    public var logger: Logger { Logger(label: "recorded") { _ in Handler(recorder: self) } }
}
