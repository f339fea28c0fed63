/// Checks that involve more than one field. Each runs only when the fields it compares decoded
/// cleanly, so one bad value is reported once, not again as a conflict.
extension Config {
    func validate(decoder: ConfigDecoder) {
        let clean = { (path: String) in isClean(decoder, path) }

        if clean("$.port"), clean("$.metrics_port"), port == metricsPort {
            decoder.report("$.metrics_port", "must differ from port (both are \(port))")
        }
        if clean("$.listen_address"), auth.isEmpty, !listensOnLoopbackOnly {
            decoder.report(
                "$.listen_address",
                "\(listenAddress) is not a loopback address and no auth tokens are configured; "
                    + "add auth.tokens or auth.operator_tokens, or listen on 127.0.0.1"
            )
        }
        if clean("$.spool.max_bytes"), clean("$.spool.segment_bytes"), spool.maxBytes < spool.segmentBytes {
            decoder.report(
                "$.spool.max_bytes",
                "must be at least segment_bytes (\(spool.segmentBytes)), got \(spool.maxBytes)"
            )
        }
        if clean("$.retry.min_backoff_ms"), clean("$.retry.max_backoff_ms"), retry.maxBackoffMs < retry.minBackoffMs {
            decoder.report(
                "$.retry.max_backoff_ms",
                "must be at least min_backoff_ms (\(retry.minBackoffMs)), got \(retry.maxBackoffMs)"
            )
        }
        let globalThresholdProblem = criticalThresholdProblem(alerts)
        if let globalThresholdProblem, clean("$.alerts") {
            decoder.report("$.alerts.critical_threshold_percent", globalThresholdProblem)
        }
        validateTokens(decoder: decoder)
        validateComponents(decoder: decoder, globalThresholdsValid: globalThresholdProblem == nil)
    }

    /// Critical must not be below a warning threshold, or the warning level could never show.
    private func criticalThresholdProblem(_ thresholds: AlertThresholds, subject: String = "") -> String? {
        let warnings = [
            ("cpu_threshold_percent", thresholds.cpuThresholdPercent),
            ("memory_threshold_percent", thresholds.memoryThresholdPercent),
            ("disk_threshold_percent", thresholds.diskThresholdPercent),
            ("gpu_memory_threshold_percent", thresholds.gpuMemoryThresholdPercent),
        ]
        guard let (key, value) = warnings.first(where: { $0.1 > thresholds.criticalThresholdPercent }) else {
            return nil
        }
        let critical = formatNumber(thresholds.criticalThresholdPercent)
        return "\(subject)must be at least every warning threshold, but \(key) is \(formatNumber(value)) "
            + "and critical_threshold_percent is \(critical)"
    }

    private func validateTokens(decoder: ConfigDecoder) {
        var seen: [String: String] = [:]
        let hashes =
            auth.tokens.enumerated().map { ($0.element.sha256, "$.auth.tokens[\($0.offset)].sha256") }
            + auth.operatorTokens.enumerated().map {
                ($0.element.sha256, "$.auth.operator_tokens[\($0.offset)].sha256")
            }
        for (hash, path) in hashes where !hash.isEmpty {
            if let first = seen[hash] {
                decoder.report(
                    path,
                    "the same token is already configured at \(first); a token must belong to one tenant"
                )
            } else {
                seen[hash] = path
            }
        }
    }

