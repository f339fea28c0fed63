import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A real Docker engine for the tests: Debian's `dockerd` on a private socket in a fresh
/// directory (never the host's engine), with a busybox image made locally (no registry is
/// reachable): `/bin/busybox` from Debian's busybox-static plus its applet links, imported.
///
/// One engine serves the whole test process (`shared()`); it is stopped and its directory removed
/// when the process exits. A test that needs it and cannot have it fails with the reason (dockerd
/// missing, or its log); it is never skipped.
public final class DockerTestEngine: Sendable {
    /// The engine's directory: socket, data, exec root, pid file and log.
    public let directory: String
    /// The image every test container runs: busybox, `sh` as its shell.
    public static let image = "rw-busybox:test"
    /// Debian's docker.io client, which speaks to the 20.10 engine as its own version.
    public static let dockerCLI = "/usr/bin/docker"
    static let daemon = "/usr/sbin/dockerd"

    /// dockerd; only touched under the lock (ChildProcess is not Sendable).
    private final class Daemon: @unchecked Sendable {
        let child: ChildProcess
        init(_ child: ChildProcess) { self.child = child }
    }
    private let process = Mutex<Daemon?>(nil)
    private static let sharedEngine = Mutex<Result<DockerTestEngine, any Error>?>(nil)

    /// The engine's unix socket.
    public var socket: String { directory + "/docker.sock" }

    /// The process-wide engine, started on first use.
    public static func shared() throws -> DockerTestEngine {
        try sharedEngine.withLock { result in
            if let result { return try result.get() }
            let started = Result { () throws in try DockerTestEngine() }
            result = started
            if case .success = started { atexit { DockerTestEngine.stopShared() } }
            return try started.get()
        }
    }

    private static func stopShared() {
        if case .success(let engine) = DockerTestEngine.sharedEngine.withLock({ $0 }) { engine.remove() }
    }

    /// Starts a new engine in its own directory (short: socket paths are limited to 108 bytes)
    /// and imports the busybox image.
    public init() throws {
        guard access(Self.daemon, X_OK) == 0, access(Self.dockerCLI, X_OK) == 0, access("/bin/busybox", X_OK) == 0
        else {
            throw ChildProcess.Failure(
                description: "no Docker engine for the tests: \(Self.daemon), \(Self.dockerCLI) or /bin/busybox is "
                    + "missing (`make deps` installs docker.io and busybox-static)"
            )
        }
        directory = TemporaryDirectory(prefix: "rwdk").path
        try startEngine()
        let script = """
            set -e
            root="$1/busybox-root"; mkdir -p "$root/bin" "$root/tmp" "$root/etc" "$root/proc" "$root/sys" "$root/dev"
            cp /bin/busybox "$root/bin/busybox"
            for applet in $(/bin/busybox --list); do [ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"; done
            tar -C "$root" -cf - . | \(Self.dockerCLI) -H "unix://$1/docker.sock" import - \(Self.image) >/dev/null
            rm -rf "$root"
            """
        let (output, status) = try Self.run("/bin/sh", ["-c", script, "sh", directory])
        guard status == 0 else {
            remove()
            throw ChildProcess.Failure(description: "cannot make the busybox test image: \(output)")
        }
    }

    /// Starts dockerd (again, on the same data) and waits until it answers, at most 60 s.
    public func startEngine() throws {
        let command =
            "exec \(Self.daemon) --iptables=false --ip6tables=false --bridge=none --storage-driver=vfs "
            + "--data-root=\(directory)/data --exec-root=\(directory)/exec -H unix://\(directory)/docker.sock "
            + "--pidfile=\(directory)/docker.pid >>\(directory)/dockerd.log 2>&1"
        let daemon = Daemon(try ChildProcess("/bin/sh", ["-c", command]))
        process.withLock { $0 = daemon }
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            if (try? docker("version", "--format", "{{.Server.APIVersion}}")) != nil { return }
            var pause = timespec(tv_sec: 0, tv_nsec: 100_000_000)
            nanosleep(&pause, nil)
        }
        let log = (try? Self.run("/usr/bin/tail", ["-n", "20", directory + "/dockerd.log"]).output) ?? ""
        throw ChildProcess.Failure(description: "the test Docker engine did not answer within 60 s; its log:\n\(log)")
    }

    /// Stops dockerd (SIGTERM, then SIGKILL after 20 s) and waits for it; its containers stop with it.
    public func stopEngine() {
        guard
            let child = process.withLock({ current -> Daemon? in
                defer { current = nil }
                return current
            })?.child
        else { return }
        child.kill(SIGTERM)
        let deadline = ContinuousClock.now + .seconds(20)
        while kill(child.pid, 0) == 0 && ContinuousClock.now < deadline {
            var status: Int32 = 0
            if waitpid(child.pid, &status, WNOHANG) == child.pid { return }
            var pause = timespec(tv_sec: 0, tv_nsec: 50_000_000)
            nanosleep(&pause, nil)
        }
        child.kill(SIGKILL)
        child.wait()
    }

    /// Stops the engine and removes its directory (unmounting what it left mounted).
    public func remove() {
        stopEngine()
        let script = """
            awk -v d="$1" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null
            rm -rf "$1"
            """
        _ = try? Self.run("/bin/sh", ["-c", script, "sh", directory])
    }

    /// Runs the docker CLI against this engine; its standard output, or an error with everything it said.
    @discardableResult
    public func docker(_ arguments: String...) throws -> String {
        try docker(arguments)
    }

    @discardableResult
    public func docker(_ arguments: [String]) throws -> String {
        let (output, status) = try Self.run(Self.dockerCLI, ["-H", "unix://" + socket] + arguments)
        guard status == 0 else {
            throw ChildProcess.Failure(
                description: "docker \(arguments.joined(separator: " ")) exited \(status): \(output)"
            )
        }
        return output
    }

    /// Runs `program` to completion; its output (standard error merged) and exit status.
    public static func run(_ program: String, _ arguments: [String]) throws -> (output: String, status: Int32) {
        try ChildProcess(program, arguments, mergeStandardError: true).finish()
    }
}
