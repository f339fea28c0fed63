#if canImport(Glibc)
import Glibc
#endif

/// Reads NVIDIA GPUs through NVML and AMD GPUs through sysfs, together.
///
/// A host without either reads as an empty snapshot: the agent runs the same with or without
/// GPUs. NVML is loaded and initialised on the first read and stays loaded for the reader's life.
public final class GPUReader: Sendable {
    private let nvidia: NVMLGPUs
    private let amd: AMDSysfsGPUs

    /// A reader of the NVML library at `nvmlLibraryPath` (nil: `$RESOURCE_WATCHER_NVML_LIBRARY`,
    /// else "libnvidia-ml.so.1" from the loader's search path) and of the amdgpu cards under
    /// `drmRoot`.
    public init(nvmlLibraryPath: String? = nil, drmRoot: String = "/sys/class/drm") {
        let environmentPath = getenv(NVMLLibrary.pathEnvironmentVariable).map { String(cString: $0) }
        nvidia = NVMLGPUs(libraryPath: NVMLLibrary.path(configured: nvmlLibraryPath, environment: environmentPath))
        amd = AMDSysfsGPUs(root: drmRoot, reader: LiveProcReader())
    }

    /// Blocking; call from an I/O thread.
    public func read() -> GPUSnapshot {
        let nvidiaFigures = nvidia.read()
        return GPUSnapshot(gpus: nvidiaFigures.gpus + amd.read(), processMemoryBytes: nvidiaFigures.processMemoryBytes)
    }

    /// Why there are no NVIDIA figures, once known ("libnvidia-ml.so.1 not loaded: <dlerror>"),
    /// else nil. Known after the first read; an operator's info, not an error.
    public var nvmlUnavailableReason: String? { nvidia.unavailableReason }
}
