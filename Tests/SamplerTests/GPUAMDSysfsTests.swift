import TestSupport
import Testing

@testable import Sampler

#if canImport(Glibc)
import Glibc
#endif

/// The amdgpu sysfs reader against fixture trees laid out like /sys/class/drm.
@Suite("GPU figures from amdgpu sysfs")
struct GPUAMDSysfsTests {
    @Test("cards read exactly; connectors, render nodes and other drivers' cards are skipped")
    func fixtureCardsReadExactly() {
        let gpus = AMDSysfsGPUs(root: Fixtures.path("amd-sysfs"), reader: LiveProcReader()).read()
        #expect(
            gpus == [
                GPUFigures(
                    vendor: "amd",
                    index: 0,
                    name: "AMD Radeon RX 7900 XTX",
                    utilizationPercent: 37,
                    memoryUsedBytes: 2_147_483_648,
                    memoryTotalBytes: 17_163_091_968,
                    temperatureCelsius: 61,
                    powerWatts: 123.456
                ),
                GPUFigures(
                    vendor: "amd",
                    index: 1,
                    name: "AMD GPU card1",
                    memoryUsedBytes: 536_870_912,
                    memoryTotalBytes: 8_589_934_592
                ),
            ]
        )
    }

    @Test("a missing DRM directory reads as no GPUs")
    func missingRootReadsAsNoGPUs() {
        #expect(AMDSysfsGPUs(root: "/nonexistent-rw-test/drm", reader: LiveProcReader()).read() == [])
        let snapshot = GPUReader(nvmlLibraryPath: "/nonexistent-rw-test/nvml.so", drmRoot: "/nonexistent-rw-test/drm")
            .read()
        #expect(snapshot == GPUSnapshot())
    }

    @Test("unparseable figures are nil, and power1_input stands in for a missing power1_average")
    func unparseableFiguresAreNil() throws {
        let root = TemporaryDirectory(prefix: "rw-amd-sysfs")
        defer { root.remove() }
        let device = root.path + "/card3/device"
        for directory in ["/card3", "/card3/device", "/card3/device/hwmon", "/card3/device/hwmon/hwmon7"] {
            try #require(mkdir(root.path + directory, 0o755) == 0)
        }
        writeText("busy\n", to: device + "/gpu_busy_percent")
        writeText("", to: device + "/mem_info_vram_used")
        writeText("4294967296\n", to: device + "/mem_info_vram_total")
        writeText("  \n", to: device + "/product_name")
        writeText("45500\n", to: device + "/hwmon/hwmon7/temp1_input")
        writeText("15000000\n", to: device + "/hwmon/hwmon7/power1_input")
        let gpus = AMDSysfsGPUs(root: root.path, reader: LiveProcReader()).read()
        #expect(
            gpus == [
                GPUFigures(
                    vendor: "amd",
                    index: 3,
                    name: "AMD GPU card3",
                    memoryTotalBytes: 4_294_967_296,
                    temperatureCelsius: 45.5,
                    powerWatts: 15
                )
            ]
        )
    }

    @Test("only cardN names are cards")
    func cardNames() {
        #expect(AMDSysfsGPUs.cardIndex("card0") == 0)
        #expect(AMDSysfsGPUs.cardIndex("card12") == 12)
        #expect(AMDSysfsGPUs.cardIndex("card0-DP-1") == nil)
        #expect(AMDSysfsGPUs.cardIndex("card1-HDMI-A-1") == nil)
        #expect(AMDSysfsGPUs.cardIndex("renderD128") == nil)
        #expect(AMDSysfsGPUs.cardIndex("card") == nil)
        #expect(AMDSysfsGPUs.cardIndex("version") == nil)
    }
}
