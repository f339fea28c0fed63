// `make soak`: the built agent for SOAK_MINUTES (default 10) against a real Prometheus and the
// strict Loki and orchestrator stand-ins (Tests/Fixtures), with sink faults (stalls past the
// timeout among them), outages, the spool's disk full once (a tmpfs: needs root) and `kill -9`
// restarts while alerts are active; then an accounting of what arrived, record by record. Exit 0
// only when nothing is missing uncounted and every alert episode was told once.
import Foundation  // JSONSerialization: the stand-ins' and Prometheus' answers
import HTTPTransport
import TestSupport
import WatcherModel

#if canImport(Glibc)
import Glibc
#endif

let environment = ProcessInfo.processInfo.environment
let minutes = Double(environment["SOAK_MINUTES"] ?? "") ?? 10
let killEvery = (
    Double(environment["SOAK_KILL_MIN_SECONDS"] ?? "") ?? 60, Double(environment["SOAK_KILL_MAX_SECONDS"] ?? "") ?? 120
)
let outageSeconds = Double(environment["SOAK_OUTAGE_SECONDS"] ?? "") ?? min(60, minutes * 60 / 8)
let fullSeconds = Double(environment["SOAK_FULL_SECONDS"] ?? "") ?? min(20, minutes * 60 / 30)
do {
    let soak = try await Soak(
        minutes: minutes,
        killEvery: killEvery,
        outageSeconds: outageSeconds,
        fullSeconds: fullSeconds
    )
    let passed = try await soak.run()
    exit(passed ? 0 : 1)
} catch {
    print("soak: \(error)")
    exit(2)
}
