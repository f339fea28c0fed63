import Testing
import WatcherModel

/// `limits`: the bounds on what scrapes and `/api/ps` may bring.
@Suite struct InputLimitsConfigTests {
    private func problems(in text: String) -> [ConfigProblem] {
        do {
            _ = try ConfigLoader.parse(json: Array(text.utf8), source: "test.json")
            return []
        } catch {
            return error.problems
        }
    }

    @Test("the limits default to 4 MiB bodies, 100,000 samples, 256 series of 16 labels and 64 loaded models")
    func defaults() throws {
        let limits = try ConfigLoader.parse(json: Array("{}".utf8), source: "test.json").limits
        #expect(limits == InputLimitsConfig())
        #expect(limits.scrapeBodyBytes == 4 << 20)
        #expect(limits.scrapeSamples == 100_000)
        #expect(limits.customMetricSeries == 256)
        #expect(limits.customMetricLabels == 16)
        #expect(limits.loadedModels == 64)
    }

    @Test("every limits key is read, and a value out of range or an unknown key is a problem at its path")
    func keysAreReadAndChecked() throws {
        let text = """
            {"limits": {"scrape_body_bytes": 65536, "scrape_samples": 500, "custom_metric_series": 3,
                        "custom_metric_labels": 2, "loaded_models": 5}}
            """
        let limits = try ConfigLoader.parse(json: Array(text.utf8), source: "test.json").limits
        #expect(
            limits
                == InputLimitsConfig(
                    scrapeBodyBytes: 65536,
                    scrapeSamples: 500,
                    customMetricSeries: 3,
                    customMetricLabels: 2,
                    loadedModels: 5
                )
        )
        let found = problems(in: #"{"limits": {"scrape_body_bytes": 10, "loaded_model": 3}}"#).map(\.path)
        #expect(found.contains("$.limits.scrape_body_bytes"))
        #expect(found.contains("$.limits.loaded_model"))
    }
}
