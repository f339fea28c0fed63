/// `/metrics` bodies shaped exactly like each server writes them, with the usage counters as parameters.
///
/// - vLLM v1: prometheus_client's 0.0.4 output (`generate_latest`): labels sorted, floats as Python's repr
///   (`12.0`, `1.72000000523e+09`), counters' `_created` as separate gauge families, histogram buckets then
///   `_count` then `_sum`; families from `vllm/v1/metrics/loggers.py` with labels `engine` and `model_name`.
/// - llama.cpp: `server-task.cpp`'s `to_metrics()` (and the older `server.cpp` handler): HELP, TYPE, one
///   unlabelled sample per metric, values through C++ `operator<<` (6 significant digits).
/// - TGI: metrics-exporter-prometheus' render: counters, gauges, then histograms, a blank line after each
///   family, HELP only for described metrics, no `_total`, floats through Rust's `Display` (`1024`, `30.25`);
///   buckets as `router/src/server.rs` configures them.
enum ServerFixtures {
    static let llamaModel = "meta-llama/Llama-3.1-8B-Instruct"

    /// The usage counters of one vLLM engine (one data-parallel rank).
    struct VLLMEngine {
        var index = "0"
        var promptTokens: Double
        var generationTokens: Double
        var finishedStop: Double
        var finishedLength: Double
        var finishedAbort: Double
        var latencySecondsSum: Double

        var finished: Double { finishedStop + finishedLength + finishedAbort }
    }

    static func vllm(
        processStart: String = "1.72000000523e+09",
        model: String = llamaModel,
        engines: [VLLMEngine]
    ) -> String {
        var text = """
            # HELP python_gc_objects_collected_total Objects collected during gc
            # TYPE python_gc_objects_collected_total counter
            python_gc_objects_collected_total{generation="0"} 14313.0
            python_gc_objects_collected_total{generation="1"} 2842.0
            python_gc_objects_collected_total{generation="2"} 1117.0
            # HELP python_gc_objects_uncollectable_total Uncollectable objects found during GC
            # TYPE python_gc_objects_uncollectable_total counter
            python_gc_objects_uncollectable_total{generation="0"} 0.0
            python_gc_objects_uncollectable_total{generation="1"} 0.0
            python_gc_objects_uncollectable_total{generation="2"} 0.0
            # HELP python_info Python platform information
            # TYPE python_info gauge
            python_info{implementation="CPython",major="3",minor="12",patchlevel="11",version="3.12.11"} 1.0
            # HELP process_virtual_memory_bytes Virtual memory size in bytes.
            # TYPE process_virtual_memory_bytes gauge
            process_virtual_memory_bytes 3.6528283648e+010
            # HELP process_resident_memory_bytes Resident memory size in bytes.
            # TYPE process_resident_memory_bytes gauge
            process_resident_memory_bytes 2.141360128e+09
            # HELP process_start_time_seconds Start time of the process since unix epoch in seconds.
            # TYPE process_start_time_seconds gauge
            process_start_time_seconds \(processStart)
            # HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.
            # TYPE process_cpu_seconds_total counter
            process_cpu_seconds_total 231.87
            # HELP process_open_fds Number of open file descriptors.
            # TYPE process_open_fds gauge
            process_open_fds 74.0
            # HELP process_max_fds Maximum number of open file descriptors.
            # TYPE process_max_fds gauge
            process_max_fds 1.048576e+06

            """
        func family(_ name: String, _ help: String, _ type: String, _ value: (VLLMEngine) -> Double) {
            text += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
            for engine in engines {
                text += "\(name){engine=\"\(engine.index)\",model_name=\"\(model)\"} \(python(value(engine)))\n"
            }
        }
        func created(_ name: String, _ help: String) {
            text += "# HELP \(name) \(help)\n# TYPE \(name) gauge\n"
            for engine in engines {
                text += "\(name){engine=\"\(engine.index)\",model_name=\"\(model)\"} 1.720000031837e+09\n"
            }
        }
        family("vllm:num_requests_running", "Number of requests in model execution batches.", "gauge") { _ in 0 }
        family("vllm:num_requests_waiting", "Number of requests waiting to be processed.", "gauge") { _ in 0 }
        family("vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.", "gauge") { _ in 0.0123 }
        family(
            "vllm:prefix_cache_queries_total",
            "Prefix cache queries, in terms of number of queried tokens.",
            "counter"
        ) { $0.promptTokens }
        created("vllm:prefix_cache_queries_created", "Prefix cache queries, in terms of number of queried tokens.")
        family("vllm:num_preemptions_total", "Cumulative number of preemption from the engine.", "counter") { _ in 0 }
        created("vllm:num_preemptions_created", "Cumulative number of preemption from the engine.")
        family("vllm:prompt_tokens_total", "Number of prefill tokens processed.", "counter") { $0.promptTokens }
        created("vllm:prompt_tokens_created", "Number of prefill tokens processed.")
        family("vllm:generation_tokens_total", "Number of generation tokens processed.", "counter") {
            $0.generationTokens
        }
        created("vllm:generation_tokens_created", "Number of generation tokens processed.")

        text += """
            # HELP vllm:request_success_total Count of successfully processed requests.
            # TYPE vllm:request_success_total counter

            """
        for engine in engines {
            for (reason, count) in [
                ("stop", engine.finishedStop), ("length", engine.finishedLength), ("abort", engine.finishedAbort),
            ] {
                text += "vllm:request_success_total{engine=\"\(engine.index)\",finished_reason=\"\(reason)\","
                text += "model_name=\"\(model)\"} \(python(count))\n"
            }
        }

        let latencyBuckets: [Double] = [
            0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0,
            960.0, 1920.0, 7680.0, .infinity,
        ]
        text += """
            # HELP vllm:e2e_request_latency_seconds Histogram of e2e request latency in seconds.
            # TYPE vllm:e2e_request_latency_seconds histogram

            """
        for engine in engines {
            let labels = "engine=\"\(engine.index)\",model_name=\"\(model)\""
            for bound in latencyBuckets {
                // Half the requests took 1-1.5 s, the rest 2.5-5 s.
                let cumulative = bound < 1.5 ? 0 : bound < 5.0 ? (engine.finished / 2).rounded(.down) : engine.finished
                text += "vllm:e2e_request_latency_seconds_bucket{engine=\"\(engine.index)\",le=\"\(python(bound))\","
                text += "model_name=\"\(model)\"} \(python(cumulative))\n"
            }
            text += "vllm:e2e_request_latency_seconds_count{\(labels)} \(python(engine.finished))\n"
            text += "vllm:e2e_request_latency_seconds_sum{\(labels)} \(python(engine.latencySecondsSum))\n"
        }
        created("vllm:e2e_request_latency_seconds_created", "Histogram of e2e request latency in seconds.")
        return text
    }

