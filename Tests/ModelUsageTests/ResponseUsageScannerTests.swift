import Testing

@testable import ModelUsage

/// Usage read from LLM responses as they stream past, however the bytes are cut.
@Suite("Response usage scanner")
struct ResponseUsageScannerTests {
    /// Scans `body` cut into pieces of `piece` bytes.
    private func scan(
        _ body: String,
        _ dialect: ResponseUsageScanner.Dialect,
        _ framing: ResponseUsageScanner.Framing,
        piece: Int
    ) -> ResponseUsageScanner.Usage {
        var scanner = ResponseUsageScanner(dialect: dialect, framing: framing)
        let bytes = Array(body.utf8)
        var start = 0
        while start < bytes.count {
            let end = min(bytes.count, start + piece)
            scanner.consume(Array(bytes[start..<end]))
            start = end
        }
        return scanner.finish()
    }

    static let ollamaStream = """
        {"model":"llama3.2","created_at":"2025-01-01T00:00:00Z","response":"Hi","done":false}
        {"model":"llama3.2","created_at":"2025-01-01T00:00:00Z","response":" there","done":false}
        {"model":"llama3.2","created_at":"2025-01-01T00:00:00Z","response":"","done":true,"done_reason":"stop","total_duration":54000000,"prompt_eval_count":3,"eval_count":2}

        """

    @Test("an Ollama NDJSON stream gives the model, tokens and total_duration, cut at any byte")
    func ollamaStreamAtEveryCut() {
        for piece in 1...40 {
            let usage = scan(Self.ollamaStream, .ollama, .lines, piece: piece)
            #expect(usage.model == "llama3.2", "piece \(piece)")
            #expect(usage.tokensInput == 3 && usage.tokensOutput == 2, "piece \(piece)")
            #expect(usage.inferenceNanoseconds == 54_000_000)
            #expect(usage.sawEnd && usage.malformedLines == 0)
        }
    }

    @Test("Ollama omits zero fields: a final object without prompt_eval_count is 0 input tokens, not a failure")
    func ollamaOmittedFields() {
        let usage = scan(#"{"model":"m","response":"","done":true,"eval_count":5}"#, .ollama, .whole, piece: 7)
        #expect(usage.tokensInput == 0 && usage.tokensOutput == 5 && usage.inferenceNanoseconds == nil)
        let embed = scan(#"{"model":"e","embeddings":[[0.1,0.2]],"prompt_eval_count":4}"#, .ollama, .whole, piece: 3)
        #expect(embed.model == "e" && embed.tokensInput == 4 && embed.tokensOutput == 0)
    }

    @Test("a stream cut before its final object has unknown tokens, never zero")
    func cutShort() {
        let lines = Self.ollamaStream.split(separator: "\n")
        let usage = scan(lines.prefix(2).joined(separator: "\n") + "\n", .ollama, .lines, piece: 5)
        #expect(usage.model == "llama3.2")
        #expect(usage.tokensInput == nil && usage.tokensOutput == nil && !usage.sawEnd)
        let truncated = scan(String(Self.ollamaStream.dropLast(40)), .ollama, .lines, piece: 9)
        #expect(truncated.tokensInput == nil && truncated.malformedLines == 1)
    }

    static let openAIStream = """
        data: {"id":"c1","object":"chat.completion.chunk","model":"gpt-x","choices":[{"index":0,"delta":{"content":"Hi"}}],"usage":null}

        data: {"id":"c1","object":"chat.completion.chunk","model":"gpt-x","choices":[],"usage":{"prompt_tokens":7,"completion_tokens":11,"total_tokens":18}}

        data: [DONE]


        """

    @Test("an OpenAI SSE stream with include_usage gives the last chunk's usage, cut at any byte, CRLF or not")
    func openAIStreamAtEveryCut() {
        for body in [Self.openAIStream, Self.openAIStream.replacingLineFeeds()] {
            for piece in 1...40 {
                let usage = scan(body, .openAI, .lines, piece: piece)
                #expect(usage.model == "gpt-x" && usage.tokensInput == 7 && usage.tokensOutput == 11, "piece \(piece)")
                #expect(usage.sawEnd)
            }
        }
    }

    @Test("an OpenAI stream without usage: the request is seen, its tokens are unknown")
    func openAIWithoutUsage() {
        let body = """
            data: {"id":"c1","object":"chat.completion.chunk","model":"gpt-x","choices":[{"index":0,"delta":{"content":"Hi"}}]}

            data: [DONE]


            """
        let usage = scan(body, .openAI, .lines, piece: 13)
        #expect(usage.model == "gpt-x" && usage.tokensInput == nil && usage.tokensOutput == nil)
    }

    @Test("a pretty-printed (multi-line) OpenAI response is read whole")
    func openAIPrettyPrinted() {
        let body = """
            {
              "id": "cmpl-1",
              "object": "chat.completion",
              "model": "gpt-x",
              "usage": {
                "prompt_tokens": 12,
                "completion_tokens": 34,
                "total_tokens": 46
              }
            }
            """
        let usage = scan(body, .openAI, .whole, piece: 5)
        #expect(usage.model == "gpt-x" && usage.tokensInput == 12 && usage.tokensOutput == 34)
    }

    @Test("a line longer than the limit is skipped and counted, and what follows is still read")
    func overlongLine() {
        var scanner = ResponseUsageScanner(dialect: .ollama, framing: .lines, maximumLineBytes: 64)
        scanner.consume(Array(#"{"model":"m","response":""#.utf8) + Array(repeating: UInt8(ascii: "x"), count: 200))
        scanner.consume(Array(#"","done":false}"#.utf8) + [UInt8(ascii: "\n")])
        scanner.consume(Array(#"{"model":"m","done":true,"eval_count":1}"#.utf8))
        let usage = scanner.finish()
        #expect(usage.malformedLines == 1 && usage.tokensOutput == 1 && usage.tokensInput == 0)
    }

    @Test("the framing follows the Content-Type")
    func framingByContentType() {
        #expect(ResponseUsageScanner.framing(contentType: "application/x-ndjson") == .lines)
        #expect(ResponseUsageScanner.framing(contentType: "text/event-stream; charset=utf-8") == .lines)
        #expect(ResponseUsageScanner.framing(contentType: "application/json; charset=utf-8") == .whole)
        #expect(ResponseUsageScanner.framing(contentType: nil) == .whole)
    }
}

extension String {
    fileprivate func replacingLineFeeds() -> String {
        split(separator: "\n", omittingEmptySubsequences: false).joined(separator: "\r\n")
    }
}
