import Testing

@testable import ModelUsage

/// The agent started at 2024-07-03 09:46:40 UTC; the fixtures' vLLM started 5 s before.
private let agentStart = 1_720_000_010.0
private let model = ServerFixtures.llamaModel

/// Usage deltas from successive scrapes of each server kind.
@Suite struct LLMServerCountersTests {
    private func counters() -> LLMServerCounters {
        LLMServerCounters(agentStartUnixSeconds: agentStart, defaultModel: "local-model")
    }

    private func engine(
        _ index: String,
        prompt: Double,
        generation: Double,
        stop: Double,
        length: Double,
        abort: Double = 0,
        latency: Double
    ) -> ServerFixtures.VLLMEngine {
        .init(
            index: index,
            promptTokens: prompt,
            generationTokens: generation,
            finishedStop: stop,
            finishedLength: length,
            finishedAbort: abort,
            latencySecondsSum: latency
        )
    }

    @Test func vllmDeltasSumEnginesAndFinishReasonsPerModel() {
        var counters = counters()
        let first = parsePrometheus(
            ServerFixtures.vllm(engines: [
                engine("0", prompt: 10234, generation: 5120, stop: 40, length: 2, latency: 61.5),
                engine("1", prompt: 9000, generation: 4000, stop: 30, length: 1, latency: 50.25),
            ])
        )
        #expect(first.problems.isEmpty)
        #expect(counters.deltas(from: first) == [])
        #expect(counters.recognised == "vllm")

        let second = parsePrometheus(
            ServerFixtures.vllm(engines: [
                engine("0", prompt: 11234, generation: 5620, stop: 45, length: 3, abort: 1, latency: 70.0),
                engine("1", prompt: 9500, generation: 4300, stop: 33, length: 1, latency: 55.5),
            ])
        )
        #expect(
            counters.deltas(from: second) == [
                ModelUsageDelta(
                    model: model,
                    provider: "vllm",
                    requests: 10,
                    tokensInput: 1500,
                    tokensOutput: 800,
                    latencySecondsSum: 13.75,
                    latencyCount: 10
                )
            ]
        )
    }

    @Test func vllmSeriesOfSeveralModelsAreReportedSeparately() {
        var counters = counters()
        func scrape(_ promptA: Double, _ promptB: Double) -> ExpositionDocument {
            parsePrometheus(
                ServerFixtures.vllm(
                    model: "model-a",
                    engines: [engine("0", prompt: promptA, generation: 0, stop: 0, length: 0, latency: 0)]
                )
                    + ServerFixtures.vllm(
                        model: "model-b",
                        engines: [engine("0", prompt: promptB, generation: 0, stop: 0, length: 0, latency: 0)]
                    )
                    .split(separator: "\n").filter { $0.hasPrefix("vllm:prompt_tokens_total") }.joined(separator: "\n")
                    + "\n"
            )
        }
        _ = counters.deltas(from: scrape(100, 200))
        let deltas = counters.deltas(from: scrape(150, 200.4))
        #expect(deltas.map(\.model) == ["model-a"])
        #expect(deltas.first?.tokensInput == 50)
        let rounding = counters.deltas(from: scrape(150, 201))
        #expect(rounding.map(\.model) == ["model-b"])
        #expect(rounding.first?.tokensInput == 1)  // 0.6 rounds to 1
    }

    @Test func llamaCppDeltasHaveNoRequestsAndCountCachedPromptTokens() {
        var counters = counters()
        let first = parsePrometheus(
            ServerFixtures.llamaCpp(
                promptTokens: "6886",
                cachedTokens: "1200",
                promptSeconds: "29.0363",
                predictedTokens: "3469",
                predictedSeconds: "35.4427"
            )
        )
        #expect(first.problems.isEmpty)
        #expect(counters.deltas(from: first) == [])
        #expect(counters.recognised == "llamacpp")

        let second = parsePrometheus(
            ServerFixtures.llamaCpp(
                promptTokens: "7186",
                cachedTokens: "1500",
                promptSeconds: "30.5363",
                predictedTokens: "3769",
                predictedSeconds: "40.4427"
            )
        )
        let deltas = counters.deltas(from: second)
        #expect(deltas.count == 1)
        let delta = deltas.first
        #expect(delta?.model == "local-model")
        #expect(delta?.provider == "llamacpp")
        #expect(delta?.requests == 0)
        #expect(delta?.tokensInput == 600)
        #expect(delta?.tokensOutput == 300)
        #expect(delta?.latencyCount == 0)
        #expect(abs((delta?.latencySecondsSum ?? 0) - 6.5) < 1e-9)
    }

    @Test func olderLlamaCppWithSixDigitValuesGivesDeltasInTheStepsItPrints() {
        var counters = counters()
        _ = counters.deltas(
            from: parsePrometheus(
                ServerFixtures.llamaCppBefore2025(promptTokens: "1.23457e+06", predictedTokens: "987654")
            )
        )
        let deltas = counters.deltas(
            from: parsePrometheus(
                ServerFixtures.llamaCppBefore2025(promptTokens: "1.23461e+06", predictedTokens: "987700")
            )
        )
        #expect(deltas.map(\.tokensInput) == [40])
        #expect(deltas.map(\.tokensOutput) == [46])
    }

    @Test func tgiDeltasUseSuccessfulRequestsAndHistogramSums() {
        var counters = counters()
        let first = parsePrometheus(
            ServerFixtures.tgi(
                .init(
                    requestCount: 12,
                    requestSuccess: 11,
                    inputTokensSum: 1482,
                    generatedTokensSum: 2510,
                    durationSum: 30.25
                )
            )
        )
        #expect(first.problems.isEmpty)
        #expect(first.samples(named: "tgi_request_duration_bucket").count == 36)
        #expect(counters.deltas(from: first) == [])
        #expect(counters.recognised == "tgi")

        let second = parsePrometheus(
            ServerFixtures.tgi(
                .init(
                    requestCount: 20,
                    requestSuccess: 18,
                    inputTokensSum: 2400,
                    generatedTokensSum: 4000,
                    durationSum: 44.5
                )
            )
        )
        #expect(
            counters.deltas(from: second) == [
                ModelUsageDelta(
                    model: "local-model",
                    provider: "tgi",
                    requests: 7,
                    tokensInput: 918,
                    tokensOutput: 1490,
                    latencySecondsSum: 14.25,
                    latencyCount: 7
                )
            ]
        )
    }

    @Test func tgiSeriesCreatedOnFirstUseCountFromZero() {
        var counters = counters()
        let idle = parsePrometheus(
            ServerFixtures.tgi(
                .init(requestCount: 1, requestSuccess: nil, inputTokensSum: 9000, generatedTokensSum: 0, durationSum: 0)
            )
        )
        #expect(counters.deltas(from: idle) == [])
        let busy = parsePrometheus(
            ServerFixtures.tgi(
                .init(
                    requestCount: 3,
                    requestSuccess: 2,
                    inputTokensSum: 9200,
                    generatedTokensSum: 64,
                    durationSum: 3.5
                )
            )
        )
        #expect(
            counters.deltas(from: busy) == [
                ModelUsageDelta(
                    model: "local-model",
                    provider: "tgi",
                    requests: 2,
                    tokensInput: 200,
                    tokensOutput: 64,
                    latencySecondsSum: 3.5,
                    latencyCount: 2
                )
            ]
        )
    }

    @Test func aCounterThatWentDownIsARestartCountedFromZero() {
        var counters = counters()
        func scrape(_ prompt: String, _ predicted: String) -> ExpositionDocument {
            parsePrometheus(
                ServerFixtures.llamaCpp(
                    promptTokens: prompt,
                    cachedTokens: "0",
                    promptSeconds: "0",
                    predictedTokens: predicted,
                    predictedSeconds: "0"
                )
            )
        }
        _ = counters.deltas(from: scrape("5000", "2000"))
        let afterRestart = counters.deltas(from: scrape("300", "2100"))
        #expect(afterRestart.map(\.tokensInput) == [300])
        #expect(afterRestart.map(\.tokensOutput) == [100])
        let next = counters.deltas(from: scrape("350", "2100"))
        #expect(next.map(\.tokensInput) == [50])
        #expect(next.map(\.tokensOutput) == [0])
    }

    @Test func aMalformedLineInTheMiddleIsReportedAndOtherSeriesStillCount() throws {
        var counters = counters()
        let text = ServerFixtures.llamaCpp(
            promptTokens: "100",
            cachedTokens: "0",
            promptSeconds: "1",
            predictedTokens: "50",
            predictedSeconds: "2"
        )
        _ = counters.deltas(from: parsePrometheus(text))

        var lines = ServerFixtures.llamaCpp(
            promptTokens: "160",
            cachedTokens: "0",
            promptSeconds: "1.5",
            predictedTokens: "80",
            predictedSeconds: "3"
        ).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let brokenIndex = try #require(lines.firstIndex(of: "llamacpp:n_decode_total 3562"))
        lines[brokenIndex] = "llamacpp:n_decode_total{slot=\"0} 3562"
        let document = parsePrometheus(lines.joined(separator: "\n"))
        #expect(document.problems == [ExpositionProblem(line: brokenIndex + 1, message: "unterminated label value")])
        #expect(brokenIndex + 1 == 18)

        let deltas = counters.deltas(from: document)
        #expect(deltas.map(\.tokensInput) == [60])
        #expect(deltas.map(\.tokensOutput) == [30])
        #expect(deltas.map(\.latencySecondsSum) == [1.5])
    }

    @Test func theFirstScrapeIsABaselineForAServerOlderThanTheAgent() {
        var counters = counters()
        let document = parsePrometheus(
            ServerFixtures.vllm(
                processStart: "1.72000000523e+09",
                engines: [engine("0", prompt: 500, generation: 100, stop: 5, length: 0, latency: 4)]
            )
        )
        #expect(counters.deltas(from: document) == [])
    }

    @Test func theFirstScrapeCountsEverythingForAServerStartedAfterTheAgent() {
        var counters = counters()
        let document = parsePrometheus(
            ServerFixtures.vllm(
                processStart: "1.72000012e+09",
                engines: [engine("0", prompt: 500, generation: 100, stop: 5, length: 0, latency: 4)]
            )
        )
        #expect(
            counters.deltas(from: document) == [
                ModelUsageDelta(
                    model: model,
                    provider: "vllm",
                    requests: 5,
                    tokensInput: 500,
                    tokensOutput: 100,
                    latencySecondsSum: 4,
                    latencyCount: 5
                )
            ]
        )
    }

    @Test func aChangedProcessStartTimeCountsEveryValueFromZero() {
        var counters = counters()
        _ = counters.deltas(
            from: parsePrometheus(
                ServerFixtures.vllm(engines: [engine("0", prompt: 500, generation: 100, stop: 5, length: 0, latency: 4)]
                )
            )
        )
        // Restarted and already past the old values by the next scrape: only the start time tells.
        let restarted = parsePrometheus(
            ServerFixtures.vllm(
                processStart: "1.7200009e+09",
                engines: [engine("0", prompt: 700, generation: 150, stop: 6, length: 0, latency: 5)]
            )
        )
        #expect(counters.deltas(from: restarted).map(\.tokensInput) == [700])
    }

    @Test func aSeriesThatDisappearsAndComesBackCountsFromZero() {
        var counters = counters()
        let full = ServerFixtures.llamaCpp(
            promptTokens: "1000",
            cachedTokens: "0",
            promptSeconds: "0",
            predictedTokens: "400",
            predictedSeconds: "0"
        )
        _ = counters.deltas(from: parsePrometheus(full))
        let withoutPredicted = full.split(separator: "\n").filter { !$0.hasPrefix("llamacpp:tokens_predicted_total") }
            .joined(separator: "\n")
        #expect(counters.deltas(from: parsePrometheus(withoutPredicted)) == [])
        let back = ServerFixtures.llamaCpp(
            promptTokens: "1000",
            cachedTokens: "0",
            promptSeconds: "0",
            predictedTokens: "450",
            predictedSeconds: "0"
        )
        #expect(counters.deltas(from: parsePrometheus(back)).map(\.tokensOutput) == [450])
    }

    /// A llama.cpp scrape whose only non-zero counter is the prompt tokens.
    private func llamaCppPrompt(_ prompt: String) -> ExpositionDocument {
        parsePrometheus(
            ServerFixtures.llamaCpp(
                promptTokens: prompt,
                cachedTokens: "0",
                promptSeconds: "0",
                predictedTokens: "0",
                predictedSeconds: "0"
            )
        )
    }

    @Test func nonFiniteAndNegativeValuesAreIgnoredAndTheBaselineKept() {
        var counters = counters()
        _ = counters.deltas(from: llamaCppPrompt("100"))
        #expect(counters.deltas(from: llamaCppPrompt("NaN")) == [])
        #expect(counters.deltas(from: llamaCppPrompt("+Inf")) == [])
        #expect(counters.deltas(from: llamaCppPrompt("-5")) == [])
        #expect(counters.deltas(from: llamaCppPrompt("130")).map(\.tokensInput) == [30])
        #expect(counters.deltas(from: llamaCppPrompt("1e300")).map(\.tokensInput) == [UInt64.max])
    }

    @Test func aSeriesWithoutAValidValueOnTheFirstScrapeGetsItsBaselineLater() {
        var counters = counters()
        _ = counters.deltas(from: llamaCppPrompt("NaN"))
        #expect(counters.deltas(from: llamaCppPrompt("90000")) == [])
        #expect(counters.deltas(from: llamaCppPrompt("90010")).map(\.tokensInput) == [10])
    }

    @Test func anUnrelatedScrapeIsNotRecognisedAndKeepsTheBaselines() {
        var counters = counters()
        _ = counters.deltas(from: llamaCppPrompt("100"))
        #expect(counters.deltas(from: parsePrometheus("<html>502 Bad Gateway</html>\n")) == [])
        #expect(counters.recognised == nil)
        #expect(counters.deltas(from: llamaCppPrompt("120")).map(\.tokensInput) == [20])
        #expect(counters.recognised == "llamacpp")
    }

    @Test func openMetricsScrapesGiveTheSameDeltas() {
        var counters = counters()
        func scrape(_ requests: Int, _ prompt: Int) -> ExpositionDocument {
            parseOpenMetrics(
                """
                # HELP vllm:request_success Count of successfully processed requests.
                # TYPE vllm:request_success counter
                vllm:request_success_total{engine="0",finished_reason="stop",model_name="\(model)"} \(requests).0
                vllm:request_success_created{engine="0",finished_reason="stop",model_name="\(model)"} 1.72000003e+09
                # HELP vllm:prompt_tokens Number of prefill tokens processed.
                # TYPE vllm:prompt_tokens counter
                vllm:prompt_tokens_total{engine="0",model_name="\(model)"} \(prompt).0
                vllm:prompt_tokens_created{engine="0",model_name="\(model)"} 1.72000003e+09
                # EOF
                """
            )
        }
        _ = counters.deltas(from: scrape(4, 400))
        let deltas = counters.deltas(from: scrape(6, 700))
        #expect(deltas.map(\.requests) == [2])
        #expect(deltas.map(\.tokensInput) == [300])
    }
}
