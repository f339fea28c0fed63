import Foundation  // JSONSerialization: the stand-ins' and Prometheus' answers
import HTTPTransport
import TestSupport
import WatcherModel

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
        let missingLines = (1...max(1, linesWritten)).filter { !numbers.contains($0) }
        rows.append(
            Row(
                what: "Loki: tailed lines",
                figures:
                    "\(linesWritten) written, \(numbers.count) arrived, \(missingLines.count) missing\(missingLines.isEmpty ? "" : " (first \(missingLines.prefix(5)))"); \(pushed["duplicate_entries"] as? Int ?? -1) duplicate entries dropped by Loki",
                passed: missingLines.isEmpty
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
        for upWindow in upWindows {
            guard let to = upWindow.to else { continue }
            let from = upWindow.from
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
                    "\(samples.count) held, about \(expected) ticks while the agent was up; \(gaps) gaps over 3 intervals (about \(missing) ticks missing)",
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

        // What each sink counted as dropped (refused by the destination), for the record.
        let health = try await document("http://127.0.0.1:\(port)/health")
        for sink in health["sinks"] as? [[String: Any]] ?? [] {
            let dropped = sink["dropped_requests"] as? [String: Int] ?? [:]
            rows.append(
                Row(
                    what: "sink \(sink["name"] as? String ?? "?"): dropped requests",
                    figures: dropped.isEmpty
                        ? "none"
                        : dropped.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
                            .joined(separator: ", "),
                    // A resend after kill -9 may repeat what the destination holds: counted, not lost.
                    passed: dropped.keys.allSatisfy { ["out_of_order", "duplicate"].contains($0) }
                )
            )
        }

        print("")
        print(
            "soak: \(minutes) min, \(kills) kill -9 (\(killsWhileAlertActive) while component_down was active), \(faultBursts) fault bursts, 3 sink outages"
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
