import TestSupport

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

#if canImport(Glibc)
import Glibc
#endif

/// Tests/Fixtures/http_echo_server.py running as a child process, on TCP or a unix socket.
final class EchoServer {
    let process: ChildProcess
    /// "http://127.0.0.1:PORT", or "http://localhost" over a unix socket.
    let baseURL: String

    /// Starts the server on an ephemeral loopback port.
    init() throws {
        process = try ChildProcess("/usr/bin/env", ["python3", Fixtures.path("http_echo_server.py")])
        let port = try process.readLines(atLeast: 1, deadline: .now + .seconds(30)).first ?? ""
        baseURL = "http://127.0.0.1:\(port)"
    }

    /// Starts the server on a unix socket at `socketPath`.
    init(socketPath: String) throws {
        process = try ChildProcess(
            "/usr/bin/env",
            ["python3", Fixtures.path("http_echo_server.py"), "--unix", socketPath]
        )
        _ = try process.readLines(atLeast: 1, deadline: .now + .seconds(30))
        baseURL = "http://localhost"
    }

    /// Kills the server; call it (in a `defer`) so the server outlives every request.
    func stop() {
        process.kill()
        process.wait()
    }
}

/// What /echo answers: the request as the server saw it.
struct Echo: Decodable {
    let method: String
    let path: String
    let headers: [[String]]
    let body_hex: String
    let connection: Int
    let request_on_connection: Int
    let client_port: Int

    init(_ body: [UInt8]) throws {
        self = try JSONDecoder().decode(Echo.self, from: Data(body))
    }

    /// The first value of header `name`, compared without case.
    func header(_ name: String) -> String? {
        headers.first { $0[0].lowercased() == name.lowercased() }?[1]
    }

    var body: [UInt8] {
        var bytes: [UInt8] = []
        var index = body_hex.startIndex
        while index < body_hex.endIndex {
            let next = body_hex.index(index, offsetBy: 2)
            bytes.append(UInt8(body_hex[index..<next], radix: 16)!)
            index = next
        }
        return bytes
    }
}

/// A loopback TCP port that is bound but not listening, so connecting to it is refused; held
/// until `close()` so no other test can take it meanwhile.
final class RefusingPort {
    let port: UInt16
    private let descriptor: Int32

    init() {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.descriptor = descriptor
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                precondition(bind(descriptor, $0, length) == 0, "bind failed")
                precondition(getsockname(descriptor, $0, &length) == 0, "getsockname failed")
            }
        }
        port = UInt16(bigEndian: address.sin_port)
    }

    func close() { _ = Glibc.close(descriptor) }
}
