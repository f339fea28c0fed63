import HTTPTransport

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The Docker Engine API calls the Sampler needs, over any `HTTPTransport`; in production a
/// `CurlTransport` on the engine's socket (`DockerEngine.makeClient()`).
///
/// Every path carries the version negotiated with the engine (`DockerEngine`), so the documents
/// are the ones that version defines, whatever the engine's own. Features a version lacks fall
/// back to what it offers (one-shot stats before 1.41). `inspect(id:includeSize:)` with sizes
/// makes the engine walk the container's writable layer: call it on the slow disk refresh, not
/// per tick.
struct DockerClient: Sendable {
    let transport: any HTTPTransport
    let engine: DockerEngine

    init(transport: any HTTPTransport, engine: DockerEngine) {
        self.transport = transport
        self.engine = engine
    }

    /// Every container, stopped ones included (`all=true`), so a stopped component reads as down
    /// rather than absent.
    func containers(includeStopped: Bool = true) async throws(DockerError) -> [DockerContainer] {
        try await get("/containers/json" + (includeStopped ? "?all=true" : ""))
    }

    /// The container list with `query` ("all=true&filters=…").
    func containers(query: String) async throws(DockerError) -> [DockerContainer] {
        try await get("/containers/json?" + query)
    }

    /// One stats document without streaming. From API 1.41, `one-shot=true` skips the engine's
    /// second read a second later, so `precpu_stats` is empty and CPU rates come from the caller's
    /// previous sample; older engines fill `precpu_stats` (and take a second longer).
    func stats(id: String) async throws(DockerError) -> DockerStats {
        let version = try await engine.apiVersion(using: transport)
        let query = version >= .oneShotStats ? "stream=false&one-shot=true" : "stream=false"
        return try await get("/containers/\(Self.pathSegment(id))/stats?" + query)
    }

    /// The container's details; with `includeSize`, `SizeRw` and `SizeRootFs`.
    func inspect(id: String, includeSize: Bool = true) async throws(DockerError) -> DockerContainerDetails {
        try await get("/containers/\(Self.pathSegment(id))/json" + (includeSize ? "?size=true" : ""))
    }

    /// The container's stdout and stderr since `sinceUnixNanoseconds` (nil: from its start) and
    /// through `untilUnixNanoseconds` (nil: up to now), each line prefixed by its RFC 3339 nano
    /// timestamp; both bounds are inclusive. The body is the multiplexed stream, or the raw one
    /// for a TTY container (`DockerLogStream` decodes both). `timeout` bounds the whole exchange.
    func logs(
        id: String,
        sinceUnixNanoseconds: Int64?,
        untilUnixNanoseconds: Int64? = nil,
        timeout: Duration? = nil
    ) async throws(DockerError) -> [UInt8] {
        var query = "stdout=1&stderr=1&timestamps=1"
        if let sinceUnixNanoseconds { query += "&since=" + Self.unixTimestamp(nanoseconds: sinceUnixNanoseconds) }
        if let untilUnixNanoseconds { query += "&until=" + Self.unixTimestamp(nanoseconds: untilUnixNanoseconds) }
        let response = try await send(
            "/containers/\(Self.pathSegment(id))/logs?" + query,
            accept: "application/vnd.docker.multiplexed-stream, application/vnd.docker.raw-stream",
            timeout: timeout
        )
        return response.body
    }

    /// "seconds.nanoseconds", the engine's fractional Unix timestamp (`since`, `until`).
    static func unixTimestamp(nanoseconds: Int64) -> String {
        let fraction = String(nanoseconds % 1_000_000_000)
        return "\(nanoseconds / 1_000_000_000)." + String(repeating: "0", count: 9 - fraction.count) + fraction
    }

    private func get<Document: Decodable>(_ path: String) async throws(DockerError) -> Document {
        let response = try await send(path, accept: "application/json", timeout: nil)
        do {
            return try JSONDecoder().decode(Document.self, from: Data(response.body))
        } catch {
            throw DockerError(code: .malformedResponse, message: "\(path): \(error)", status: response.status)
        }
    }

    /// One GET in the negotiated version; a non-2xx answer is an error carrying the engine's
    /// message. A failure to get an answer, or an engine refusing the version, forgets the
    /// version, so the next call negotiates again (the engine may have been replaced).
    private func send(_ path: String, accept: String, timeout: Duration?) async throws(DockerError) -> HTTPResponse {
        let version = try await engine.apiVersion(using: transport)
        // Over a unix socket the host only fills the Host header, which the engine ignores.
        let request = HTTPRequest(
            url: "http://localhost/v\(version)\(path)",
            headers: [("Accept", accept)],
            timeout: timeout
        )
        let response: HTTPResponse
        do {
            response = try await transport.send(request)
        } catch {
            if error.code != .cancelled && error.code != .responseTooLarge { engine.forgetVersion() }
            throw DockerError(code: .transport, message: error.message, transportError: error)
        }
        guard response.isSuccess else {
            let message = Self.engineMessage(response.body)
            if response.status == 400, message.contains("API version") || message.contains("client version") {
                engine.forgetVersion()
            }
            throw DockerError(
                code: response.status == 404 ? .notFound : .unexpectedStatus,
                message: message,
                status: response.status
            )
        }
        return response
    }

    /// The engine answers errors as `{"message": "No such container: …"}`.
    static func engineMessage(_ body: [UInt8]) -> String {
        struct EngineError: Decodable { var message: String }
        if let error = try? JSONDecoder().decode(EngineError.self, from: Data(body)) { return error.message }
        return String(decoding: body.prefix(200), as: UTF8.self)
    }

    /// IDs are hex, but a name may be passed too: escape everything but unreserved characters.
    static func pathSegment(_ value: String) -> String {
        var escaped = ""
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"):
                escaped.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let hex = String(byte, radix: 16, uppercase: true)
                escaped += "%" + (hex.count == 1 ? "0" + hex : hex)
            }
        }
        return escaped
    }
}