    /// llama.cpp's metrics as `server-task.cpp` writes them (build b6xxx and later).
    static func llamaCpp(
        promptTokens: String,
        cachedTokens: String,
        promptSeconds: String,
        predictedTokens: String,
        predictedSeconds: String
    ) -> String {
        """
        # HELP llamacpp:prompt_tokens_total Number of prompt tokens processed, excluding cached tokens
        # TYPE llamacpp:prompt_tokens_total counter
        llamacpp:prompt_tokens_total \(promptTokens)
        # HELP llamacpp:prompt_tokens_cached_total Number of prompt tokens reused from the cache
        # TYPE llamacpp:prompt_tokens_cached_total counter
        llamacpp:prompt_tokens_cached_total \(cachedTokens)
        # HELP llamacpp:prompt_seconds_total Total time spent processing prompts
        # TYPE llamacpp:prompt_seconds_total counter
        llamacpp:prompt_seconds_total \(promptSeconds)
        # HELP llamacpp:tokens_predicted_total Number of generation tokens processed
        # TYPE llamacpp:tokens_predicted_total counter
        llamacpp:tokens_predicted_total \(predictedTokens)
        # HELP llamacpp:tokens_predicted_seconds_total Total time spent generating tokens
        # TYPE llamacpp:tokens_predicted_seconds_total counter
        llamacpp:tokens_predicted_seconds_total \(predictedSeconds)
        # HELP llamacpp:n_decode_total Total number of llama_decode() calls, excluding speculative decoding and multimodal decoding
        # TYPE llamacpp:n_decode_total counter
        llamacpp:n_decode_total 3562
        # HELP llamacpp:n_tokens_max Largest observed sequence length (prompt + generation)
        # TYPE llamacpp:n_tokens_max counter
        llamacpp:n_tokens_max 2510
        # HELP llamacpp:spec_decode_num_draft_tokens_total Speculative: Total draft tokens generated
        # TYPE llamacpp:spec_decode_num_draft_tokens_total counter
        llamacpp:spec_decode_num_draft_tokens_total 0
        # HELP llamacpp:spec_decode_num_accepted_tokens_total Speculative: Total draft tokens accepted by the target model
        # TYPE llamacpp:spec_decode_num_accepted_tokens_total counter
        llamacpp:spec_decode_num_accepted_tokens_total 0
        # HELP llamacpp:spec_decode_num_drafts_total Speculative: Total speculative decoding verification steps
        # TYPE llamacpp:spec_decode_num_drafts_total counter
        llamacpp:spec_decode_num_drafts_total 0
        # HELP llamacpp:prompt_tokens_seconds Average prompt throughput in tokens/s
        # TYPE llamacpp:prompt_tokens_seconds gauge
        llamacpp:prompt_tokens_seconds 237.151
        # HELP llamacpp:predicted_tokens_seconds Average generation throughput in tokens/s
        # TYPE llamacpp:predicted_tokens_seconds gauge
        llamacpp:predicted_tokens_seconds 97.8762
        # HELP llamacpp:requests_processing Number of requests processing
        # TYPE llamacpp:requests_processing gauge
        llamacpp:requests_processing 1
        # HELP llamacpp:requests_deferred Number of requests deferred
        # TYPE llamacpp:requests_deferred gauge
        llamacpp:requests_deferred 0
        # HELP llamacpp:n_busy_slots_per_decode Average number of busy slots per llama_decode() call
        # TYPE llamacpp:n_busy_slots_per_decode gauge
        llamacpp:n_busy_slots_per_decode 1

        """
    }

