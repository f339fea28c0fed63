import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A loopback TCP relay in front of the receiver, for `make bench-compare`: it counts the bytes
/// senders put on the wire, and `down()` closes its port (connections refused, as when a
/// receiver is down) while the receiver behind it keeps its data. Blocking threads, no event
/// loop: the relay's own cost must stay out of the figures of the senders it measures.
final class TCPRelay: Sendable {
    let port: Int
    let upstreamPort: Int
    /// Bytes read from senders and written to the receiver.
    private let forwardedBytes = Atomic<Int>(0)
    private let listener = Mutex<Int32>(-1)
    /// Open relayed sockets, closed by `down()` so a sender sees the outage at once.
    private let sockets = Mutex<Set<Int32>>([])

    init(port: Int, upstreamPort: Int) {
        self.port = port
        self.upstreamPort = upstreamPort
    }

    var bytesForwarded: Int { forwardedBytes.load(ordering: .relaxed) }

    /// Listens on `port` again and relays every connection to the receiver.
    func up() throws {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw BenchFailure("relay: socket failed") }
        var one: Int32 = 1
        setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = Self.loopback(port: port)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0, listen(descriptor, 128) == 0 else {
            close(descriptor)
            throw BenchFailure("relay: cannot listen on 127.0.0.1:\(port) (errno \(errno))")
        }
        listener.withLock { $0 = descriptor }
        Self.detached { [self] in acceptLoop(descriptor) }
    }

    /// Closes the port and every relayed connection: senders get "connection refused".
    func down() {
        let descriptor = listener.withLock { descriptor -> Int32 in
            defer { descriptor = -1 }
            return descriptor
        }
        if descriptor >= 0 {
            shutdown(descriptor, Int32(SHUT_RDWR))  // wakes the blocked accept
            close(descriptor)
        }
        for socket in sockets.withLock({ $0 }) { shutdown(socket, Int32(SHUT_RDWR)) }
    }

    private func acceptLoop(_ descriptor: Int32) {
        while true {
            let client = accept(descriptor, nil, nil)
            if client < 0 {
                if errno == EINTR { continue }
                return
            }
            let upstream = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            var address = Self.loopback(port: upstreamPort)
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(upstream, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            guard connected == 0 else {
                close(upstream)
                close(client)
                continue
            }
            var one: Int32 = 1
            setsockopt(client, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            setsockopt(upstream, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            sockets.withLock {
                $0.insert(client)
                $0.insert(upstream)
            }
            let finished = Atomic<Int>(0)
            let pair = (client, upstream)
            let done: @Sendable () -> Void = { [self] in
                // The second direction to end closes both sockets.
                guard finished.add(1, ordering: .acquiringAndReleasing).newValue == 2 else { return }
                sockets.withLock {
                    $0.remove(pair.0)
                    $0.remove(pair.1)
                }
                close(pair.0)
                close(pair.1)
            }
            Self.detached { [self] in
                pump(from: pair.0, to: pair.1, counted: true)
                done()
            }
            Self.detached { [self] in
                pump(from: pair.1, to: pair.0, counted: false)
                done()
            }
        }
    }

    private func pump(from source: Int32, to destination: Int32, counted: Bool) {
        var buffer = [UInt8](repeating: 0, count: 65536)
        outer: while true {
            let count = buffer.withUnsafeMutableBytes { read(source, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            var written = 0
            while written < count {
                let result = buffer.withUnsafeBytes { write(destination, $0.baseAddress! + written, count - written) }
                if result < 0 && errno == EINTR { continue }
                guard result > 0 else { break outer }
                written += result
            }
            if counted { forwardedBytes.add(count, ordering: .relaxed) }
        }
        shutdown(source, Int32(SHUT_RD))
        shutdown(destination, Int32(SHUT_WR))
    }

    private static func loopback(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return address
    }

    /// Runs `body` on a new detached thread.
    private static func detached(_ body: @escaping @Sendable () -> Void) {
        final class Box {
            let body: @Sendable () -> Void
            init(_ body: @escaping @Sendable () -> Void) { self.body = body }
        }
        var thread = pthread_t()
        let result = pthread_create(
            &thread,
            nil,
            { argument in
                Unmanaged<Box>.fromOpaque(argument!).takeRetainedValue().body()
                return nil
            },
            Unmanaged.passRetained(Box(body)).toOpaque()
        )
        precondition(result == 0, "pthread_create failed: \(result)")
        pthread_detach(thread)
    }
}