    private func validateComponents(decoder: ConfigDecoder, globalThresholdsValid: Bool) {
        var namePaths: [String: String] = [:]
        // Built one by one: port and metrics_port may be equal here (reported above).
        var listenPorts: [Int: String] = [metricsPort: "metrics_port"]
        listenPorts[port] = "port"
        for (index, component) in components.enumerated() {
            let path = "$.components[\(index)]"
            if !component.name.isEmpty {
                if let first = namePaths[component.name] {
                    decoder.report(
                        "\(path).name",
                        "duplicate component name \(quoted(component.name)) (also at \(first).name)"
                    )
                } else {
                    namePaths[component.name] = path
                }
                if host && component.name == Config.hostComponentName {
                    decoder.report(
                        "\(path).name",
                        "\(quoted(component.name)) is the name the host is reported under while host is true; "
                            + "rename the component or set host to false"
                    )
                }
            }
            if let proxy = component.proxy {
                let portPath = "\(path).proxy.listen_port"
                if let owner = listenPorts[proxy.listenPort] {
                    decoder.report(portPath, "port \(proxy.listenPort) is already used by \(owner)")
                } else {
                    listenPorts[proxy.listenPort] = "\(path).proxy.listen_port"
                }
                if Self.pointsAtItself(proxy, listenAddress: listenAddress) {
                    decoder.report(
                        "\(path).proxy.upstream",
                        "\(quoted(proxy.upstream)) is the proxy's own address; it must name the real server"
                    )
                }
                validateProxyAccess(proxy, path: "\(path).proxy", decoder: decoder)
                if component.ports.contains(proxy.listenPort) {
                    decoder.report(
                        portPath,
                        "port \(proxy.listenPort) is one of the component's own ports; "
                            + "the proxy needs a port of its own"
                    )
                }
            }
            if !component.customMetrics.isEmpty, component.metricsURL == nil, component.ports.isEmpty,
                isClean(decoder, "\(path).metrics_url")
            {
                decoder.report(
                    "\(path).custom_metrics",
                    "names series to keep from the component's metrics endpoint, but there is none: "
                        + "set metrics_url (or ports, whose /metrics is tried)"
                )
            }
            if globalThresholdsValid, !component.alerts.isEmpty,
                let problem = criticalThresholdProblem(
                    alertThresholds(for: component),
                    subject: "critical_threshold_percent "
                ),
                isClean(decoder, "\(path).alerts")
            {
                decoder.report("\(path).alerts", problem)
            }
        }
    }
}

extension Config {
    /// A proxy off loopback must ask for tokens (anyone who reaches the port would otherwise be
    /// metered as the tenant), and asking for tokens needs some to be configured.
    private func validateProxyAccess(_ proxy: ComponentConfig.Proxy, path: String, decoder: ConfigDecoder) {
        guard isClean(decoder, "\(path).require_token") else { return }
        if !proxy.requireToken, isClean(decoder, "$.listen_address"), !listensOnLoopbackOnly {
            decoder.report(
                "\(path).require_token",
                "must be true: the proxy listens on \(listenAddress), which is not a loopback address, "
                    + "and anyone who reaches it would be metered as this component's tenant"
            )
        }
        if proxy.requireToken, auth.isEmpty {
            decoder.report(
                "\(path).require_token",
                "is true but no token could pass: add auth.tokens (the component's client_id) or auth.operator_tokens"
            )
        }
    }

    /// Whether the proxy's upstream is the proxy itself (a loop): its port and a loopback or the
    /// listen address as host.
    static func pointsAtItself(_ proxy: ComponentConfig.Proxy, listenAddress: String) -> Bool {
        let lowered = proxy.upstream.lowercased()
        guard lowered.hasPrefix("http://") else { return false }
        let authority = lowered.dropFirst(7).prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        let hostAndPort = authority.split(separator: "@").last ?? authority
        guard let colon = hostAndPort.lastIndex(of: ":"), !hostAndPort.hasSuffix("]") else { return false }
        let host = hostAndPort[..<colon]
        guard Int(hostAndPort[hostAndPort.index(after: colon)...]) == proxy.listenPort else { return false }
        return ["localhost", "127.0.0.1", "[::1]", "0.0.0.0", listenAddress.lowercased()].contains(String(host))
    }
}

/// True when no problem was reported at `path` or below it.
private func isClean(_ decoder: ConfigDecoder, _ path: String) -> Bool {
    !decoder.problems.contains { $0.path == path || $0.path.hasPrefix(path + ".") || $0.path.hasPrefix(path + "[") }
}
