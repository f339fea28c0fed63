import HTTPTransport
import Synchronization

extension DockerClient {
    /// How long one `/events` request may stay open; the caller then asks again (and reconciles).
    static let eventStreamLifetime = Duration.seconds(3600)

    /// Follows the engine's container events (`DockerEvent.Action`) on this client's connection,
    /// which it holds until the stream ends: `opened` once the engine accepted the request, then
    /// each event in order. Returns when the engine ends the stream (or its lifetime passes);
    /// throws when it could not be opened or broke. Lines too long or not events are counted in
    /// `skippedLines` and passed over.
    func followEvents(
        opened: @escaping @Sendable () -> Void,
        event: @escaping @Sendable (DockerEvent) -> Void,
        skippedLine: @escaping @Sendable (_ tooLong: Bool) -> Void
    ) async throws(DockerError) {
        guard let streaming = transport as? any HTTPStreamingTransport else {
            throw DockerError(code: .transport, message: "this transport cannot follow a stream")
        }
        let version = try await engine.apiVersion(using: transport)
        let request = HTTPRequest(
            url: "http://localhost/v\(version)/events?filters=" + Self.pathSegment(DockerEvent.filterQuery),
            headers: [("Accept", "application/json")],
            timeout: Self.eventStreamLifetime
        )
        let lines = Mutex(DockerEventLines())
        let receiver = HTTPStreamReceiver(
            response: { status in if (200..<300).contains(status) { opened() } },
            body: { piece in
                let (complete, dropped) = lines.withLock { ($0.lines(in: piece), $0.takeDroppedLines()) }
                for _ in 0..<dropped { skippedLine(true) }
                for line in complete where !line.allSatisfy({ $0 == 0x20 || $0 == 0x0D }) {
                    // Other actions are filtered out by the engine; what still does not decode is odd.
                    if let decoded = DockerEvent(line: line) { event(decoded) } else { skippedLine(false) }
                }
                return true
            }
        )
        let response: HTTPResponse
        do {
            response = try await streaming.stream(request, to: receiver)
        } catch {
            if error.code == .timeout { return }  // the stream's lifetime passed: ask again
            if error.code != .cancelled { engine.forgetVersion() }
            throw DockerError(code: .transport, message: error.message, transportError: error)
        }
        guard response.isSuccess else {
            throw DockerError(
                code: response.status == 404 ? .notFound : .unexpectedStatus,
                message: "/events: " + Self.engineMessage(response.body),
                status: response.status
            )
        }
    }

    /// One container's list entry (`GET /containers/json?all=true&filters={"id":[…]}`); nil
    /// when the engine lists no such container.
    func container(id: String) async throws(DockerError) -> DockerContainer? {
        let filter = "{\"id\":[\"\(id.filter { $0.isHexDigit })\"]}"
        let listed: [DockerContainer] = try await containers(query: "all=true&filters=" + Self.pathSegment(filter))
        return listed.first { $0.id == id }
    }

    /// `GET /_ping`: whether the engine answers at all (no version in the path).
    func ping() async throws(DockerError) {
        _ = try await DockerEngine.ping(using: transport)
    }
}
