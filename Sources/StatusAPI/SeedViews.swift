import WatcherModel
public import WatcherProto

/// The JSON bodies of the seed's API reference, built from the spool's head. Field names are
/// the seed's exactly; units are DESIGN §3's (percent, MiB, KiB/s), converted from the batch's
/// exact integers by `seedResources`. Written straight to bytes: these are the hot path.
public enum SeedViews {
    /// `GET /metrics/components?client_id=`: the tenant's components in `batch` (none before the first tick).
    public static func components(in batch: ResourceWatcher_V1_Batch?, clientID: String) -> [UInt8] {
        var json = JSONWriter(reservingCapacity: 1024)
        json.beginObject()
        json.key("metrics")
        json.beginArray()
        for sample in batch?.components ?? [] where sample.clientID == clientID { json.seedComponent(sample) }
        json.endArray()
        json.member("timestamp", timestamp(of: batch))
        json.endObject()
        return json.bytes
    }

    /// `GET /metrics/models?client_id=`: the tenant's model usage totals.
    public static func models(
        _ models: [ResourceWatcher_V1_ModelUsage],
        clientID: String,
        nowUnixMilliseconds: Int64
    ) -> [UInt8] {
        var json = JSONWriter(reservingCapacity: 512)
        json.beginObject()
        json.key("models")
        json.beginArray()
        for model in models where model.clientID == clientID {
            json.beginObject()
            json.member("name", model.name)
            json.member("provider", model.provider)
            json.key("requests_count")
            json.number(model.requestsCount)
            json.key("tokens_input")
            json.number(model.tokensInput)
            json.key("tokens_output")
            json.number(model.tokensOutput)
            json.key("avg_latency_ms")
            let average = UsageLedger.averageLatencyMilliseconds(model)
            json.number(SeedUnits.rounded(average, places: 1))
            json.member("last_used", RFC3339.format(unixMilliseconds: model.lastUsedUnixMs))
            // Beyond the seed: requests whose tokens are unknown (not in the token totals), and
            // the averages the proxy and LLM servers give, present only when measured.
            json.key("requests_tokens_unknown")
            json.number(model.requestsTokensUnknown)
            if model.firstByteCount > 0 {
                json.key("avg_time_to_first_byte_ms")
                json.number(
                    SeedUnits.rounded(
                        Double(model.firstByteMicrosecondsSum) / Double(model.firstByteCount) / 1000,
                        places: 1
                    )
                )
            }
            if model.inferenceCount > 0 {
                json.key("avg_inference_ms")
                json.number(
                    SeedUnits.rounded(
                        Double(model.inferenceMicrosecondsSum) / Double(model.inferenceCount) / 1000,
                        places: 1
                    )
                )
            }
            json.endObject()
        }
        json.endArray()
        json.member("timestamp", RFC3339.format(unixMilliseconds: nowUnixMilliseconds))
        json.endObject()
        return json.bytes
    }

    /// `GET /alerts?client_id=`: the tenant's active alerts in `batch`.
    public static func alerts(in batch: ResourceWatcher_V1_Batch?, clientID: String) -> [UInt8] {
        var json = JSONWriter(reservingCapacity: 256)
        json.beginObject()
        json.key("alerts")
        json.beginArray()
        for alert in batch?.activeAlerts ?? [] where alert.clientID == clientID {
            json.seedAlert(alert, withMessage: true)
        }
        json.endArray()
        json.endObject()
        return json.bytes
    }

    private static func timestamp(of batch: ResourceWatcher_V1_Batch?) -> String {
        RFC3339.format(unixMilliseconds: batch?.timestampUnixMs ?? RFC3339.nowUnixMilliseconds())
    }
}
