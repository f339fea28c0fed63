import TestSupport
import Testing

@testable import Sampler

/// The NVML reader against the stub library, loaded through the same `dlopen` as production.
@Suite("GPU figures from NVML")
struct GPUNVMLTests {
    private static let twoGPUs = """
        gpu 0 name="NVIDIA A100-SXM4-40GB" uuid=GPU-5e1a2b3c-0000-1111-2222-333344445555 util=37 memutil=12 \
        mem_total=42949672960 mem_used=1073741824 temp=61 power_mw=123456
        gpu 1 name="Tesla T4" uuid=GPU-0f0e0d0c-aaaa-bbbb-cccc-ddddeeeeffff util=0 memutil=0 \
        mem_total=16106127360 mem_used=0 temp=35 power_mw=27500

        """

    private static let expectedFirst = GPUFigures(
        vendor: "nvidia",
        index: 0,
        name: "NVIDIA A100-SXM4-40GB",
        uuid: "GPU-5e1a2b3c-0000-1111-2222-333344445555",
        utilizationPercent: 37,
        memoryUsedBytes: 1_073_741_824,
        memoryTotalBytes: 42_949_672_960,
        temperatureCelsius: 61,
        powerWatts: 123.456
    )

    private static let expectedSecond = GPUFigures(
        vendor: "nvidia",
        index: 1,
        name: "Tesla T4",
        uuid: "GPU-0f0e0d0c-aaaa-bbbb-cccc-ddddeeeeffff",
        utilizationPercent: 0,
        memoryUsedBytes: 0,
        memoryTotalBytes: 16_106_127_360,
        temperatureCelsius: 35,
        powerWatts: 27.5
    )

    private static let noAMD = "/nonexistent/drm"

    @Test("each GPU's figures are the script's exactly, and NVML is initialised once")
    func figuresMatchTheScript() throws {
        let stub = try NVMLStub()
        defer { stub.remove() }
        stub.write(script: Self.twoGPUs)
        let reader = GPUReader(nvmlLibraryPath: stub.libraryPath, drmRoot: Self.noAMD)
        #expect(stub.initializationCount == nil, "NVML is initialised on the first read, not before")
        for _ in 0..<3 {
            #expect(reader.read() == GPUSnapshot(gpus: [Self.expectedFirst, Self.expectedSecond]))
        }
        #expect(stub.initializationCount == 1)
        #expect(reader.nvmlUnavailableReason == nil)
    }

