import Foundation  // JSONSerialization: the stand-ins' and Prometheus' answers
import HTTPTransport
import Shipper
import Spool
import TestSupport
import WatcherModel

#if canImport(Glibc)
import Glibc
#endif

extension Soak {
    private struct Row {
        let what: String
        let figures: String
        let passed: Bool
    }

    private func document(_ url: String) async throws -> [String: Any] {
        let reply = try await http.send(HTTPRequest(url: url, timeout: .seconds(10)))
        guard reply.status == 200,
            let document = try JSONSerialization.jsonObject(with: Data(reply.body)) as? [String: Any]
        else { throw ChildProcess.Failure(description: "GET \(url): HTTP \(reply.status)") }
        return document
    }

    /// Whether `states` is firing, resolved, firing, resolved, ...
    private static func alternates(_ states: [String]) -> Bool {
        states.enumerated().allSatisfy { $0.element == ($0.offset.isMultiple(of: 2) ? "firing" : "resolved") }
    }

    /// Counts what arrived where, prints the table; true when every row passed.
    func account() async throws -> Bool {
        var rows: [Row] = []

        // Alert episodes at the orchestrator: one firing and one resolved per down period.
        let told = try await orchestrator.accepted()
        let orchestratorStates = (told["alerts"] as? [[String: Any]] ?? []).compactMap { body -> String? in
            let context = body["context"] as? [String: Any] ?? [:]
            guard context["component"] as? String == "flapper", context["alert_type"] as? String == "component_down"
            else { return nil }
            return context["state"] as? String
        }
        let mismatches = told["duplicate_mismatches"] as? Int ?? -1
        rows.append(
            Row(
                what: "orchestrator: component_down episodes",
                figures:
                    "\(downPeriods) down periods; \(orchestratorStates.filter { $0 == "firing" }.count) firing, \(orchestratorStates.filter { $0 == "resolved" }.count) resolved, in turn: \(Self.alternates(orchestratorStates)); \(told["duplicates"] as? Int ?? -1) duplicate keys dropped, \(mismatches) mismatched",
                passed: orchestratorStates.count == 2 * downPeriods && Self.alternates(orchestratorStates)
                    && mismatches == 0
            )
        )

        // The same episodes, and every tailed line, at Loki.
        let pushed = try await loki.accepted()
        func entries(of component: String) -> [(time: String, line: String)] {
            FixtureServer.lokiEntries(in: pushed, component: component)
        }
        let lokiStates = entries(of: "flapper").compactMap { entry -> String? in
            guard entry.line.hasPrefix(#"{"event":"alert""#),
                let event = try? JSONSerialization.jsonObject(with: Data(entry.line.utf8)) as? [String: Any],
                event["alert_type"] as? String == "component_down"
            else { return nil }
            return event["state"] as? String
        }
        rows.append(
            Row(
                what: "Loki: component_down episodes",
                figures:
                    "\(lokiStates.filter { $0 == "firing" }.count) firing, \(lokiStates.filter { $0 == "resolved" }.count) resolved, in turn: \(Self.alternates(lokiStates))",
                passed: lokiStates.count == 2 * downPeriods && Self.alternates(lokiStates)
            )
        )
        var numbers = Set<Int>()
        for entry in entries(of: "steady") where entry.line.hasPrefix("soak line ") {
            if let number = Int(entry.line.dropFirst("soak line ".count)) { numbers.insert(number) }
        }
        // Lines tailed while the spool's disk was full are in records the spool refused (counted
        // by the agent): missing from there on is counted loss, missing anywhere else is not.
        let fullLines = linesAroundFull.map { max(1, $0.lowerBound - 10)...$0.upperBound }
        let missingLines = (1...max(1, linesWritten)).filter { !numbers.contains($0) }
        let missingWhileFull = missingLines.filter { fullLines?.contains($0) ?? false }
        let missingElsewhere = missingLines.count - missingWhileFull.count
        rows.append(
            Row(
                what: "Loki: tailed lines",
                figures:
                    "\(linesWritten) written, \(numbers.count) arrived; \(missingWhileFull.count) missing, tailed while the spool's disk was full (lines \(fullLines.map { "\($0.lowerBound)-\($0.upperBound)" } ?? "-")); \(missingElsewhere) missing otherwise\(missingElsewhere == 0 ? "" : " (first \(missingLines.filter { !missingWhileFull.contains($0) }.prefix(5)))"); \(pushed["duplicate_entries"] as? Int ?? -1) duplicate entries dropped by Loki",
                passed: missingElsewhere == 0
            )
        )

        // Samples at Prometheus: within each up window of the agent, one per poll interval.
        let window = Int(minutes) + 10
        let times = try await prometheus.rawSampleTimes(
            #"resource_watcher_component_memory_usage{component="steady"}[\#(window)m]"#
        )
        let samples = (times.first?.value ?? []).sorted()
        var expected: Int64 = 0
        var missing: Int64 = 0
        var gaps = 0
        // The time the spool's disk was full (and a tick on either side) is accounted below.
        var windows: [(from: Int64, to: Int64)] = []
        for upWindow in upWindows {
            guard let to = upWindow.to else { continue }
            if let full = fullWindow, full.from < to, full.to > upWindow.from {
                windows.append((upWindow.from, full.from - pollIntervalMilliseconds))
                windows.append((full.to + 2 * pollIntervalMilliseconds, to))
            } else {
                windows.append((upWindow.from, to))
            }
        }
        for (from, to) in windows where to > from {
            let inside = samples.filter { $0 >= from && $0 <= to }
            expected += (to - from) / pollIntervalMilliseconds
            let edges = [from] + inside + [to]
            for (earlier, later) in zip(edges, edges.dropFirst()) where later - earlier > 3 * pollIntervalMilliseconds {
                gaps += 1
                missing += (later - earlier) / pollIntervalMilliseconds - 1
            }
        }
        rows.append(
            Row(
                what: "Prometheus: samples of one series",
                figures:
                    "\(samples.count) held, about \(expected) ticks while the agent was up and its disk had room; \(gaps) gaps over 3 intervals (about \(missing) ticks missing)",
                passed: gaps == 0
            )
        )

        // Usage events: every accepted one counted.
        let models = try await document("http://127.0.0.1:\(port)/metrics/models?client_id=soak")
        let counted =
            (models["models"] as? [[String: Any]] ?? []).first { $0["name"] as? String == "soak-model" }?[
                "requests_count"
            ] as? Int ?? 0
        rows.append(
            Row(
                what: "usage events",
                figures: "\(usagePosted) posted, \(usageAccepted) accepted (202), \(counted) counted",
                passed: counted == usageAccepted
            )
        )

        // The status API while the agent was up.
        let answered = probes > 0 ? Double(probesAnswered) / Double(probes) : 0
        rows.append(
            Row(
                what: "status API probes (1/s)",
                figures: "\(probesAnswered) of \(probes) answered (\(String(format: "%.1f", answered * 100))%)",
                passed: answered >= 0.99
            )
        )

        // The spool's disk full once: the agent refused appends, counted them and carried on.
        var agentCounted = countersOfEndedRuns
        let final = try await counters()
        agentCounted.add(final)
        if let full = fullWindow {
            let ticksWhileFull = max(0, (full.to - full.from) / pollIntervalMilliseconds)
            let heldWhileFull = samples.filter { $0 >= full.from && $0 <= full.to }.count
            rows.append(
                Row(
                    what: "spool disk full",
                    figures:
                        "\(String(format: "%.0f", Double(full.to - full.from) / 1000)) s full (\(ballastBytes / 1024) KiB ballast): \(appendsRefusedWhileFull.map(String.init) ?? "?") appends refused and counted; \(heldWhileFull) of about \(ticksWhileFull) ticks of that time at Prometheus; the agent appended again \(appendsRefusedWhileFull == nil ? "(never)" : "once there was room")",
                    // Each tick missing then is an append the agent refused and counted (a tick of slack
                    // for the window's edges).
                    passed: (appendsRefusedWhileFull ?? 0) > 0
                        && Int(ticksWhileFull) - heldWhileFull <= (appendsRefusedWhileFull ?? 0) + 1
                )
            )
        }

        // Record by record: each one the spool acknowledged, at each destination.
        let sampleRecords = decodedRecords(of: [.sample])
        let lokiRecords = decodedRecords(of: [.sample, .logs])
        let accounts = [
            RecordAccount.count(
                sink: "prometheus",
                itemName: "samples",
                batches: sampleRecords.batches,
                itemKeys: { Self.remoteWriteKeys(of: $1) },
                held: try await prometheusHeld()
            ),
            RecordAccount.count(
                sink: "loki",
                itemName: "lines",
                batches: lokiRecords.batches,
                itemKeys: { Self.lokiKeys(of: $1) },
                held: Self.lokiHeld(pushed)
            ),
            RecordAccount.count(
                sink: "orchestrator",
                itemName: "alert posts",
                batches: sampleRecords.batches,
                itemKeys: { OrchestratorSink.alertKeys(of: $1, sequence: $0) },
                held: Self.orchestratorHeld(told)
            ),
        ]
        for account in accounts {
            let dropped = agentCounted.droppedRequests[account.sink] ?? [:]
            let repeats = dropped.filter { AgentCounters.repeatReasons.contains($0.key) }
            let refused = dropped.filter { !AgentCounters.repeatReasons.contains($0.key) }
            let uncounted = account.uncounted(given: agentCounted)
            func list(_ reasons: [String: Int]) -> String {
                reasons.isEmpty
                    ? "none"
                    : reasons.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
            }
            rows.append(
                Row(
                    what: "records at \(account.sink)",
                    figures:
                        "\(account.records) acknowledged by the spool, \(account.recordsWithItems) with \(account.itemName) (\(account.items)): \(account.delivered) delivered whole, \(account.missingRecords.count) missing (\(account.missingItems) \(account.itemName))\(account.missingRecords.isEmpty ? "" : ", first \(account.missingRecords.prefix(5))"); counted loss: cut by the cap \(agentCounted.lostRecords[account.sink] ?? 0) records, refused requests: \(list(refused)); repeats refused: \(list(repeats)); uncounted \(uncounted)",
                    passed: uncounted == 0
                )
            )
        }

        // Nothing corrupt: every record decodes, no sequence given out twice or skipped, and the
        // spool verifies clean once the agent stopped.
        agent?.kill(SIGTERM)
        _ = agent?.process.wait()
        agent = nil
        let verified = try SpoolVerifier.verify(directory: spoolPath)
        let undecodable = lokiRecords.undecodable.count + decodedRecords(of: [.usage]).undecodable.count
        let unseen = watch.unseen
        rows.append(
            Row(
                what: "spool records",
                figures:
                    "\(watch.records.count) seen (sequences 1-\(watch.records.keys.max() ?? 0)), \(unseen.count) never seen\(unseen.isEmpty ? "" : " (first \(unseen.prefix(5)))"), \(undecodable) undecodable, \(watch.replaced.count) given out twice; at the end: \(verified.frameCount) frames, healthy: \(verified.isHealthy), \(verified.missingSequences) sequences missing between frames; \(runsWithoutCounters) runs whose counters were not read\(watch.failedScans.isEmpty ? "" : "; scans failed: \(watch.failedScans.prefix(2))")",
                passed: unseen.isEmpty && undecodable == 0 && watch.replaced.isEmpty && verified.isHealthy
                    && runsWithoutCounters == 0
            )
        )

        print("")
        print(
            "soak: \(minutes) min, \(kills) kill -9 (\(killsWhileAlertActive) while component_down was active), \(faultBursts) fault bursts (\(stalls) stalls past the timeout), 3 sink outages, the spool's disk full once"
        )
        let width = rows.map(\.what.count).max() ?? 0
        for row in rows {
            print(
                "  \(row.passed ? "ok  " : "FAIL") \(row.what.padding(toLength: width, withPad: " ", startingAt: 0))  \(row.figures)"
            )
        }
        let passed = rows.allSatisfy(\.passed)
        print("soak: \(passed ? "passed" : "FAILED")")
        return passed
    }
}
