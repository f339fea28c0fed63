/// AMD GPUs through the amdgpu driver's sysfs files, per `<root>/cardN/device/`:
///
///     gpu_busy_percent            busy percentage, 0–100
///     mem_info_vram_used          VRAM in use, bytes
///     mem_info_vram_total         VRAM installed, bytes (a card without it is not amdgpu's)
///     product_name                the marketing name (not on every board)
///     hwmon/hwmon*/temp1_input    edge temperature, millidegrees Celsius
///     hwmon/hwmon*/power1_average power draw, microwatts (power1_input on newer kernels)
///
/// Connector entries (`card0-DP-1`) and render nodes are skipped. A file that is missing or does
/// not parse leaves its figure nil. sysfs has no per-process figures (those would take reading
/// every DRM client's `/proc/<pid>/fdinfo`), so AMD GPUs add nothing to a snapshot's
/// `processMemoryBytes`.
struct AMDSysfsGPUs: Sendable {
    /// The DRM class directory, `/sys/class/drm` on a live host.
    let root: String
    let reader: any ProcReader

    /// Blocking: a handful of small sysfs reads per card.
    func read() -> [GPUFigures] {
        let cards = reader.entries(of: root).compactMap { name in Self.cardIndex(name).map { (name, $0) } }
        return cards.sorted { $0.1 < $1.1 }.compactMap { name, index in card(name, index: index) }
    }

    /// N for "cardN"; nil for connectors ("card0-DP-1"), render nodes and anything else.
    static func cardIndex(_ name: String) -> Int? {
        guard name.hasPrefix("card") else { return nil }
        let digits = name.dropFirst(4)
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return Int(digits)
    }

    private func card(_ name: String, index: Int) -> GPUFigures? {
        let device = "\(root)/\(name)/device"
        guard let total = number(at: "\(device)/mem_info_vram_total") else { return nil }
        var figures = GPUFigures(vendor: "amd", index: index, name: productName(device) ?? "AMD GPU card\(index)")
        figures.memoryTotalBytes = total
        figures.memoryUsedBytes = number(at: "\(device)/mem_info_vram_used")
        figures.utilizationPercent = number(at: "\(device)/gpu_busy_percent").map { Double($0) }
        if let hwmon = hardwareMonitor(device) {
            figures.temperatureCelsius = number(at: "\(hwmon)/temp1_input").map { Double($0) / 1000 }
            let microwatts = number(at: "\(hwmon)/power1_average") ?? number(at: "\(hwmon)/power1_input")
            figures.powerWatts = microwatts.map { Double($0) / 1_000_000 }
        }
        return figures
    }

    private func productName(_ device: String) -> String? {
        guard let bytes = reader.contents(of: "\(device)/product_name") else { return nil }
        let name = String(decoding: bytes, as: UTF8.self).trimmingWhitespace
        return name.isEmpty ? nil : name
    }

    /// The card's first `hwmon*` directory; amdgpu registers one per card.
    private func hardwareMonitor(_ device: String) -> String? {
        let names = reader.entries(of: "\(device)/hwmon").filter { $0.hasPrefix("hwmon") }
        return names.sorted().first.map { "\(device)/hwmon/\($0)" }
    }

    /// A sysfs attribute holding one unsigned number, the same format as a cgroup's.
    private func number(at path: String) -> UInt64? {
        CgroupFileFormat.number(reader.contents(of: path))
    }
}
