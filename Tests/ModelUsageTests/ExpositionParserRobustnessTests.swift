import Testing

@testable import ModelUsage

/// A small deterministic generator so failures reproduce.
private struct SplitMix64 {
    var state: UInt64

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var mixed = state
        mixed = (mixed ^ (mixed >> 30)) &* 0xBF58_476D_1CE4_E5B9
        mixed = (mixed ^ (mixed >> 27)) &* 0x94D0_49BB_1331_11EB
        return mixed ^ (mixed >> 31)
    }
}

/// Inputs no one writes on purpose: huge, cut short, corrupted or random bodies.
@Suite struct ExpositionParserRobustnessTests {
    static let realExposition = Array(
        ServerFixtures.vllm(
            engines: [
                .init(
                    promptTokens: 10234,
                    generationTokens: 5120,
                    finishedStop: 40,
                    finishedLength: 2,
                    finishedAbort: 1,
                    latencySecondsSum: 61.53
                )
            ]
        ).utf8
    )

    @Test func fiftyThousandLinesParseCompletely() {
        var text = "# HELP big_metric A large family.\n# TYPE big_metric gauge\n"
        text.reserveCapacity(3_000_000)
        for index in 0..<50_000 {
            text +=
                "big_metric{instance=\"host-\(index % 97)\",path=\"/api/v1/items/\(index)\",code=\"200\"} \(index).5\n"
        }
        let document = parsePrometheus(text)
        #expect(document.problems.isEmpty)
        #expect(document.families.count == 1)
        #expect(document.families.first?.samples.count == 50_000)
    }

    /// Every prefix of llama.cpp's body (both formats) and of vLLM's labelled counters and histogram.
    @Test func everyPrefixOfARealExpositionParsesWithoutTrapping() throws {
        let llamaCpp = Array(
            ServerFixtures.llamaCpp(
                promptTokens: "6886",
                cachedTokens: "1200",
                promptSeconds: "29.0363",
                predictedTokens: "3469",
                predictedSeconds: "35.4427"
            ).utf8
        )
        let vllmLines = String(decoding: Self.realExposition, as: UTF8.self)
            .split(separator: "\n", omittingEmptySubsequences: false)
        let start = try #require(vllmLines.firstIndex { $0.hasPrefix("# HELP vllm:request_success_total") })
        let vllm = Array(vllmLines[start...].joined(separator: "\n").utf8)
        for (bytes, formats) in [(llamaCpp, [false, true]), (vllm, [false])] {
            #expect(ExpositionParser.parse(bytes, openMetrics: false).problems.isEmpty)
            var lastSampleCount = 0
            for length in 0...bytes.count {
                for openMetrics in formats {
                    let document = ExpositionParser.parse(Array(bytes[0..<length]), openMetrics: openMetrics)
                    let samples = document.families.reduce(0) { $0 + $1.samples.count }
                    if !openMetrics {
                        // A prefix may cut the last line short, but never loses what earlier lines gave.
                        #expect(samples + 1 >= lastSampleCount)
                        lastSampleCount = samples
                    }
                }
            }
        }
    }

    @Test func randomBytesNeverTrap() {
        var random = SplitMix64(state: 0x5EED)
        let alphabet = Array("{}\"\\=,# \t\r\n_:abcdefgHELPTYPEUNITEOF0123456789.+-eInfNa".utf8)
        for _ in 0..<3000 {
            let length = Int(random.next() % 300)
            var bytes: [UInt8] = []
            bytes.reserveCapacity(length)
            for _ in 0..<length {
                let roll = random.next()
                // Mostly bytes from the grammar, so the parser gets deep into lines; some arbitrary bytes.
                bytes.append(
                    roll % 4 == 0
                        ? UInt8(truncatingIfNeeded: roll >> 8) : alphabet[Int((roll >> 8) % UInt64(alphabet.count))]
                )
            }
            _ = ExpositionParser.parse(bytes, openMetrics: random.next() % 2 == 0)
        }
    }

    @Test func corruptedRealExpositionsNeverTrap() {
        var random = SplitMix64(state: 42)
        for _ in 0..<300 {
            var bytes = Self.realExposition
            for _ in 0..<(1 + random.next() % 20) {
                let position = Int(random.next() % UInt64(bytes.count))
                switch random.next() % 3 {
                case 0: bytes[position] = UInt8(truncatingIfNeeded: random.next())
                case 1: bytes.remove(at: position)
                default: bytes.insert(UInt8(truncatingIfNeeded: random.next()), at: position)
                }
            }
            let document = ExpositionParser.parse(bytes, openMetrics: random.next() % 2 == 0)
            for problem in document.problems {
                #expect(problem.line >= 1)
            }
        }
    }
}
