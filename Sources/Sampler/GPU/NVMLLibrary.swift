#if canImport(Glibc)
import Glibc
#endif

/// libnvidia-ml opened with `dlopen`, and the entry points the GPU reader calls, found with
/// `dlsym` and cast to NVML's documented C signatures (nvml.h). No C target: the agent builds
/// and starts on hosts without NVIDIA's headers or driver.
///
/// Structures cross as raw memory laid out as nvml.h declares them on LP64 (Swift structs
/// cannot appear in `@convention(c)` types):
///
///     nvmlUtilization_t   0 gpu:UInt32  4 memory:UInt32                                 8
///     nvmlMemory_t        0 total:UInt64  8 free:UInt64  16 used:UInt64                 24
///     nvmlProcessInfo_t   0 pid:UInt32  4 (padding)  8 usedGpuMemory:UInt64
///                        16 gpuInstanceId:UInt32  20 computeInstanceId:UInt32            24
///
/// `nvmlProcessInfo_t` is the four-field (v2) layout the `_v3` process queries fill.
struct NVMLLibrary {
    /// An `nvmlDevice_t`: an opaque handle, valid until `nvmlShutdown`.
    typealias Device = UnsafeMutableRawPointer

    /// The library name used when neither the configuration nor the environment names one.
    static let defaultPath = "libnvidia-ml.so.1"
    /// Names another NVML library (a stub in tests, a driver outside the loader's path).
    static let pathEnvironmentVariable = "RESOURCE_WATCHER_NVML_LIBRARY"
    /// `NVML_VALUE_NOT_AVAILABLE`, in a process's `usedGpuMemory`.
    static let valueNotAvailable = UInt64.max
    /// `NVML_TEMPERATURE_GPU`: the core sensor.
    static let temperatureSensorGPU: UInt32 = 0
    /// Room for `NVML_DEVICE_NAME_V2_BUFFER_SIZE` and `NVML_DEVICE_UUID_V2_BUFFER_SIZE` (96).
    static let textBufferSize = 96

    private typealias NoArguments = @convention(c) () -> Int32
    private typealias Count = @convention(c) (UnsafeMutablePointer<UInt32>?) -> Int32
    private typealias HandleByIndex = @convention(c) (UInt32, UnsafeMutablePointer<Device?>?) -> Int32
    private typealias Text = @convention(c) (Device?, UnsafeMutablePointer<CChar>?, UInt32) -> Int32
    private typealias Words = @convention(c) (Device?, UnsafeMutablePointer<UInt32>?) -> Int32
    private typealias Quadwords = @convention(c) (Device?, UnsafeMutablePointer<UInt64>?) -> Int32
    private typealias Temperature = @convention(c) (Device?, UInt32, UnsafeMutablePointer<UInt32>?) -> Int32
    private typealias Processes =
        @convention(c) (Device?, UnsafeMutablePointer<UInt32>?, UnsafeMutableRawPointer?) ->
        Int32
    private typealias ErrorText = @convention(c) (Int32) -> UnsafePointer<CChar>?

    /// Bytes per `nvmlProcessInfo_t`, and its fields' offsets (see the drawing above).
    private static let processInfoStride = 24
    private static let processInfoMemoryOffset = 8
    /// Processes read per GPU and list at most, whatever count the library asks room for.
    static let maximumProcessesPerGPU = 4096

    let path: String
    private let handle: UnsafeMutableRawPointer
    private let initialize: NoArguments
    private let shutdownLibrary: NoArguments
    private let getCount: Count
    private let getHandleByIndex: HandleByIndex
    private let getErrorString: ErrorText
    // Entry points a driver may lack: their figures are then absent.
    private let getName: Text?
    private let getUUID: Text?
    private let getUtilizationRates: Words?
    private let getMemoryInfo: Quadwords?
    private let getTemperature: Temperature?
    private let getPowerUsage: Words?
    private let getComputeProcesses: Processes?
    private let getGraphicsProcesses: Processes?

    /// Why the library cannot be used; the GPU reader reports it once as information.
    struct Unavailable: Error {
        let reason: String
    }

    /// The configured path, else the environment's (when not empty), else the default name.
    static func path(configured: String?, environment: String?) -> String {
        if let configured { return configured }
        if let environment, !environment.isEmpty { return environment }
        return defaultPath
    }

