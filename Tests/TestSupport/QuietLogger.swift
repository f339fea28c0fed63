public import Logging

extension Logger {
    /// A logger that writes nothing: for code under test whose log lines the test does not read.
    public static func quiet(_ label: String = "test") -> Logger {
        Logger(label: label, factory: { _ in SwiftLogNoOpLogHandler() })
    }
}