    @Test("fields NVML does not support are nil while the others are present")
    func unsupportedFieldsAreNil() throws {
        let stub = try NVMLStub()
        defer { stub.remove() }
        stub.write(
            script: """
                gpu 0 name=NOT_SUPPORTED uuid=NOT_SUPPORTED util=NOT_SUPPORTED memutil=5 mem_total=1000 mem_used=400 \
                temp=NOT_SUPPORTED power_mw=NOT_SUPPORTED
                gpu 1 name=Quadro uuid=GPU-1 util=88 memutil=1 mem_total=NOT_SUPPORTED mem_used=NOT_SUPPORTED temp=70 \
                power_mw=250000 compute=NOT_SUPPORTED
                proc 1 graphics 4242 65536

                """
        )
        let snapshot = GPUReader(nvmlLibraryPath: stub.libraryPath, drmRoot: Self.noAMD).read()
        #expect(
            snapshot.gpus == [
                GPUFigures(
                    vendor: "nvidia",
                    index: 0,
                    name: "NVIDIA GPU 0",
                    memoryUsedBytes: 400,
                    memoryTotalBytes: 1000
                ),
                GPUFigures(
                    vendor: "nvidia",
                    index: 1,
                    name: "Quadro",
                    uuid: "GPU-1",
                    utilizationPercent: 88,
                    temperatureCelsius: 70,
                    powerWatts: 250
                ),
            ]
        )
        #expect(snapshot.processMemoryBytes == [4242: 65536], "the graphics list counts when compute is unsupported")
    }

    @Test("a lost GPU disappears from the next read and comes back when it answers again")
    func lostGPUDisappearsAndReturns() throws {
        let stub = try NVMLStub()
        defer { stub.remove() }
        let processes = "proc 0 compute 10 100\nproc 1 compute 11 200\n"
        stub.write(script: Self.twoGPUs + processes)
        let reader = GPUReader(nvmlLibraryPath: stub.libraryPath, drmRoot: Self.noAMD)
        let both = GPUSnapshot(
            gpus: [Self.expectedFirst, Self.expectedSecond],
            processMemoryBytes: [10: 100, 11: 200]
        )
        #expect(reader.read() == both)

        stub.write(script: Self.twoGPUs.replacing("gpu 1 ", with: "gpu 1 lost ") + processes)
        #expect(reader.read() == GPUSnapshot(gpus: [Self.expectedFirst], processMemoryBytes: [10: 100]))

        stub.write(script: Self.twoGPUs.replacing("gpu 0 ", with: "gpu 0 nohandle ") + processes)
        #expect(reader.read() == GPUSnapshot(gpus: [Self.expectedSecond], processMemoryBytes: [11: 200]))

        stub.write(script: "count 1\n" + Self.twoGPUs + processes)
        #expect(reader.read() == GPUSnapshot(gpus: [Self.expectedFirst], processMemoryBytes: [10: 100]))

        stub.write(script: Self.twoGPUs + processes)
        #expect(reader.read() == both)
        #expect(stub.initializationCount == 1)
    }

    @Test("per-process memory takes the larger of compute and graphics per GPU and sums over GPUs")
    func processMemorySums() throws {
        let stub = try NVMLStub()
        defer { stub.remove() }
        stub.write(
            script: Self.twoGPUs + """
                proc 0 compute 100 1000
                proc 0 graphics 100 400
                proc 0 graphics 200 300
                proc 1 compute 100 5000
                proc 1 graphics 100 7000
                proc 1 compute 300 NA
                proc 1 graphics 200 700
                proc 0 compute 400 NA
                proc 0 graphics 400 250

                """
        )
        let snapshot = GPUReader(nvmlLibraryPath: stub.libraryPath, drmRoot: Self.noAMD).read()
        // 100: max(1000, 400) on GPU 0 + max(5000, 7000) on GPU 1; 200: 300 + 700;
        // 300: not available, left out; 400: compute not available, graphics 250.
        #expect(snapshot.processMemoryBytes == [100: 8000, 200: 1000, 400: 250])
        #expect(snapshot.gpus.count == 2)
    }

    @Test("more processes than the first answer's count all come through")
    func manyProcessesComeThrough() throws {
        let stub = try NVMLStub()
        defer { stub.remove() }
        let processes = (1...40).map { "proc 0 compute \(1000 + $0) \($0 * 4096)" }.joined(separator: "\n")
        stub.write(script: Self.twoGPUs + processes + "\n")
        let snapshot = GPUReader(nvmlLibraryPath: stub.libraryPath, drmRoot: Self.noAMD).read()
        let expected = Dictionary(uniqueKeysWithValues: (1...40).map { (Int32(1000 + $0), UInt64($0 * 4096)) })
        #expect(snapshot.processMemoryBytes == expected)
    }

    @Test("a script with no GPUs reads as an empty snapshot with no reason")
    func noGPUsIsEmpty() throws {
        let stub = try NVMLStub()
        defer { stub.remove() }
        stub.write(script: "# no GPUs\n")
        let reader = GPUReader(nvmlLibraryPath: stub.libraryPath, drmRoot: Self.noAMD)
        #expect(reader.read() == GPUSnapshot())
        #expect(reader.nvmlUnavailableReason == nil)
    }

    @Test("a missing library gives an empty snapshot and a reason, once known")
    func missingLibraryGivesReason() throws {
        let path = "/nonexistent-rw-test/libnvidia-ml.so.1"
        let reader = GPUReader(nvmlLibraryPath: path, drmRoot: Self.noAMD)
        #expect(reader.nvmlUnavailableReason == nil)
        #expect(reader.read() == GPUSnapshot())
        #expect(reader.read() == GPUSnapshot())
        let reason = try #require(reader.nvmlUnavailableReason)
        #expect(reason.hasPrefix("\(path) not loaded: "), "\(reason)")
        #expect(reason.contains("No such file or directory"), "\(reason)")
    }

    @Test("a library without NVML's entry points is unavailable, with a reason")
    func libraryWithoutEntryPoints() throws {
        let reader = GPUReader(nvmlLibraryPath: "libc.so.6", drmRoot: Self.noAMD)
        #expect(reader.read() == GPUSnapshot())
        #expect(reader.nvmlUnavailableReason == "libc.so.6 lacks NVML's v2 entry points (nvmlInit_v2 and others)")
    }

    @Test("the library path is the configured one, else the environment's, else libnvidia-ml.so.1")
    func libraryPathPrecedence() {
        #expect(NVMLLibrary.path(configured: nil, environment: nil) == "libnvidia-ml.so.1")
        #expect(NVMLLibrary.path(configured: nil, environment: "") == "libnvidia-ml.so.1")
        #expect(NVMLLibrary.path(configured: nil, environment: "/opt/nvml.so") == "/opt/nvml.so")
        #expect(NVMLLibrary.path(configured: "/etc/x.so", environment: "/opt/nvml.so") == "/etc/x.so")
    }

    @Test("NVIDIA GPUs come first, then AMD cards")
    func nvidiaThenAMD() throws {
        let stub = try NVMLStub()
        defer { stub.remove() }
        stub.write(script: Self.twoGPUs)
        let snapshot = GPUReader(nvmlLibraryPath: stub.libraryPath, drmRoot: Fixtures.path("amd-sysfs")).read()
        #expect(snapshot.gpus.map { "\($0.vendor) \($0.index)" } == ["nvidia 0", "nvidia 1", "amd 0", "amd 1"])
    }
}
