import HTTPTransport
import Synchronization

/// One Docker engine as every client of it sees it: its socket and the API version negotiated
/// with it, as Docker's own clients do (`GET /_ping`, its `API-Version` header, the lower of that
/// and the newest version the agent knows).
///
/// Clients (`makeClient`) share one engine, so the stats and the logs readers negotiate once; a
/// failed request forgets the version, so an engine restarted or replaced by another version is
/// asked again on the next call.
final class DockerEngine: Sendable {
    /// The engine's unix socket (`docker_socket`, or `DOCKER_HOST=unix://…`).
    let socketPath: String
    /// The newest version this agent speaks; tests lower it to exercise older engines' paths.
    let newestVersion: DockerAPIVersion
    private let negotiated = Mutex<DockerAPIVersion?>(nil)

    init(socketPath: String, newestVersion: DockerAPIVersion = .newestKnown) {
        self.socketPath = socketPath
        self.newestVersion = newestVersion
    }

    /// A client with a transport (and so a connection and a thread) of its own: requests on one
    /// transport run one at a time. Timeouts are short: a tick must not wait long on a stuck
    /// engine (DESIGN §5).
    func makeClient(connectTimeout: Duration = .seconds(1), requestTimeout: Duration = .seconds(5)) -> DockerClient {
        let transport = CurlTransport(
            unixSocketPath: socketPath,
            userAgent: "resource-watcher",
            connectTimeout: connectTimeout,
            requestTimeout: requestTimeout,
            acceptGzip: false
        )
        return DockerClient(transport: transport, engine: self)
    }

    /// `GET /_ping` (no version in the path): the engine's answer when it is a success.
    static func ping(using transport: any HTTPTransport) async throws(DockerError) -> HTTPResponse {
        let response: HTTPResponse
        do {
            response = try await transport.send(
                HTTPRequest(url: "http://localhost/_ping", headers: [("Accept", "text/plain")])
            )
        } catch {
            throw DockerError(code: .transport, message: error.message, transportError: error)
        }
        guard response.isSuccess else {
            throw DockerError(
                code: .unexpectedStatus,
                message: "/_ping: " + DockerClient.engineMessage(response.body),
                status: response.status
            )
        }
        return response
    }

    /// The version to put in request paths, asking the engine first when none is known.
    func apiVersion(using transport: any HTTPTransport) async throws(DockerError) -> DockerAPIVersion {
        if let known = negotiated.withLock({ $0 }) { return known }
        let response = try await Self.ping(using: transport)
        let offered: DockerAPIVersion
        if let header = response.header("API-Version") {
            guard let version = DockerAPIVersion(header) else {
                throw DockerError(
                    code: .malformedResponse,
                    message: "/_ping: API-Version \"\(header.prefix(40))\" is not a version",
                    status: response.status
                )
            }
            offered = version
        } else {
            offered = .unannounced
        }
        guard offered >= .oldestSupported else {
            throw DockerError(
                code: .unsupportedVersion,
                message:
                    "the engine speaks API \(offered); resource-watcher needs \(DockerAPIVersion.oldestSupported) or newer "
                    + "(Docker 17.12+)",
                status: response.status
            )
        }
        let version = min(offered, newestVersion)
        negotiated.withLock { $0 = version }
        return version
    }

    /// Forgets the negotiated version: the next call asks the engine again.
    func forgetVersion() {
        negotiated.withLock { $0 = nil }
    }

    /// The version in use, if one was negotiated.
    var currentVersion: DockerAPIVersion? { negotiated.withLock { $0 } }
}
