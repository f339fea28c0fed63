import Synchronization

/// NVIDIA GPUs through NVML: the figures of each GPU that answers, and GPU memory per process.
///
/// The library is opened and `nvmlInit_v2` called once, on the first read; a library that
/// cannot be opened or initialised makes every read empty, with the reason kept for the caller
/// to log once (hosts without NVIDIA GPUs are normal). The device count is asked on every
/// read: a GPU whose handle cannot be had, or that answers GPU_IS_LOST, is left out of that
/// read and comes back when it answers again. Any other failure of a call costs only its figure.
final class NVMLGPUs: Sendable {
    private enum State {
        case notLoaded
        case ready(NVMLLibrary)
        case unavailable(reason: String)
    }

    /// What one read found.
    struct Reading {
        var gpus: [GPUFigures] = []
        /// Bytes per PID, summed over GPUs.
        var processMemoryBytes: [Int32: UInt64] = [:]
    }

    /// A device call answered GPU_IS_LOST: the GPU is left out of this read.
    private struct DeviceLost: Error {}

    let libraryPath: String
    /// Reads hold the lock for their whole length: one reader thread calls them, and NVML
    /// state (init, handles) is then only ever touched by one thread at a time.
    private let state = Mutex<State>(.notLoaded)

    init(libraryPath: String) {
        self.libraryPath = libraryPath
    }

    deinit {
        state.withLock { state in
            if case .ready(let library) = state { library.shutdown() }
        }
    }

    /// Why this host has no NVIDIA figures, once the first read found out; else nil.
    var unavailableReason: String? {
        state.withLock { state in
            if case .unavailable(let reason) = state { return reason }
            return nil
        }
    }

    /// Blocking: NVML calls can take milliseconds per GPU.
    func read() -> Reading {
        state.withLock { state -> Reading in
            guard let library = Self.loaded(&state, path: libraryPath) else { return Reading() }
            guard case .success(let count) = library.deviceCount() else { return Reading() }
            var reading = Reading()
            for index in 0..<count {
                guard case .success(let device) = library.device(at: index),
                    let gpu = try? Self.read(device, index: index, library: library)
                else { continue }
                reading.gpus.append(gpu.figures)
                for (pid, bytes) in gpu.processMemoryBytes {
                    reading.processMemoryBytes[pid] = Self.saturatingSum(reading.processMemoryBytes[pid] ?? 0, bytes)
                }
            }
            return reading
        }
    }

    private static func loaded(_ state: inout State, path: String) -> NVMLLibrary? {
        switch state {
        case .ready(let library):
            return library
        case .unavailable:
            return nil
        case .notLoaded:
            switch NVMLLibrary.open(path: path) {
            case .failure(let unavailable):
                state = .unavailable(reason: unavailable.reason)
                return nil
            case .success(let library):
                if case .failure(let code) = library.initializeLibrary() {
                    state = .unavailable(
                        reason: "\(path) loaded, but nvmlInit_v2 failed: \(library.describe(code)) (\(code.rawValue))"
                    )
                    return nil
                }
                state = .ready(library)
                return library
            }
        }
    }

    /// One GPU's figures and its processes' memory (a PID in both the compute and the graphics
    /// list counts once, with the larger figure: NVML lists a process doing both in both).
    private static func read(
        _ device: NVMLLibrary.Device,
        index: Int,
        library: NVMLLibrary
    ) throws(DeviceLost) -> (figures: GPUFigures, processMemoryBytes: [Int32: UInt64]) {
        var figures = GPUFigures(
            vendor: "nvidia",
            index: index,
            name: try answer(library.name(of: device)) ?? "NVIDIA GPU \(index)"
        )
        figures.uuid = try answer(library.uuid(of: device))
        figures.utilizationPercent = try answer(library.utilizationPercent(of: device)).map { Double($0) }
        let memory = try answer(library.memory(of: device))
        figures.memoryUsedBytes = memory?.used
        figures.memoryTotalBytes = memory?.total
        figures.temperatureCelsius = try answer(library.temperatureCelsius(of: device)).map { Double($0) }
        figures.powerWatts = try answer(library.powerMilliwatts(of: device)).map { Double($0) / 1000 }

        var processes: [Int32: UInt64] = [:]
        let compute = try answer(library.computeProcesses(of: device)) ?? []
        let graphics = try answer(library.graphicsProcesses(of: device)) ?? []
        for process in compute + graphics where process.bytes != NVMLLibrary.valueNotAvailable {
            let pid = Int32(bitPattern: process.pid)
            processes[pid] = max(processes[pid] ?? 0, process.bytes)
        }
        return (figures, processes)
    }

    /// A call's value; nil when it failed (NOT_SUPPORTED or any other error), except that a
    /// lost GPU throws to leave the whole GPU out.
    private static func answer<Value>(_ result: Result<Value, NVMLReturnCode>) throws(DeviceLost) -> Value? {
        switch result {
        case .success(let value): return value
        case .failure(.gpuIsLost): throw DeviceLost()
        case .failure: return nil
        }
    }

    private static func saturatingSum(_ left: UInt64, _ right: UInt64) -> UInt64 {
        let (sum, overflow) = left.addingReportingOverflow(right)
        return overflow ? .max : sum
    }
}
