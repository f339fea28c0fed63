/// Decodes one `components[i]` entry; checks across components are in `Config+Validation.swift`.
extension ComponentConfig {
    /// The keys that say how a component is found; at least one must be set.
    static let locatorKeys = ["container_name", "process_name", "cmdline", "pid_file", "ports"]

    static func decode(
        _ value: JSONValue,
        at path: String,
        defaultClientID: String,
        decoder: ConfigDecoder
    ) -> ComponentConfig {
        var reader = ObjectReader(value, at: path, decoder: decoder)
        var component = ComponentConfig(name: reader.requiredIdentifier("name") ?? "", clientID: defaultClientID)
        component.clientID = reader.optionalIdentifier("client_id") ?? defaultClientID
        component.containerName = reader.optionalString("container_name")
        component.processName = reader.optionalString("process_name")
        if let member = reader.present("cmdline"), let pattern = decoder.nonEmptyString(member.value, at: member.path) {
            do {
                _ = try Regex(pattern)
                component.cmdline = pattern
            } catch {
                decoder.report(member.path, "\(quoted(pattern)) is not a valid regular expression: \(error)")
            }
        }
        component.pidFile = reader.optionalString("pid_file")
        component.ports = reader.array("ports").compactMap { decoder.int($0.value, at: $0.path, in: 1...65535) }
        component.dataPaths = reader.stringArray("data_paths")
        component.logFiles = reader.stringArray("log_files")
        component.customMetrics = reader.array("custom_metrics").compactMap { element in
            guard let name = decoder.nonEmptyString(element.value, at: element.path) else { return nil }
            guard isMetricName(name) else {
                decoder.report(
                    element.path,
                    "\(quoted(name)) is not a Prometheus metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)"
                )
                return nil
            }
            guard !name.hasPrefix("resource_watcher_") else {
                decoder.report(
                    element.path,
                    "\(quoted(name)) is one of the agent's own metric names (resource_watcher_*)"
                )
                return nil
            }
            return name
        }
        component.metricsURL = reader.optionalURL("metrics_url")
        var alerts = reader.object("alerts")
        component.alerts = AlertThresholdOverrides.decode(&alerts)
        if reader.peek("proxy").map({ $0 != .null }) ?? false {
            var proxy = reader.object("proxy")
            component.proxy = Proxy.decode(&proxy)
        } else {
            _ = reader.member("proxy")
        }
        reader.finish()

        // Only when none of the locator keys was given at all: a mistyped one is already reported.
        let givesALocator = locatorKeys.contains { reader.peek($0).map { $0 != .null } ?? false }
        if !reader.isMistyped, !givesALocator {
            decoder.report(path, "has no way to be found: set at least one of \(locatorKeys.joined(separator: ", "))")
        }
        return component
    }
}

extension ComponentConfig.Proxy {
    static func decode(_ reader: inout ObjectReader) -> ComponentConfig.Proxy? {
        let listenPort = reader.required("listen_port").flatMap {
            reader.decoder.int($0.value, at: $0.path, in: 1...65535)
        }
        var upstream: String?
        if reader.peek("upstream").map({ $0 != .null }) ?? false {
            upstream = reader.optionalURL("upstream")
        } else {
            _ = reader.required("upstream")
        }
        let provider = reader.choice("provider", default: Provider.ollama)
        let requireToken = reader.bool("require_token", default: false)
        let maxBodyBytes = reader.int("max_body_bytes", default: defaultMaxBodyBytes, in: 1024...(1 << 34))
        reader.finish()
        guard let listenPort, let upstream else { return nil }
        return ComponentConfig.Proxy(
            listenPort: listenPort,
            upstream: upstream,
            provider: provider,
            requireToken: requireToken,
            maxBodyBytes: maxBodyBytes
        )
    }
}