    /// llama.cpp's metrics as the older `examples/server/server.cpp` wrote them (no cached-token counter).
    static func llamaCppBefore2025(promptTokens: String, predictedTokens: String) -> String {
        """
        # HELP llamacpp:prompt_tokens_total Number of prompt tokens processed.
        # TYPE llamacpp:prompt_tokens_total counter
        llamacpp:prompt_tokens_total \(promptTokens)
        # HELP llamacpp:prompt_seconds_total Prompt process time
        # TYPE llamacpp:prompt_seconds_total counter
        llamacpp:prompt_seconds_total 290.363
        # HELP llamacpp:tokens_predicted_total Number of generation tokens processed.
        # TYPE llamacpp:tokens_predicted_total counter
        llamacpp:tokens_predicted_total \(predictedTokens)
        # HELP llamacpp:tokens_predicted_seconds_total Predict process time
        # TYPE llamacpp:tokens_predicted_seconds_total counter
        llamacpp:tokens_predicted_seconds_total 354.427
        # HELP llamacpp:n_decode_total Total number of llama_decode() calls
        # TYPE llamacpp:n_decode_total counter
        llamacpp:n_decode_total 3562
        # HELP llamacpp:n_busy_slots_per_decode Average number of busy slots per llama_decode() call
        # TYPE llamacpp:n_busy_slots_per_decode counter
        llamacpp:n_busy_slots_per_decode 1
        # HELP llamacpp:prompt_tokens_seconds Average prompt throughput in tokens/s.
        # TYPE llamacpp:prompt_tokens_seconds gauge
        llamacpp:prompt_tokens_seconds 2.37151
        # HELP llamacpp:predicted_tokens_seconds Average generation throughput in tokens/s.
        # TYPE llamacpp:predicted_tokens_seconds gauge
        llamacpp:predicted_tokens_seconds 9.78762
        # HELP llamacpp:kv_cache_usage_ratio KV-cache usage. 1 means 100 percent usage.
        # TYPE llamacpp:kv_cache_usage_ratio gauge
        llamacpp:kv_cache_usage_ratio 0.0703125
        # HELP llamacpp:kv_cache_tokens KV-cache tokens.
        # TYPE llamacpp:kv_cache_tokens gauge
        llamacpp:kv_cache_tokens 288
        # HELP llamacpp:requests_processing Number of request processing.
        # TYPE llamacpp:requests_processing gauge
        llamacpp:requests_processing 0
        # HELP llamacpp:requests_deferred Number of request deferred.
        # TYPE llamacpp:requests_deferred gauge
        llamacpp:requests_deferred 0

        """
    }

