import WatcherModel

#if canImport(Glibc)
import Glibc
#endif

/// One TCP connect to a sink's host and port: while a sink's requests cannot even connect, the
/// loop probes at most once a second and retries as soon as a connection opens, instead of
/// waiting out a backoff of up to `max_backoff_ms` after the destination is back. A destination
/// that answers (5xx, 429) gets the backoff and its `Retry-After` as before: it is up, and busy.
struct ReachabilityProbe: Sendable, Equatable {
    let host: String
    let port: UInt16

    init(host: String, port: UInt16) {
        self.host = host
        self.port = port
    }

    /// The host and port of an `http://` or `https://` URL (default ports 80 and 443); nil for
    /// anything else.
    init?(url: String) {
        guard let authority = HTTPURLAuthority(url: url) else { return nil }
        self.init(host: authority.host, port: authority.port)
    }

    /// Whether a TCP connection to the destination opens within `timeoutMilliseconds` (it is
    /// closed at once). Blocking (name lookup, connect): call it on an I/O thread.
    func isReachable(timeoutMilliseconds: Int32 = 500) -> Bool {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_NUMERICSERV
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &list) == 0, let first = list else { return false }
        defer { freeaddrinfo(list) }
        var candidate: UnsafeMutablePointer<addrinfo>? = first
        while let address = candidate {
            candidate = address.pointee.ai_next
            let descriptor = socket(
                address.pointee.ai_family,
                Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue),
                0
            )
            guard descriptor >= 0 else { continue }
            defer { close(descriptor) }
            if connect(descriptor, address.pointee.ai_addr, address.pointee.ai_addrlen) == 0 { return true }
            guard errno == EINPROGRESS else { continue }
            var waiting = pollfd(fd: descriptor, events: Int16(POLLOUT), revents: 0)
            guard poll(&waiting, 1, timeoutMilliseconds) == 1 else { continue }
            var error: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            if getsockopt(descriptor, SOL_SOCKET, SO_ERROR, &error, &length) == 0, error == 0 { return true }
        }
        return false
    }
}
