// `make bench`: release-build benchmarks of resource-watcher. Every figure is printed next to a
// baseline measured in the same run, so results compare across machines.
import Logging

#if canImport(Glibc)
import Glibc
#endif

var logger = Logger(label: "bench")
logger.logLevel = .error
let workDirectory = CommandLine.arguments.count > 1 ? CommandLine.arguments[1] : "/tmp/resource-watcher-bench"
mkdir(workDirectory, 0o755)
print("resource-watcher bench (work directory \(workDirectory))")
try SpoolBench(workDirectory: workDirectory, logger: logger).run()
try SamplerBench(workDirectory: workDirectory).run()
try await ShipperBench(workDirectory: workDirectory, logger: logger).run()