    /// Opens the library and finds its entry points; does not initialise NVML.
    static func open(path: String) -> Result<NVMLLibrary, Unavailable> {
        guard let handle = dlopen(path, RTLD_NOW | RTLD_LOCAL) else {
            let detail = dlerror().map { String(cString: $0) } ?? "unknown dlopen error"
            return .failure(Unavailable(reason: "\(path) not loaded: \(detail)"))
        }
        func symbol<Function>(_ name: String, as type: Function.Type) -> Function? {
            dlsym(handle, name).map { unsafeBitCast($0, to: type) }
        }
        guard let initialize = symbol("nvmlInit_v2", as: NoArguments.self),
            let shutdown = symbol("nvmlShutdown", as: NoArguments.self),
            let getCount = symbol("nvmlDeviceGetCount_v2", as: Count.self),
            let getHandleByIndex = symbol("nvmlDeviceGetHandleByIndex_v2", as: HandleByIndex.self),
            let getErrorString = symbol("nvmlErrorString", as: ErrorText.self)
        else {
            dlclose(handle)
            return .failure(Unavailable(reason: "\(path) lacks NVML's v2 entry points (nvmlInit_v2 and others)"))
        }
        return .success(
            NVMLLibrary(
                path: path,
                handle: handle,
                initialize: initialize,
                shutdownLibrary: shutdown,
                getCount: getCount,
                getHandleByIndex: getHandleByIndex,
                getErrorString: getErrorString,
                getName: symbol("nvmlDeviceGetName", as: Text.self),
                getUUID: symbol("nvmlDeviceGetUUID", as: Text.self),
                getUtilizationRates: symbol("nvmlDeviceGetUtilizationRates", as: Words.self),
                getMemoryInfo: symbol("nvmlDeviceGetMemoryInfo", as: Quadwords.self),
                getTemperature: symbol("nvmlDeviceGetTemperature", as: Temperature.self),
                getPowerUsage: symbol("nvmlDeviceGetPowerUsage", as: Words.self),
                getComputeProcesses: symbol("nvmlDeviceGetComputeRunningProcesses_v3", as: Processes.self),
                getGraphicsProcesses: symbol("nvmlDeviceGetGraphicsRunningProcesses_v3", as: Processes.self)
            )
        )
    }

    /// `nvmlInit_v2`.
    func initializeLibrary() -> Result<Void, NVMLReturnCode> { Self.result(initialize(), ()) }

    /// `nvmlShutdown`. The library itself stays mapped: unloading a driver library that may
    /// have started threads is not safe.
    func shutdown() { _ = shutdownLibrary() }

    /// `nvmlErrorString`: NVML's words for a return code.
    func describe(_ code: NVMLReturnCode) -> String {
        getErrorString(code.rawValue).map { String(cString: $0) } ?? "error \(code.rawValue)"
    }

    /// `nvmlDeviceGetCount_v2`: how many GPUs NVML sees now (including ones it cannot access).
    func deviceCount() -> Result<Int, NVMLReturnCode> {
        var count: UInt32 = 0
        return Self.result(getCount(&count), Int(count))
    }

    /// `nvmlDeviceGetHandleByIndex_v2`.
    func device(at index: Int) -> Result<Device, NVMLReturnCode> {
        var device: Device?
        let code = getHandleByIndex(UInt32(index), &device)
        guard let device else { return .failure(code == 0 ? .notFound : NVMLReturnCode(rawValue: code)) }
        return Self.result(code, device)
    }

    /// `nvmlDeviceGetName`.
    func name(of device: Device) -> Result<String, NVMLReturnCode> { text(getName, device) }

    /// `nvmlDeviceGetUUID`.
    func uuid(of device: Device) -> Result<String, NVMLReturnCode> { text(getUUID, device) }

