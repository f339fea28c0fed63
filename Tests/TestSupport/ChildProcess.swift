import Synchronization

#if canImport(Glibc)
public import Glibc
#endif

/// Serialises process creation in tests, see `ChildProcess.init`.
let spawnLock = Mutex<Void>(())

/// A child process whose standard output is read line by line through a pipe. It leads a
/// process group of its own, so `killGroup` (and deinit) also end what it started: a grandchild
/// left behind keeps the test runner's standard error open, and `swift test` waits for it.
public final class ChildProcess {
    public let pid: pid_t
    private let output: Int32
    private var pending: [UInt8] = []
    private var finished = false

    public struct Failure: Error, CustomStringConvertible {
        public let description: String

        public init(description: String) { self.description = description }
    }

    public init(_ program: String, _ arguments: [String], mergeStandardError: Bool = false) throws {
        var pipeEnds: [Int32] = [-1, -1]
        var pid: pid_t = 0
        let argv = ([program] + arguments).map { strdup($0) } + [nil]
        defer { for argument in argv { free(argument) } }
        // Tests run in parallel: the pipe is close-on-exec, and made and handed over under the
        // spawn lock, so no other child inherits its write end (which would keep it open).
        let result = spawnLock.withLock { _ -> Int32 in
            guard pipe(&pipeEnds) == 0 else { return errno }
            _ = fcntl(pipeEnds[0], F_SETFD, FD_CLOEXEC)
            _ = fcntl(pipeEnds[1], F_SETFD, FD_CLOEXEC)
            var actions = posix_spawn_file_actions_t()
            posix_spawn_file_actions_init(&actions)
            defer { posix_spawn_file_actions_destroy(&actions) }
            posix_spawn_file_actions_adddup2(&actions, pipeEnds[1], 1)
            if mergeStandardError { posix_spawn_file_actions_adddup2(&actions, pipeEnds[1], 2) }
            var attributes = posix_spawnattr_t()
            posix_spawnattr_init(&attributes)
            defer { posix_spawnattr_destroy(&attributes) }
            posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP))
            posix_spawnattr_setpgroup(&attributes, 0)
            let result = posix_spawn(&pid, program, &actions, &attributes, argv, environ)
            close(pipeEnds[1])
            return result
        }
        guard result == 0 else {
            if pipeEnds[0] >= 0 { close(pipeEnds[0]) }
            throw Failure(description: "cannot start \(program): error \(result)")
        }
        self.pid = pid
        self.output = pipeEnds[0]
        waitUntilExecuted()
    }

    /// posix_spawn may return before the child has exec'd; until then /proc shows our own
    /// executable and command line. Poll (with a deadline) until the child runs its program.
    /// The kernel switches `/proc/<pid>/exe` before it sets up the new program's arguments, so
    /// the command line is empty for a moment after: wait for that too (tests that find the
    /// child by its command line saw it missing under load).
    private func waitUntilExecuted() {
        func hasCommandLine(_ pid: pid_t) -> Bool {
            let descriptor = open("/proc/\(pid)/cmdline", O_RDONLY | O_CLOEXEC)
            guard descriptor >= 0 else { return false }
            defer { close(descriptor) }
            var byte: UInt8 = 0
            return read(descriptor, &byte, 1) == 1
        }
        func exe(_ pid: String) -> String {
            var buffer = [CChar](repeating: 0, count: 4096)
            let length = readlink("/proc/\(pid)/exe", &buffer, buffer.count - 1)
            return length > 0 ? String(decoding: buffer[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self) : ""
        }
        let ours = exe("self")
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            let current = exe(String(pid))
            // An empty link: the child already exited (a zombie has no executable).
            guard current == ours || (!current.isEmpty && !hasCommandLine(pid)) else { break }
            var pause = timespec(tv_sec: 0, tv_nsec: 1_000_000)
            nanosleep(&pause, nil)
        }
    }

    deinit {
        // Also after the child was waited for: what it started may still run in its group.
        killGroup()
        if !finished { _ = wait() }
        close(output)
    }

    /// Reads until at least `count` complete lines arrived (or the output ended).
    public func readLines(atLeast count: Int, deadline: ContinuousClock.Instant) throws -> [String] {
        var lines: [String] = []
        while lines.count < count {
            guard ContinuousClock.now < deadline else {
                throw Failure(description: "timed out waiting for \(count) lines")
            }
            var poller = pollfd(fd: output, events: Int16(POLLIN), revents: 0)
            let ready = poll(&poller, 1, 100)
            if ready <= 0 { continue }
            guard readChunk() else { break }
            lines += takeLines()
        }
        return lines
    }

    /// Everything the child writes until it exits, and its exit status.
    public func finish() throws -> (output: String, status: Int32) {
        var lines = try readRemainingLines()
        if !pending.isEmpty { lines.append(String(decoding: pending, as: UTF8.self)) }
        return (lines.joined(separator: "\n"), wait())
    }

    /// Reads every complete line left until end of file (call after the child died).
    public func readRemainingLines() throws -> [String] {
        while readChunk() {}
        return takeLines()
    }

    public func kill(_ signal: Int32 = SIGKILL) { Glibc.kill(pid, signal) }

    /// Sends `signal` to the child and every process it started that is still in its group.
    public func killGroup(_ signal: Int32 = SIGKILL) { Glibc.kill(-pid, signal) }

    /// Waits for exit; returns the exit code, or 128 + signal number.
    @discardableResult
    public func wait() -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        finished = true
        return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    }

    private func readChunk() -> Bool {
        var buffer = [UInt8](repeating: 0, count: 65536)
        let count = buffer.withUnsafeMutableBytes { read(output, $0.baseAddress, $0.count) }
        guard count > 0 else { return false }
        pending += buffer[0..<count]
        return true
    }

    private func takeLines() -> [String] {
        var lines: [String] = []
        while let newline = pending.firstIndex(of: 0x0A) {
            lines.append(String(decoding: pending[0..<newline], as: UTF8.self))
            pending.removeFirst(newline + 1)
        }
        return lines
    }
}
