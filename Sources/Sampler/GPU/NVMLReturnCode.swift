/// An `nvmlReturn_t` other than success, as NVML's entry points return it (nvml.h).
struct NVMLReturnCode: Error, Equatable, Sendable {
    let rawValue: Int32

    static let success = NVMLReturnCode(rawValue: 0)
    static let notSupported = NVMLReturnCode(rawValue: 3)
    static let notFound = NVMLReturnCode(rawValue: 6)
    static let insufficientSize = NVMLReturnCode(rawValue: 7)
    static let functionNotFound = NVMLReturnCode(rawValue: 13)
    static let gpuIsLost = NVMLReturnCode(rawValue: 15)
}
