import Foundation  // Thread: a sampler tick on a thread of its own
import Synchronization
import TestSupport
import Testing
import WatcherModel

@testable import Sampler

#if canImport(Glibc)
import Glibc
#endif

/// The file rules under `log_files` and `pid_file` (`OwnerCheckedPath`, `PidFile`) and the
/// sampler's bounds on command lines, with real files, links, owners and processes. Root runs
/// the tests; uid 65534 plays the tenant who can write a directory on the path.
@Suite("Hostile file inputs: owner-checked paths, pid files, command lines")
struct HostileFileInputTests {
    static let tenantUID: uid_t = 65534

    /// Root's directory with a file, and a tenant's directory (owned by 65534) beside it.
    private struct Tree {
        let directory = TemporaryDirectory(prefix: "rw-owner-path")
        var secretDirectory: String { directory.path + "/secret" }
        var tenantDirectory: String { directory.path + "/tenant" }

        init() throws {
            try #require(mkdir(secretDirectory, 0o755) == 0 && mkdir(tenantDirectory, 0o755) == 0)
            try #require(chown(tenantDirectory, HostileFileInputTests.tenantUID, HostileFileInputTests.tenantUID) == 0)
            writeText("root's secret\n", to: secretDirectory + "/app.log")
        }

        /// A link at `path` to `target`, owned by the tenant.
        func tenantLink(_ path: String, to target: String) throws {
            try #require(symlink(target, path) == 0)
            try #require(lchown(path, HostileFileInputTests.tenantUID, HostileFileInputTests.tenantUID) == 0)
        }
    }

    private func refusal(_ path: String) -> String? {
        switch OwnerCheckedPath.open(path) {
        case .refused(let reason): return reason
        case .file(let descriptor, _):
            close(descriptor)
            return nil
        case .missing: return nil
        }
    }

    private func opens(_ path: String) -> Bool {
        guard case .file(let descriptor, _) = OwnerCheckedPath.open(path) else { return false }
        close(descriptor)
        return true
    }

