import ArgumentParser
import HTTPTransport
import StatusAPI
import WatcherModel

/// `resource-watcher status`: asks a running agent's status API (`/health`, `/metrics/components`,
/// `/alerts`) and prints a summary for people. The exit status is for scripts: see `discussion`.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show a running agent's health, components, active alerts, spool and sinks.",
        discussion: """
            Reads listen_address, port and client_id from the configuration (flags and environment \
            variables apply as for `run`) and asks the agent's status API; the components and alerts \
            shown are client_id's (--client-id picks another tenant).
            Exit status: 0 the agent is healthy; 1 it answered but is not healthy (degraded); \
            2 the configuration is invalid; 3 the agent is unreachable or answered with an error \
            (a missing or rejected token, an unknown client_id).
            """
    )

    /// The exit status when the agent cannot be asked (unreachable, or an error answer).
    static let unreachableExitCode: Int32 = 3

    @OptionGroup var options: ConfigOptions

    @Option(help: "API token for the status API (default: $RESOURCE_WATCHER_TOKEN, which keeps it out of `ps`).")
    var token: String?

    @Option(help: "Base URL of the status API (default: http://<listen_address>:<port> from the configuration).")
    var url: String?

    @Option(help: "Seconds to wait for each answer.")
    var timeout: Double = 3

    func validate() throws {
        if let url, !(url.hasPrefix("http://") || url.hasPrefix("https://")) {
            throw ValidationError("--url must start with http:// or https://, got \(url)")
        }
        guard timeout.isFinite, timeout > 0 else {
            throw ValidationError("--timeout must be a positive number of seconds")
        }
    }

    func run() async throws {
        let config = try options.load()
        let environmentToken = ConfigOptions.environment()["RESOURCE_WATCHER_TOKEN"]
        var baseURL = url ?? Self.baseURL(listenAddress: config.listenAddress, port: config.port)
        while baseURL.hasSuffix("/") { baseURL.removeLast() }
        let client = StatusClient(
            baseURL: baseURL,
            token: [token, environmentToken].compactMap { $0 }.first { !$0.isEmpty },
            timeout: .milliseconds(Int64((timeout * 1000).rounded()))
        )
        let health: JSONValue
        let components: JSONValue
        let alerts: JSONValue
        let tenant = "client_id=" + Self.queryEscaped(config.clientID)
        do {
            health = try await client.get("/health")
            components = try await client.get("/metrics/components?" + tenant)
            alerts = try await client.get("/alerts?" + tenant)
        } catch {
            printError("resource-watcher: \(error.message)")
            if let hint = error.hint { printError("hint: \(hint)") }
            throw ExitCode(Self.unreachableExitCode)
        }
        let report = StatusReport(baseURL: client.baseURL, clientID: config.clientID)
        print(report.render(health: health, components: components, alerts: alerts), terminator: "")
        if health["status"]?.text != "healthy" { throw ExitCode(1) }
    }

    /// The URL the agent listens on; a wildcard listen address is reached over loopback.
    static func baseURL(listenAddress: String, port: Int) -> String {
        var host = listenAddress
        if host.isEmpty || host == "0.0.0.0" {
            host = "127.0.0.1"
        } else if host == "::" || host == "[::]" {
            host = "::1"
        }
        if host.contains(":") && !host.hasPrefix("[") { host = "[\(host)]" }
        return "http://\(host):\(port)"
    }

    /// `text` with everything but RFC 3986's unreserved characters percent-encoded.
    static func queryEscaped(_ text: String) -> String {
        var result = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"):
                result.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let digits = Array("0123456789ABCDEF")
                result += "%" + String(digits[Int(byte >> 4)]) + String(digits[Int(byte & 0xF)])
            }
        }
        return result
    }
}
