/// What one wrk run measured.
struct WrkLoad {
    var requestsPerSecond: Double
    var p50Milliseconds: Double
    var p99Milliseconds: Double
    var non2xx: Int
}

/// Runs Debian's wrk (with `--latency`, and a Lua `script` for request methods and bodies) and
/// reads its requests/s, median and 99th percentile latency and non-2xx count.
func runWrk(
    _ url: String,
    threads: Int,
    connections: Int,
    duration: String,
    headers: [String] = [],
    script: String? = nil
) throws -> WrkLoad {
    let output = try captureOutput(
        "/usr/bin/wrk",
        ["-t\(threads)", "-c\(connections)", "-d\(duration)", "--latency"] + headers.flatMap { ["-H", $0] }
            + (script.map { ["-s", $0] } ?? []) + [url]
    )
    var load = WrkLoad(requestsPerSecond: 0, p50Milliseconds: .nan, p99Milliseconds: .nan, non2xx: 0)
    for line in output.split(separator: "\n") {
        let words = line.split(separator: " ", omittingEmptySubsequences: true)
        if words.first == "Requests/sec:", words.count > 1 { load.requestsPerSecond = Double(words[1]) ?? 0 }
        if words.first == "50%", words.count > 1 { load.p50Milliseconds = wrkMilliseconds(String(words[1])) }
        if words.first == "99%", words.count > 1 { load.p99Milliseconds = wrkMilliseconds(String(words[1])) }
        if line.contains("Non-2xx or 3xx responses:"), let count = words.last.flatMap({ Int($0) }) {
            load.non2xx = count
        }
    }
    guard load.requestsPerSecond > 0, load.p99Milliseconds.isFinite else {
        throw BenchFailure("cannot read wrk's output:\n\(output)")
    }
    return load
}

/// wrk's "1.23ms", "456.00us", "1.02s" in milliseconds.
func wrkMilliseconds(_ text: String) -> Double {
    if text.hasSuffix("us") { return (Double(text.dropLast(2)) ?? .nan) / 1000 }
    if text.hasSuffix("ms") { return Double(text.dropLast(2)) ?? .nan }
    if text.hasSuffix("s") { return (Double(text.dropLast(1)) ?? .nan) * 1000 }
    return .nan
}
