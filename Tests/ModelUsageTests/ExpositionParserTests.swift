import Testing

@testable import ModelUsage

/// Parses text as a Prometheus 0.0.4 body.
func parsePrometheus(_ text: String) -> ExpositionDocument {
    ExpositionParser.parse(Array(text.utf8), openMetrics: false)
}

/// Parses text as an OpenMetrics body.
func parseOpenMetrics(_ text: String) -> ExpositionDocument {
    ExpositionParser.parse(Array(text.utf8), openMetrics: true)
}

/// The grammar of both text formats, one rule per test.
@Suite struct ExpositionParserTests {
    @Test func helpTextResolvesBackslashAndNewlineEscapes() throws {
        let document = parsePrometheus(
            #"""
            # HELP http_requests_total The total number of HTTP requests.\nSee C:\\docs.
            # TYPE http_requests_total counter
            http_requests_total{method="post",code="200"} 1027 1395066363000
            """#
        )
        #expect(document.problems.isEmpty)
        let family = try #require(document.families.first)
        #expect(family.name == "http_requests_total")
        #expect(family.type == .counter)
        #expect(family.help == "The total number of HTTP requests.\nSee C:\\docs.")
        #expect(family.samples.count == 1)
        #expect(family.samples.first?.timestampMilliseconds == 1_395_066_363_000)
    }

    @Test func helpTextRejectsUnknownEscapesAndQuotesOnlyInOpenMetrics() {
        let prometheus = parsePrometheus(#"# HELP a say \"hi\""# + "\n")
        #expect(prometheus.problems == [ExpositionProblem(line: 1, message: "invalid escape sequence in HELP text")])
        let openMetrics = parseOpenMetrics(#"# HELP a say \"hi\""# + "\n# EOF\n")
        #expect(openMetrics.problems.isEmpty)
        #expect(openMetrics.families.first?.help == "say \"hi\"")
    }

    @Test func emptyHelpTextIsAllowed() {
        let document = parsePrometheus("# HELP a\n# HELP b \na 1\n")
        #expect(document.problems.isEmpty)
        #expect(document.families.map(\.help) == ["", ""])
    }

    @Test func everyPrometheusTypeIsRecognisedAndOthersAreProblems() {
        let document = parsePrometheus(
            """
            # TYPE a counter
            # TYPE b gauge
            # TYPE c histogram
            # TYPE d summary
            # TYPE e untyped
            # TYPE f GAUGE
            # TYPE g info
            # TYPE h
            """
        )
        #expect(document.families.map(\.type) == [.counter, .gauge, .histogram, .summary, .untyped, .gauge])
        #expect(
            document.problems == [
                ExpositionProblem(line: 7, message: "unknown metric type \"info\""),
                ExpositionProblem(line: 8, message: "missing type in TYPE line"),
            ]
        )
    }

    @Test func everyOpenMetricsTypeIsRecognised() {
        let document = parseOpenMetrics(
            """
            # TYPE a counter
            # TYPE b gauge
            # TYPE c histogram
            # TYPE d gaugehistogram
            # TYPE e stateset
            # TYPE f info
            # TYPE g summary
            # TYPE h unknown
            # TYPE i untyped
            # EOF
            """
        )
        #expect(
            document.families.map(\.type) == [
                .counter, .gauge, .histogram, .gaugehistogram, .stateset, .info, .summary, .unknown,
            ]
        )
        #expect(document.problems == [ExpositionProblem(line: 9, message: "unknown metric type \"untyped\"")])
    }

    @Test func openMetricsUnitIsRead() {
        let document = parseOpenMetrics(
            """
            # TYPE request_latency_seconds histogram
            # UNIT request_latency_seconds seconds
            # HELP request_latency_seconds Latency.
            request_latency_seconds_bucket{le="+Inf"} 3
            request_latency_seconds_sum 1.5
            request_latency_seconds_count 3
            # EOF
            """
        )
        #expect(document.problems.isEmpty)
        #expect(document.families.count == 1)
        #expect(document.families.first?.unit == "seconds")
        #expect(
            document.families.first?.samples.map(\.name) == [
                "request_latency_seconds_bucket", "request_latency_seconds_sum", "request_latency_seconds_count",
            ]
        )
    }

    @Test func unitLineIsOnlyACommentInPrometheusFormat() {
        let document = parsePrometheus("# UNIT a seconds\n# EOF\na 1\n")
        #expect(document.problems.isEmpty)
        #expect(document.families.first?.unit == nil)
        #expect(document.families.first?.samples.first?.value == 1)
    }

    @Test func openMetricsMustEndWithEOFAndNothingMayFollow() {
        let truncated = parseOpenMetrics("a 1\nb 2\n")
        #expect(
            truncated.problems == [ExpositionProblem(line: 3, message: "missing \"# EOF\" at end of OpenMetrics text")]
        )
        #expect(truncated.families.count == 2)

        let trailing = parseOpenMetrics("a 1\n# EOF\nb 2\nc 3\n")
        #expect(trailing.problems == [ExpositionProblem(line: 3, message: "content after \"# EOF\"")])
        #expect(trailing.families.map(\.name) == ["a"])
    }

    @Test func commentsAndBlankLinesAreSkipped() {
        let document = parsePrometheus(
            """
            # a free comment
            #another

               \t
            a 1
            #  HELP a late help
            """
        )
        #expect(document.problems.isEmpty)
        #expect(document.families.count == 1)
        #expect(document.families.first?.help == "late help")
    }

    @Test func labelValuesResolveEscapes() throws {
        let document = parsePrometheus(
            #"msdos_file_access_time_seconds{path="C:\\DIR\\FILE.TXT",error="Cannot find file:\n\"FILE.TXT\""} 1.458255915e9"#
                + "\n"
        )
        #expect(document.problems.isEmpty)
        let sample = try #require(document.samples(named: "msdos_file_access_time_seconds").first)
        #expect(sample.label("path") == #"C:\DIR\FILE.TXT"#)
        #expect(sample.label("error") == "Cannot find file:\n\"FILE.TXT\"")
        #expect(sample.value == 1_458_255_915)
    }

    @Test func labelsKeepTheirOrderAndAllowBlanksEmptySetsAndATrailingComma() throws {
        let document = parsePrometheus(
            """
            a{z="1",a="2",} 1
            b{} 2
            c { x = "y" , _w="é☃" } 3
            d{le="+Inf"}4
            """
        )
        #expect(document.problems.isEmpty)
        let a = try #require(document.samples(named: "a").first)
        #expect(a.labels == [ExpositionLabel(name: "z", value: "1"), ExpositionLabel(name: "a", value: "2")])
        #expect(document.samples(named: "b").first?.labels == [])
        #expect(
            document.samples(named: "c").first?.labels == [
                ExpositionLabel(name: "x", value: "y"), ExpositionLabel(name: "_w", value: "é☃"),
            ]
        )
        #expect(document.samples(named: "d").first?.value == 4)
        #expect(a.label("missing") == nil)
    }

    @Test func badLabelSetsAreProblems() {
        let document = parsePrometheus(
            """
            a{x="1} 1
            b{x="1",x="2"} 1
            c{1x="1"} 1
            d{x="1" y="2"} 1
            e{x=1} 1
            f{x="\\q"} 1
            g{x="1" 1
            h{x
            """
        )
        #expect(document.families.isEmpty)
        #expect(
            document.problems.map(\.description) == [
                "line 1: unterminated label value",
                "line 2: duplicate label name \"x\"",
                "line 3: invalid label name \"1x=\"1\"}\"",
                "line 4: expected \",\" or \"}\" after value of label \"x\"",
                "line 5: expected quoted value for label \"x\"",
                "line 6: invalid escape sequence in label value",
                "line 7: expected \",\" or \"}\" after value of label \"x\"",
                "line 8: expected \"=\" after label name \"x\"",
            ]
        )
    }

    @Test func metricNamesMayContainColons() {
        let document = parsePrometheus(
            """
            # TYPE vllm:prompt_tokens_total counter
            vllm:prompt_tokens_total{model_name="m"} 12.0
            :leading_colon 1
            job:http_requests:rate5m 2
            """
        )
        #expect(document.problems.isEmpty)
        #expect(
            document.families.map(\.name) == ["vllm:prompt_tokens_total", ":leading_colon", "job:http_requests:rate5m"]
        )
        #expect(document.samples(named: "vllm:prompt_tokens_total").first?.value == 12)
    }

    @Test func badNamesAndValuesAreProblems() {
        let document = parsePrometheus(
            """
            1abc 1
            foo-bar 1
            foo
            foo{a="b"}
            foo abc
            foo 1 2 3
            foo 1 1.5
            foo 1 99999999999999999999
            foo 0x1p-2
            """
        )
        #expect(
            document.problems.map(\.description) == [
                "line 1: invalid metric name \"1abc\"",
                "line 2: invalid metric name \"foo-bar\"",
                "line 3: missing value",
                "line 4: missing value",
                "line 5: invalid value \"abc\"",
                "line 6: unexpected text after value: \"3\"",
                "line 7: invalid timestamp \"1.5\"",
                "line 8: invalid timestamp \"99999999999999999999\"",
            ]
        )
        #expect(document.samples(named: "foo").map(\.value) == [0.25])
    }

    @Test func specialAndScientificValuesParse() throws {
        let document = parsePrometheus(
            """
            a NaN
            b +Inf
            c -Inf
            d 1e3
            e -0.5
            f 1.72000000523e+09
            g 3.6528283648e+010
            h 1.23457e+06
            i 123456789012345678901234567890
            j 0.1
            k Inf
            l -0
            m .5
            """
        )
        #expect(document.problems.isEmpty)
        func value(_ name: String) -> Double? { document.samples(named: name).first?.value }
        #expect(value("a")?.isNaN == true)
        #expect(value("b") == .infinity)
        #expect(value("c") == -.infinity)
        #expect(value("d") == 1000)
        #expect(value("e") == -0.5)
        #expect(value("f") == 1_720_000_005.23)
        #expect(value("g") == 36_528_283_648)
        #expect(value("h") == 1_234_570)
        #expect(value("i") == 1.2345678901234568e29)
        #expect(value("j") == 0.1)
        #expect(value("k") == .infinity)
        #expect(value("l") == 0)
        #expect(value("m") == 0.5)
    }

    @Test func timestampsAreMillisecondsInPrometheusAndSecondsInOpenMetrics() {
        let prometheus = parsePrometheus("a 1 1395066363000\nb 1 -1\n")
        #expect(prometheus.samples(named: "a").first?.timestampMilliseconds == 1_395_066_363_000)
        #expect(prometheus.samples(named: "b").first?.timestampMilliseconds == -1)

        let openMetrics = parseOpenMetrics("a 1 1395066363.5\nb 1 1395066363\nc 1\n# EOF\n")
        #expect(openMetrics.problems.isEmpty)
        #expect(openMetrics.samples(named: "a").first?.timestampMilliseconds == 1_395_066_363_500)
        #expect(openMetrics.samples(named: "b").first?.timestampMilliseconds == 1_395_066_363_000)
        #expect(openMetrics.samples(named: "c").first?.timestampMilliseconds == nil)
    }

    @Test func openMetricsExemplarsAreSkipped() {
        let document = parseOpenMetrics(
            """
            # TYPE foo histogram
            foo_bucket{le="0.01"} 0
            foo_bucket{le="0.1"} 8 # {} 0.054
            foo_bucket{le="1"} 11 # {trace_id="KOO5S4vxi0o"} 0.67
            foo_bucket{le="10"} 17 1520879607.789 # {trace_id="oHg5SJYRHA0"} 9.8 1520879607.789
            foo_bucket{le="+Inf"} 17 # {trace_id="x"}
            foo_count 17
            foo_sum 324789.3
            # TYPE bar counter
            bar_total 5 # {trace_id="x"} 1 # more
            # EOF
            """
        )
        #expect(
            document.problems == [
                ExpositionProblem(line: 6, message: "invalid exemplar value"),
                ExpositionProblem(line: 10, message: "invalid exemplar timestamp"),
            ]
        )
        #expect(document.samples(named: "foo_bucket").map(\.value) == [0, 8, 11, 17])
        #expect(document.samples(named: "foo_bucket")[3].timestampMilliseconds == 1_520_879_607_789)
    }

    @Test func exemplarsAreProblemsInPrometheusFormat() {
        let document = parsePrometheus("foo_bucket{le=\"1\"} 11 # {trace_id=\"x\"} 0.67\n")
        #expect(document.problems.map(\.message) == ["unexpected text after value: \"#\""])
    }

    @Test func trailingBlanksAndCarriageReturnsAreIgnored() {
        let document = parsePrometheus("# HELP a text  \r\n# TYPE a gauge\t\r\na{x=\"y\"} 3 \t \r\n\r\n")
        #expect(document.problems.isEmpty)
        #expect(document.families.first?.help == "text")
        #expect(document.families.first?.type == .gauge)
        #expect(document.samples(named: "a").first?.value == 3)
    }

    @Test func histogramSummaryAndCounterFamiliesOwnTheirSuffixes() throws {
        let document = parsePrometheus(
            """
            # HELP vllm:e2e_request_latency_seconds Histogram of e2e request latency in seconds.
            # TYPE vllm:e2e_request_latency_seconds histogram
            vllm:e2e_request_latency_seconds_bucket{le="1.0",model_name="m"} 1.0
            vllm:e2e_request_latency_seconds_bucket{le="+Inf",model_name="m"} 2.0
            vllm:e2e_request_latency_seconds_count{model_name="m"} 2.0
            vllm:e2e_request_latency_seconds_sum{model_name="m"} 3.5
            # TYPE rpc_duration_seconds summary
            rpc_duration_seconds{quantile="0.5"} 4773
            rpc_duration_seconds_sum 1.7560473e+07
            rpc_duration_seconds_count 2693
            # TYPE vllm:prompt_tokens_total counter
            vllm:prompt_tokens_total 7.0
            vllm:prompt_tokens_total_sum 1
            """
        )
        #expect(document.problems.isEmpty)
        #expect(
            document.families.map(\.name) == [
                "vllm:e2e_request_latency_seconds", "rpc_duration_seconds", "vllm:prompt_tokens_total",
                "vllm:prompt_tokens_total_sum",
            ]
        )
        #expect(document.families[0].samples.count == 4)
        #expect(document.families[1].samples.count == 3)
        #expect(document.families[3].type == .untyped)
        #expect(document.samples(named: "vllm:e2e_request_latency_seconds_sum").first?.value == 3.5)
    }

    @Test func openMetricsFamiliesOwnTotalCreatedInfoAndGaugeHistogramSuffixes() {
        let document = parseOpenMetrics(
            """
            # TYPE foo counter
            foo_total 17.0 1520879607.789
            foo_created 1520430000.123
            # TYPE build info
            build_info{version="1.2"} 1
            # TYPE queue gaugehistogram
            queue_bucket{le="+Inf"} 3
            queue_gcount 3
            queue_gsum 12
            # TYPE state stateset
            state{state="a"} 1
            # EOF
            """
        )
        #expect(document.problems.isEmpty)
        #expect(document.families.map(\.name) == ["foo", "build", "queue", "state"])
        #expect(document.families.map(\.samples.count) == [2, 1, 3, 1])
    }

    @Test func suffixedSamplesFindTheirFamilyAfterOtherFamilies() {
        let document = parsePrometheus(
            """
            # TYPE a histogram
            a_bucket{le="+Inf"} 1
            # TYPE b gauge
            b 1
            a_sum 2
            a_count 1
            """
        )
        #expect(document.families.map(\.name) == ["a", "b"])
        #expect(document.families[0].samples.map(\.name) == ["a_bucket", "a_sum", "a_count"])
    }

    @Test func samplesWithoutTypeFormUntypedFamiliesOfTheirOwnName() {
        let document = parsePrometheus("x_bucket{le=\"1\"} 1\nx_bucket{le=\"2\"} 2\ny_total 3\n")
        #expect(document.problems.isEmpty)
        #expect(document.families.map(\.name) == ["x_bucket", "y_total"])
        #expect(document.families.map(\.type) == [.untyped, .untyped])
        #expect(document.families[0].samples.count == 2)
    }

    @Test func duplicateAndLateDescriptorsAreProblemsNotCrashes() {
        let document = parsePrometheus(
            """
            # TYPE a counter
            # TYPE a gauge
            # HELP a one
            # HELP a two
            a 1
            b 2
            # TYPE b gauge
            # HELP b late help is fine
            """
        )
        #expect(
            document.problems.map(\.description) == [
                "line 2: duplicate TYPE line for a",
                "line 4: duplicate HELP line for a",
                "line 7: TYPE line for b after its samples",
            ]
        )
        #expect(document.families.map(\.type) == [.counter, .untyped])
        #expect(document.families.map(\.help) == ["one", "late help is fine"])
    }

    @Test func aMalformedLineIsReportedWithItsNumberAndTheRestIsParsed() {
        let document = parsePrometheus(
            """
            # TYPE a gauge
            a{x="1"} 1
            a{x="2} 2
            a{x="3"} abc
            a{x="4"} 4
            """
        )
        #expect(
            document.problems == [
                ExpositionProblem(line: 3, message: "unterminated label value"),
                ExpositionProblem(line: 4, message: "invalid value \"abc\""),
            ]
        )
        #expect(document.samples(named: "a").map(\.value) == [1, 4])
    }

    @Test func invalidUTF8InALabelValueSkipsTheLine() {
        var bytes = Array("a{x=\"ok\"} 1\na{x=\"".utf8)
        bytes += [0xC3, 0x28]  // a lead byte followed by a non-continuation byte
        bytes += Array("\"} 2\na{x=\"é\"} 3\n".utf8)
        let document = ExpositionParser.parse(bytes, openMetrics: false)
        #expect(document.problems == [ExpositionProblem(line: 2, message: "invalid UTF-8 in label value")])
        #expect(document.samples(named: "a").map(\.value) == [1, 3])

        var escaped = Array("b{x=\"\\n".utf8)
        escaped += [0xFF]
        escaped += Array("\"} 1\n".utf8)
        #expect(
            ExpositionParser.parse(escaped, openMetrics: false).problems.map(\.message) == [
                "invalid UTF-8 in label value"
            ]
        )
    }

    @Test func samplesNamedFindsExactSeriesNamesAcrossFamilies() {
        let document = parsePrometheus(
            """
            # TYPE h histogram
            h_sum{m="a"} 1
            h_count{m="a"} 2
            h_sum{m="b"} 3
            # TYPE h_sum gauge
            h_sum 4
            """
        )
        #expect(document.samples(named: "h_sum").map(\.value) == [1, 3, 4])
        #expect(document.samples(named: "h").isEmpty)
        #expect(document.samples(named: "nothing").isEmpty)
    }

    @Test func problemsAreCappedForGarbageBodies() {
        let garbage = String(repeating: "!!!\n", count: ExpositionDocumentBuilder.maximumProblems + 50)
        let document = parsePrometheus(garbage)
        #expect(document.problems.count == ExpositionDocumentBuilder.maximumProblems + 1)
        #expect(document.problems.last?.message == "50 further problems not listed")
    }
}

/// Number parsing and rounding without the C math library.
@Suite struct ExpositionNumberTests {
    @Test func roundingIsHalfAwayFromZeroWithoutLibm() {
        #expect(ExpositionNumber.roundedToInt64(0.5) == 1)
        #expect(ExpositionNumber.roundedToInt64(1.4999999) == 1)
        #expect(ExpositionNumber.roundedToInt64(2.5) == 3)
        #expect(ExpositionNumber.roundedToInt64(-2.5) == -3)
        #expect(ExpositionNumber.roundedToInt64(-0.4) == 0)
        #expect(ExpositionNumber.roundedToInt64(.nan) == nil)
        #expect(ExpositionNumber.roundedToInt64(9.3e18) == nil)
        #expect(ExpositionNumber.roundedToInt64(-9_223_372_036_854_775_808.0) == .min)
        #expect(ExpositionNumber.roundedToUInt64Clamped(0.49999999999999994) == 0)
        #expect(ExpositionNumber.roundedToUInt64Clamped(0.6) == 1)
        #expect(ExpositionNumber.roundedToUInt64Clamped(-3) == 0)
        #expect(ExpositionNumber.roundedToUInt64Clamped(.nan) == 0)
        #expect(ExpositionNumber.roundedToUInt64Clamped(.infinity) == .max)
        #expect(ExpositionNumber.roundedToUInt64Clamped(18_446_744_073_709_549_568.0) == 18_446_744_073_709_549_568)
    }

    @Test func openMetricsTimestampsRoundToMilliseconds() {
        let document = parseOpenMetrics("a 1 -1.5\nb 1 0.0004\nc 1 1e300\n# EOF\n")
        #expect(document.samples(named: "a").first?.timestampMilliseconds == -1500)
        #expect(document.samples(named: "b").first?.timestampMilliseconds == 0)
        #expect(document.problems == [ExpositionProblem(line: 3, message: "invalid timestamp \"1e300\"")])
    }
}
