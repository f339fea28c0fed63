import TestSupport

@testable import Sampler

#if canImport(Glibc)
import Glibc
#endif

/// The NVML stand-in (Tests/Fixtures/nvml-stub/nvml_stub.c), as a `libnvidia-ml.so.1` in a
/// directory of its own, with its script next to it.
///
/// The stub is compiled once per test process; each `NVMLStub` copies it into a fresh directory.
/// The copy has its own inode, so glibc's `dlopen` loads it as a separate library with its own
/// state, and the stub reads its script from `script` in the directory it was loaded from. Tests
/// therefore run in parallel, each with its own GPUs, without setting environment variables.
struct NVMLStub {
    private let directory: TemporaryDirectory

    /// The library to hand to `GPUReader(nvmlLibraryPath:)`.
    var libraryPath: String { directory.path + "/libnvidia-ml.so.1" }

    init() throws {
        let built = try Self.built.get()
        directory = TemporaryDirectory(prefix: "rw-nvml-stub")
        guard run("/bin/cp", [built, libraryPath]) == 0 else {
            throw ChildProcess.Failure(description: "cannot copy \(built) to \(libraryPath)")
        }
    }

    /// Replaces the script; the stub reads it again at the reader's next device count.
    func write(script: String) {
        writeText(script, to: directory.path + "/script")
    }

    /// How many times `nvmlInit_v2` was called on this copy; nil before the first call.
    var initializationCount: Int? {
        LiveProcReader().contents(of: directory.path + "/inits").flatMap { CgroupFileFormat.number($0) }.map {
            Int($0)
        }
    }

    /// Removes the directory. The library stays mapped while a reader has it loaded.
    func remove() {
        directory.remove()
    }

    private static let buildDirectory = TemporaryDirectory(prefix: "rw-nvml-build")

    /// `cc -shared -fPIC -O1` of the stub's source, once per test process.
    private static let built: Result<String, ChildProcess.Failure> = {
        let output = buildDirectory.path + "/libnvidia-ml.so.1"
        let status = run(
            "/usr/bin/env",
            ["cc", "-shared", "-fPIC", "-O1", "-o", output, Fixtures.path("nvml-stub/nvml_stub.c")]
        )
        atexit {
            unlink(NVMLStub.buildDirectory.path + "/libnvidia-ml.so.1")
            rmdir(NVMLStub.buildDirectory.path)
        }
        guard status == 0 else {
            return .failure(ChildProcess.Failure(description: "cc of the NVML stub exited with \(status)"))
        }
        return .success(output)
    }()
}