    /// TGI's usage series (nil leaves a lazily created series out, as before its first increment).
    struct TGIUsage {
        var requestCount: Int
        var requestSuccess: Int?
        var inputTokensSum: Int
        var generatedTokensSum: Int
        var durationSum: Double
    }

    /// TGI's `/metrics` with `--max-input-tokens 4095 --max-total-tokens 4096`.
    static func tgi(_ usage: TGIUsage) -> String {
        let successes = usage.requestSuccess ?? 0
        var text = """
            # HELP tgi_batch_inference_count Inference calls per method (prefill or decode)
            # TYPE tgi_batch_inference_count counter
            tgi_batch_inference_count{method="prefill"} \(usage.requestCount)
            tgi_batch_inference_count{method="decode"} \(usage.generatedTokensSum)

            # HELP tgi_batch_inference_success Number of successful inference calls per method (prefill or decode)
            # TYPE tgi_batch_inference_success counter
            tgi_batch_inference_success{method="prefill"} \(usage.requestCount)
            tgi_batch_inference_success{method="decode"} \(usage.generatedTokensSum)

            # HELP tgi_request_count Total number of requests
            # TYPE tgi_request_count counter
            tgi_request_count \(usage.requestCount)


            """
        if let success = usage.requestSuccess {
            text += """
                # HELP tgi_request_success Number of successful requests
                # TYPE tgi_request_success counter
                tgi_request_success \(success)


                """
        }
        text += """
            # HELP tgi_batch_current_max_tokens Maximum tokens for the current batch
            # TYPE tgi_batch_current_max_tokens gauge
            tgi_batch_current_max_tokens 0

            # HELP tgi_batch_current_size Current batch size
            # TYPE tgi_batch_current_size gauge
            tgi_batch_current_size 0

            # HELP tgi_queue_size Current queue size
            # TYPE tgi_queue_size gauge
            tgi_queue_size 0


            """
        var durationBuckets: [Double] = []
        var bound = 0.0001
        for _ in 0..<35 {
            bound *= 1.5
            durationBuckets.append(bound)
        }
        let inputBuckets = (0..<100).map { (4095.0 / 100.0) * Double($0 + 1) }
        let generatedBuckets = (0..<100).map { (4096.0 / 100.0) * Double($0 + 1) }
        func histogram(_ name: String, _ help: String, _ bounds: [Double], threshold: Double, sum: String) {
            text += "# HELP \(name) \(help)\n# TYPE \(name) histogram\n"
            for bound in bounds {
                text += "\(name)_bucket{le=\"\(rust(bound))\"} \(bound < threshold ? 0 : successes)\n"
            }
            text += "\(name)_bucket{le=\"+Inf\"} \(successes)\n\(name)_sum \(sum)\n\(name)_count \(successes)\n\n"
        }
        if successes > 0 {
            histogram(
                "tgi_request_duration",
                "Total time spent processing the request",
                durationBuckets,
                threshold: 2.0,
                sum: rust(usage.durationSum)
            )
            histogram(
                "tgi_request_generated_tokens",
                "Generated tokens per request",
                generatedBuckets,
                threshold: 200,
                sum: rust(Double(usage.generatedTokensSum))
            )
            histogram(
                "tgi_request_inference_duration",
                "Request inference duration",
                durationBuckets,
                threshold: 2.0,
                sum: rust(usage.durationSum * 0.97)
            )
        }
        if usage.requestCount > 0 {
            histogram(
                "tgi_request_input_length",
                "Input token length per request",
                inputBuckets,
                threshold: 100,
                sum: rust(Double(usage.inputTokensSum))
            )
        }
        return text
    }

    /// A float as Rust's `Display` writes it (metrics-exporter-prometheus' `le` labels and sums): no `.0`.
    static func rust(_ value: Double) -> String {
        if value == value.rounded(), abs(value) < 1e15 { return "\(Int64(value))" }
        return "\(value)"
    }

    /// A float as Python's `repr` and prometheus_client's `floatToGoString` write it for these magnitudes.
    static func python(_ value: Double) -> String {
        if value == .infinity { return "+Inf" }
        if value == value.rounded(), abs(value) < 1e15 { return "\(Int64(value)).0" }
        return "\(value)"
    }
}