    @Test("a tenant's link to root's directory on the path is refused, naming the link; root's own link is followed")
    func linkedDirectories() throws {
        let tree = try Tree()
        defer { tree.directory.remove() }
        try tree.tenantLink(tree.tenantDirectory + "/logs", to: tree.secretDirectory)
        let reason = refusal(tree.tenantDirectory + "/logs/app.log")
        #expect(
            reason?.hasPrefix(
                "\(tree.tenantDirectory)/logs is a symlink owned by uid 65534 to a directory owned by uid 0"
            )
                == true,
            "\(reason ?? "not refused")"
        )
        // Root's link to root's directory: same owner.
        try #require(symlink(tree.secretDirectory, tree.directory.path + "/own") == 0)
        #expect(opens(tree.directory.path + "/own/app.log"))
        // The tenant's link to the tenant's own directory is followed too.
        let tenantLogs = tree.tenantDirectory + "/real"
        try #require(mkdir(tenantLogs, 0o755) == 0 && chown(tenantLogs, Self.tenantUID, Self.tenantUID) == 0)
        writeText("", to: tenantLogs + "/app.log")
        try tree.tenantLink(tree.tenantDirectory + "/mine", to: "real")
        #expect(opens(tree.tenantDirectory + "/mine/app.log"))
    }

    @Test(
        "a link is judged by where it finally leads: a chain of the tenant's links, or ../, to root's files is refused"
    )
    func chainsAndParents() throws {
        let tree = try Tree()
        defer { tree.directory.remove() }
        // tenant/a -> tenant/b -> ../secret: both links the tenant's, the end root's.
        try tree.tenantLink(tree.tenantDirectory + "/b", to: "../secret")
        try tree.tenantLink(tree.tenantDirectory + "/a", to: "b")
        #expect(refusal(tree.tenantDirectory + "/a/app.log")?.contains("owned by uid 65534 to a directory") == true)
        // A file link through the tenant's directory: refused like a linked file.
        try tree.tenantLink(tree.tenantDirectory + "/file.log", to: "../secret/app.log")
        #expect(refusal(tree.tenantDirectory + "/file.log")?.contains("symlink owned by uid 65534 to a file") == true)
        // A link to itself: refused once the kernel's limit of links is passed.
        try tree.tenantLink(tree.tenantDirectory + "/loop", to: "loop")
        #expect(refusal(tree.tenantDirectory + "/loop/app.log")?.contains("symbolic links") == true)
    }

    @Test("a FIFO, a device and a directory are refused without being opened for reading")
    func notRegularFiles() throws {
        let tree = try Tree()
        defer { tree.directory.remove() }
        let fifo = tree.directory.path + "/fifo"
        try #require(mkfifo(fifo, 0o644) == 0)
        #expect(refusal(fifo)?.contains("FIFO") == true)
        #expect(refusal("/dev/zero")?.contains("character device") == true)
        #expect(refusal(tree.secretDirectory)?.contains("directory") == true)
    }

    @Test("a pid file: a PID is read; over 64 bytes, a FIFO or a /dev/zero link is refused at once with its reason")
    func pidFiles() throws {
        let tree = try Tree()
        defer { tree.directory.remove() }
        let path = tree.directory.path + "/app.pid"
        writeText(" 4242\n", to: path)
        #expect(PidFile.read(path) == .pid(4242))
        writeText("4242\n" + String(repeating: " ", count: 60), to: path)
        guard case .refused(let reason, _) = PidFile.read(path) else {
            Issue.record("a 65-byte pid file was read: \(PidFile.read(path))")
            return
        }
        #expect(reason == "pid_file_too_large")
        writeText("not a pid\n", to: path)
        #expect(PidFile.read(path) == .unparsable)
        #expect(PidFile.read(tree.directory.path + "/none.pid") == .missing)
        let fifo = tree.directory.path + "/fifo.pid"
        try #require(mkfifo(fifo, 0o644) == 0)
        let zero = tree.directory.path + "/zero.pid"
        try #require(symlink("/dev/zero", zero) == 0)
        for hostile in [fifo, zero] {
            guard case .refused(let reason, _) = PidFile.read(hostile) else {
                Issue.record("\(hostile) was not refused")
                continue
            }
            #expect(reason == "pid_file_refused")
        }
    }

    @Test("a refused pid_file makes its component down with the reason, counted per tick as pid_file_refused")
    func refusedPidFileComponent() throws {
        let tree = try Tree()
        defer { tree.directory.remove() }
        let fifo = tree.directory.path + "/app.pid"
        try #require(mkfifo(fifo, 0o644) == 0)
        let limits = SourceLimits()
        let sampler = ProcessComponentSampler(
            components: [ComponentConfig(name: "app", pidFile: fifo)],
            sourceLimits: limits
        )
        // A writer lets an open still waiting on the FIFO go, whatever happens below.
        defer {
            let writer = open(fifo, O_WRONLY | O_NONBLOCK)
            if writer >= 0 { close(writer) }
        }
        let sample = try #require(try Self.onThread(within: .seconds(5)) { sampler.sample() }?.first)
        #expect(sample.status == .down)
        #expect(
            sample.statusReason.hasPrefix("pid_file refused: not a regular file (a FIFO)"),
            "\(sample.statusReason)"
        )
        _ = sampler.sample()
        #expect(limits.count(component: "app", reason: "pid_file_refused") == 2)
    }

    @Test("a command line is read no further than 4 KiB, and the cut is known")
    func commandLinePrefix() throws {
        let directory = TemporaryDirectory(prefix: "rw-cmdline")
        defer { directory.remove() }
        let path = directory.path + "/big"
        writeText(String(repeating: "a", count: 1 << 20), to: path)
        let read = try #require(LiveProcReader().prefix(of: path, maxBytes: ProcessTable.maxCommandLineBytes))
        #expect(read.bytes.count == 4096 && read.truncated)
        writeText(String(repeating: "a", count: 4096), to: path)
        let exact = try #require(LiveProcReader().prefix(of: path, maxBytes: ProcessTable.maxCommandLineBytes))
        #expect(exact.bytes.count == 4096 && !exact.truncated)
    }

    @Test("the host is read and cmdline patterns run without the sampler's lock: its state answers meanwhile")
    func scanOutsideTheLock() throws {
        let reader = GatedReader()
        let sampler = ProcessComponentSampler(
            components: [ComponentConfig(name: "app", cmdline: "no-such-command-\(UInt32.random(in: 0...UInt32.max))")],
            reader: reader
        )
        let tick = Thread { _ = sampler.sample() }
        tick.start()
        defer { reader.open() }
        let deadline = ContinuousClock.now + .seconds(10)
        while !reader.isHolding && ContinuousClock.now < deadline { sched_yield() }
        try #require(reader.isHolding, "the tick never read a command line")
        // The tick is in the middle of the host scan (held on a command line): the lock is free.
        let names = try Self.onThread(within: .seconds(2)) { sampler.componentNames() }
        #expect(names == ["app"], "componentNames() waited for the host scan")
    }

    /// `work` on a thread of its own; its result, or nil when it has not finished `within`.
    private static func onThread<Result: Sendable>(
        within timeout: Duration,
        _ work: @escaping @Sendable () -> Result
    ) throws -> Result? {
        let result = ResultBox<Result>()
        Thread {
            let value = work()
            result.value.withLock { $0 = value }
        }
        .start()
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let done = result.value.withLock({ $0 }) { return done }
            sched_yield()
        }
        return nil
    }
}

/// What a thread hands back.
private final class ResultBox<Value: Sendable>: Sendable {
    let value = Mutex<Value?>(nil)
}

/// The live /proc, except that a command line is handed over only once `open()` is called:
/// holds a host scan in the middle of its command lines.
private final class GatedReader: ProcReader {
    private let live = LiveProcReader()
    private let state = Mutex((open: false, holding: false))

    var isHolding: Bool { state.withLock { $0.holding } }

    func open() { state.withLock { $0.open = true } }

    private func waitIfCommandLine(_ path: String) {
        guard path.hasSuffix("/cmdline") else { return }
        while !state.withLock({ state in
            state.holding = !state.open
            return state.open
        }) { sched_yield() }
    }

    func contents(of path: String) -> [UInt8]? {
        waitIfCommandLine(path)
        return live.contents(of: path)
    }

    func prefix(of path: String, maxBytes: Int) -> (bytes: [UInt8], truncated: Bool)? {
        waitIfCommandLine(path)
        return live.prefix(of: path, maxBytes: maxBytes)
    }

    func entries(of directory: String) -> [String] { live.entries(of: directory) }
    func linkTarget(of path: String) -> String? { live.linkTarget(of: path) }
}
