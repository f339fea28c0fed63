import TestSupport
import Testing
import WatcherModel
import WatcherProto

@testable import Sampler

/// GPU figures in whole ticks: per GPU on the host, per component from its process tree, the
/// `high_gpu_memory_usage` alert, and nothing at all where there is no GPU.
@Suite("GPU figures in ticks")
struct GPUTickTests {
    private static let gib: UInt64 = 1 << 30

    @Test("the host lists every GPU and a component holds the GPU memory of its whole process tree, as scripted")
    func figuresMatchTheScript() async throws {
        let marker = "gpu-worker-\(UInt32.random(in: 0...UInt32.max))"
        let worker = try ChildProcess("/bin/sh", ["-c", "sleep 600; :", marker])
        defer {
            worker.kill()
            worker.wait()
        }
        var config = Config()
        config.host = true
        config.alerts.forSamples = 1
        config.components = [
            ComponentConfig(
                name: "worker",
                cmdline: " \(marker)$",
                alerts: AlertThresholdOverrides(gpuMemoryThresholdPercent: 2, criticalThresholdPercent: 50)
            )
        ]
        let stub = try NVMLStub()
        defer { stub.remove() }
        let composer = TickComposer(
            config: config,
            agentID: "test",
            gpus: GPUReader(nvmlLibraryPath: stub.libraryPath, drmRoot: "/nonexistent")
        )
        var clock: Int64 = 1_000_000
        func tick() -> ResourceWatcher_V1_Batch {
            clock += 1000
            return composer.composeBatch(intervalSeconds: 1, nowUnixMilliseconds: clock)
        }
        // The shell's child (sleep) must be in the tree before the script names it.
        var child: Int32 = 0
        try await pollUntil("the worker's sleep has started", timeout: .seconds(10)) {
            _ = tick()
            child = composer.sampler.processTrees()["worker"]?.first { $0 != worker.pid } ?? 0
            return child != 0
        }
        stub.write(
            script: """
                gpu 0 name="NVIDIA A100" uuid=GPU-a util=37 memutil=12 mem_total=\(40 * Self.gib) mem_used=\(3 * Self.gib) temp=61 power_mw=123456
                gpu 1 name="Tesla T4" uuid=GPU-b util=5 memutil=1 mem_total=\(16 * Self.gib) mem_used=\(Self.gib) temp=35 power_mw=NOT_SUPPORTED
                proc 0 compute \(worker.pid) \(Self.gib)
                proc 1 graphics \(child) \(512 << 20)
                proc 0 compute 999999 \(Self.gib)

                """
        )
        let batch = tick()
        let host = try #require(batch.components.first { $0.name == "host" })
        #expect(host.gpus.map(\.name) == ["NVIDIA A100", "Tesla T4"])
        let first = try #require(host.gpus.first)
        #expect(first.vendor == "nvidia" && first.index == 0 && first.uuid == "GPU-a")
        #expect(first.utilizationPercent == 37 && first.temperatureCelsius == 61 && first.powerWatts == 123.456)
        #expect(first.memoryUsedBytes == 3 * Self.gib && first.memoryTotalBytes == 40 * Self.gib)
        let second = try #require(host.gpus.last)
        #expect(!second.hasPowerWatts, "NOT_SUPPORTED is absent, not 0")
        #expect(second.hasTemperatureCelsius && second.temperatureCelsius == 35)
        #expect(host.gpuMemoryUsageKib == 4 * Self.gib / 1024)
        #expect(host.gpuMemoryUsageCentipercent == 714, "4 of 56 GiB")

        let workerSample = try #require(batch.components.first { $0.name == "worker" })
        let held = Self.gib + (512 << 20)
        #expect(workerSample.gpuMemoryUsageKib == held / 1024, "the shell's and its child's memory, not the stranger's")
        #expect(
            workerSample.gpuMemoryUsageCentipercent == UInt32((Double(held) / Double(56 * Self.gib) * 10_000).rounded())
        )
        let alert = try #require(batch.activeAlerts.first { $0.component == "worker" })
        #expect(alert.alertType == .highGpuMemoryUsage && alert.alertType.apiName == "high_gpu_memory_usage")
        #expect(alert.valueCenti == Int64(workerSample.gpuMemoryUsageCentipercent) && alert.thresholdCenti == 200)

        // The T4 is lost: it leaves the host's list, and with it the child's memory.
        stub.write(
            script: """
                gpu 0 name="NVIDIA A100" uuid=GPU-a util=37 memutil=12 mem_total=\(40 * Self.gib) mem_used=\(3 * Self.gib) temp=61 power_mw=123456
                gpu 1 lost
                proc 0 compute \(worker.pid) \(Self.gib)
                proc 1 graphics \(child) \(512 << 20)

                """
        )
        let lost = tick()
        #expect(lost.components.first { $0.name == "host" }?.gpus.map(\.name) == ["NVIDIA A100"])
        #expect(lost.components.first { $0.name == "worker" }?.gpuMemoryUsageKib == Self.gib / 1024)
    }

    @Test("without a GPU or NVML there are no GPU fields anywhere, and one info line says why")
    func noGPUNoFields() throws {
        var config = Config()
        config.host = true
        config.components = [ComponentConfig(name: "self", processName: "swiftpm-testing-helper")]
        let recorder = LogRecorder()
        let composer = TickComposer(
            config: config,
            agentID: "test",
            gpus: GPUReader(nvmlLibraryPath: "/nonexistent/libnvidia-ml.so.1", drmRoot: "/nonexistent"),
            logger: recorder.logger
        )
        var clock: Int64 = 1_000_000
        for _ in 0..<3 {
            clock += 1000
            let batch = composer.composeBatch(intervalSeconds: 1, nowUnixMilliseconds: clock)
            for sample in batch.components {
                #expect(!sample.hasGpuMemoryUsageKib && !sample.hasGpuMemoryUsageCentipercent && sample.gpus.isEmpty)
                #expect(!sample.seedResources.contains { $0.name.hasPrefix("gpu") })
            }
        }
        let lines = recorder.messages.withLock { $0 }
        #expect(lines == ["no NVIDIA GPU figures"], "\(lines)")
    }
}