    /// `nvmlDeviceGetUtilizationRates`: the GPU's busy percentage (`nvmlUtilization_t.gpu`).
    func utilizationPercent(of device: Device) -> Result<UInt32, NVMLReturnCode> {
        guard let getUtilizationRates else { return .failure(.functionNotFound) }
        return withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 2) { rates in
            rates.initialize(repeating: 0)
            return Self.result(getUtilizationRates(device, rates.baseAddress), rates[0])
        }
    }

    /// `nvmlDeviceGetMemoryInfo`: bytes used and installed.
    func memory(of device: Device) -> Result<(used: UInt64, total: UInt64), NVMLReturnCode> {
        guard let getMemoryInfo else { return .failure(.functionNotFound) }
        return withUnsafeTemporaryAllocation(of: UInt64.self, capacity: 3) { memory in
            memory.initialize(repeating: 0)
            return Self.result(getMemoryInfo(device, memory.baseAddress), (used: memory[2], total: memory[0]))
        }
    }

    /// `nvmlDeviceGetTemperature` of the core sensor, in degrees Celsius.
    func temperatureCelsius(of device: Device) -> Result<UInt32, NVMLReturnCode> {
        guard let getTemperature else { return .failure(.functionNotFound) }
        var celsius: UInt32 = 0
        return Self.result(getTemperature(device, Self.temperatureSensorGPU, &celsius), celsius)
    }

    /// `nvmlDeviceGetPowerUsage`, in milliwatts.
    func powerMilliwatts(of device: Device) -> Result<UInt32, NVMLReturnCode> {
        guard let getPowerUsage else { return .failure(.functionNotFound) }
        var milliwatts: UInt32 = 0
        return Self.result(getPowerUsage(device, &milliwatts), milliwatts)
    }

    /// `nvmlDeviceGetComputeRunningProcesses_v3`: (pid, usedGpuMemory) per process.
    func computeProcesses(of device: Device) -> Result<[(pid: UInt32, bytes: UInt64)], NVMLReturnCode> {
        processes(getComputeProcesses, device)
    }

    /// `nvmlDeviceGetGraphicsRunningProcesses_v3`: (pid, usedGpuMemory) per process.
    func graphicsProcesses(of device: Device) -> Result<[(pid: UInt32, bytes: UInt64)], NVMLReturnCode> {
        processes(getGraphicsProcesses, device)
    }

    /// Asks with no room first: NVML answers INSUFFICIENT_SIZE with the number needed. Then asks
    /// with a few more entries than that, as processes may start between the two calls; asks
    /// again (three times at most) if even that was too few.
    private func processes(
        _ function: Processes?,
        _ device: Device
    ) -> Result<[(pid: UInt32, bytes: UInt64)], NVMLReturnCode> {
        guard let function else { return .failure(.functionNotFound) }
        var needed: UInt32 = 0
        var code = function(device, &needed, nil)
        for _ in 0..<3 {
            guard code == NVMLReturnCode.insufficientSize.rawValue else { break }
            // What the library says it needs is outside input: a GPU runs far fewer processes.
            let capacity = min(Int(needed), Self.maximumProcessesPerGPU) + 8
            let buffer = UnsafeMutableRawPointer.allocate(
                byteCount: capacity * Self.processInfoStride,
                alignment: MemoryLayout<UInt64>.alignment
            )
            defer { buffer.deallocate() }
            var count = UInt32(clamping: capacity)
            code = function(device, &count, buffer)
            if code == NVMLReturnCode.insufficientSize.rawValue {
                needed = max(count, needed)
                continue
            }
            guard code == 0 else { break }
            let entries = (0..<min(Int(count), capacity)).map { entry in
                let start = entry * Self.processInfoStride
                return (
                    pid: buffer.load(fromByteOffset: start, as: UInt32.self),
                    bytes: buffer.load(fromByteOffset: start + Self.processInfoMemoryOffset, as: UInt64.self)
                )
            }
            return .success(entries)
        }
        // Success on the first call means no processes (nothing to fill).
        return code == 0 ? .success([]) : .failure(NVMLReturnCode(rawValue: code))
    }

    private func text(_ function: Text?, _ device: Device) -> Result<String, NVMLReturnCode> {
        guard let function else { return .failure(.functionNotFound) }
        return withUnsafeTemporaryAllocation(of: CChar.self, capacity: Self.textBufferSize) { buffer in
            buffer.initialize(repeating: 0)
            let code = function(device, buffer.baseAddress, UInt32(buffer.count))
            buffer[buffer.count - 1] = 0
            return Self.result(code, String(cString: buffer.baseAddress!))
        }
    }

    private static func result<Value>(_ code: Int32, _ value: Value) -> Result<Value, NVMLReturnCode> {
        code == 0 ? .success(value) : .failure(NVMLReturnCode(rawValue: code))
    }
}
