import Logging
import Synchronization
import WatcherModel
import WatcherProto

#if canImport(Glibc)
import Glibc
#endif

/// The agent's log output: one line per event, RFC 3339 UTC time, level, message, then the
/// metadata as key=value pairs, to standard error or to `log_file`.
enum AgentLogging {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// Installs the agent's log handler. Records at or above the level also go to `spoolBuffer`,
    /// from which each tick writes them to the spool as a log batch.
    static func bootstrap(level: String, file: String?, clientID: String, spoolBuffer: LogBuffer) throws -> Logger {
        let descriptor: Int32
        if let file {
            descriptor = open(file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o640)
            guard descriptor >= 0 else {
                throw Failure(description: "cannot open log_file \(file): \(String(cString: strerror(errno)))")
            }
        } else {
            descriptor = 2
        }
        let logLevel = Logger.Level(rawValue: level) ?? .info
        let output = LineOutput(descriptor: descriptor)
        LoggingSystem.bootstrap { label in
            var handler = LineLogHandler(label: label, output: output, spoolBuffer: spoolBuffer, clientID: clientID)
            handler.logLevel = logLevel
            return handler
        }
        return Logger(label: "resource-watcher")
    }
}

/// Serialises whole lines onto one file descriptor.
final class LineOutput: Sendable {
    private let descriptor: Mutex<Int32>

    init(descriptor: Int32) { self.descriptor = Mutex(descriptor) }

    func write(_ line: String) {
        var bytes = Array(line.utf8)
        bytes.append(0x0A)
        descriptor.withLock { descriptor in
            _ = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
        }
    }
}

struct LineLogHandler: LogHandler {
    let label: String
    let output: LineOutput
    let spoolBuffer: LogBuffer
    let clientID: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        // Messages and values may come from outside (error bodies, file names): escaped, one line.
        var line =
            "\(RFC3339.format(unixMilliseconds: RFC3339.nowUnixMilliseconds(), withMilliseconds: true)) \(event.level) "
            + LogLineText.escaped("\(event.message)")
        let merged = metadata.merging(event.metadata ?? [:]) { _, new in new }
        for key in merged.keys.sorted() {
            line += " \(LogLineText.escaped(key))=" + LogLineText.value("\(merged[key]!)")
        }
        output.write(line)
        var record = ResourceWatcher_V1_LogRecord()
        record.timestampUnixNs = RFC3339.nowUnixMilliseconds() * 1_000_000
        record.clientID = clientID
        record.component = "resource-watcher"
        record.source = "agent"
        record.level = Self.level(event.level)
        record.message = "\(event.message)"
        for (key, value) in merged { record.metadata[key] = "\(value)" }
        spoolBuffer.append(record)
    }

    static func level(_ level: Logger.Level) -> ResourceWatcher_V1_LogLevel {
        switch level {
        case .trace: .trace
        case .debug: .debug
        case .info: .info
        case .notice: .notice
        case .warning: .warning
        case .error: .error
        case .critical: .critical
        }
    }
}
