public import WatcherProto

extension JSONWriter {
    /// A component in the seed's shape (`component`, `resources`, `status`), with its
    /// `client_id` first when `withClientID` (reports that span tenants).
    public mutating func seedComponent(_ sample: ResourceWatcher_V1_ComponentSample, withClientID: Bool = false) {
        beginObject()
        if withClientID { member("client_id", sample.clientID) }
        member("component", sample.name)
        key("resources")
        seedResources(of: sample)
        member("status", sample.status.apiName)
        if !sample.statusReason.isEmpty { member("status_reason", sample.statusReason) }
        if sample.discovered {
            key("discovered")
            bool(true)
            if !sample.discoveredOwner.isEmpty { member("discovered_owner", sample.discoveredOwner) }
        }
        if !sample.gpus.isEmpty {
            // The host's GPUs; a figure the driver does not report is absent.
            key("gpus")
            beginArray()
            for gpu in sample.gpus {
                beginObject()
                member("vendor", gpu.vendor)
                key("index")
                number(Double(gpu.index))
                member("name", gpu.name)
                if !gpu.uuid.isEmpty { member("uuid", gpu.uuid) }
                if gpu.hasUtilizationPercent {
                    key("utilization_percent")
                    number(gpu.utilizationPercent)
                }
                if gpu.hasMemoryUsedBytes {
                    key("memory_used_mib")
                    number(SeedUnits.rounded(Double(gpu.memoryUsedBytes) / 1_048_576, places: 1))
                }
                if gpu.hasMemoryTotalBytes {
                    key("memory_total_mib")
                    number(SeedUnits.rounded(Double(gpu.memoryTotalBytes) / 1_048_576, places: 1))
                }
                if gpu.hasTemperatureCelsius {
                    key("temperature_celsius")
                    number(gpu.temperatureCelsius)
                }
                if gpu.hasPowerWatts {
                    key("power_watts")
                    number(gpu.powerWatts)
                }
                endObject()
            }
            endArray()
        }
        if !sample.loadedModels.isEmpty {
            // Ollama's /api/ps: what each loaded model holds, in MiB like memory_usage.
            key("loaded_models")
            beginArray()
            for loaded in sample.loadedModels {
                beginObject()
                member("name", loaded.name)
                key("size_mib")
                number(SeedUnits.rounded(Double(loaded.sizeBytes) / 1_048_576, places: 1))
                key("vram_mib")
                number(SeedUnits.rounded(Double(loaded.sizeVramBytes) / 1_048_576, places: 1))
                if loaded.expiresUnixMs > 0 {
                    member("expires_at", RFC3339.format(unixMilliseconds: loaded.expiresUnixMs))
                }
                endObject()
            }
            endArray()
        }
        if !sample.customMetrics.isEmpty {
            key("custom_metrics")
            beginArray()
            for kept in sample.customMetrics {
                beginObject()
                member("name", kept.name)
                key("labels")
                beginObject()
                for (name, value) in kept.labels.sorted(by: { $0.key < $1.key }) { member(name, value) }
                endObject()
                key("value")
                number(kept.value)
                endObject()
            }
            endArray()
        }
        endObject()
    }

    /// The seed's `resources` object of a component, in DESIGN §3 units.
    public mutating func seedResources(of sample: ResourceWatcher_V1_ComponentSample) {
        beginObject()
        for (name, value) in sample.seedResources {
            key(name)
            number(value)
        }
        endObject()
    }

    /// An active alert in the seed's shape (`component`, `alert_type`, `value`, `threshold`,
    /// `timestamp`, `severity`), plus `client_id` first and `message` last when asked.
    public mutating func seedAlert(
        _ alert: ResourceWatcher_V1_Alert,
        withClientID: Bool = false,
        withMessage: Bool = false
    ) {
        beginObject()
        if withClientID { member("client_id", alert.clientID) }
        member("component", alert.component)
        member("alert_type", alert.alertType.apiName)
        key("value")
        number(Double(alert.valueCenti) / 100)
        key("threshold")
        number(Double(alert.thresholdCenti) / 100)
        member("timestamp", RFC3339.format(unixMilliseconds: alert.sinceUnixMs))
        member("severity", alert.severity.apiName)
        if withMessage { member("message", alert.message) }
        endObject()
    }
}
