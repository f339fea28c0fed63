// `make bench`: release-build benchmarks of resource-watcher. Every figure is printed next to a
// baseline measured in the same run, so results compare across machines.
import Logging

#if canImport(Glibc)
import Glibc
#endif

var logger = Logger(label: "bench")
logger.logLevel = .error
// usage: resource-watcher-bench [WORK_DIRECTORY] [spool|sampler|shipper|status|proxy|compare ...] (default: all but compare)
// PROXY_BENCH_SERVE=SECONDS: the proxy bench serves its upstream and proxy that long before it
// measures (to profile them by hand).
let arguments = Array(CommandLine.arguments.dropFirst())
let workDirectory = arguments.first ?? "/tmp/resource-watcher-bench"
let selected = Set(arguments.dropFirst())
func wanted(_ name: String) -> Bool { selected.isEmpty || selected.contains(name) }
mkdir(workDirectory, 0o755)
print("resource-watcher bench (work directory \(workDirectory))")
do {
    if wanted("spool") { try SpoolBench(workDirectory: workDirectory, logger: logger).run() }
    if wanted("sampler") { try SamplerBench(workDirectory: workDirectory).run() }
    if wanted("shipper") { try await ShipperBench(workDirectory: workDirectory, logger: logger).run() }
    if wanted("status") { try await StatusBench(workDirectory: workDirectory, logger: logger).run() }
    if wanted("proxy") { try await ProxyBench(workDirectory: workDirectory, logger: logger).run() }
    // Not part of the default run (about 20 minutes): `make bench-compare`.
    if selected.contains("compare") { try await CompareBench(workDirectory: workDirectory, logger: logger).run() }
} catch {
    // A missing tool or a failed step: say which, without a crash report.
    print("resource-watcher-bench: \(error)")
    exit(2)
}
