/// Polls `condition` every 50 ms until it holds; throws a failure naming `what` (and
/// `context`, evaluated then) when `timeout` passes first. For waiting on another process.
public func pollUntil(
    _ what: String,
    timeout: Duration = .seconds(20),
    context: @autoclosure () -> String = "",
    _ condition: () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(50))  // the next poll, not a synchronisation
    }
    let detail = context()
    throw ChildProcess.Failure(description: "timed out waiting for \(what)" + (detail.isEmpty ? "" : ": \(detail)"))
}
