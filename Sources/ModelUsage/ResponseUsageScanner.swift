import WatcherModel

#if canImport(Glibc)
import Glibc
#endif

/// Reads model usage out of an LLM server's response as it streams past, without holding the
/// response: only the line or event being read is kept (at most `maximumLineBytes`), and only
/// the lines that can carry usage are parsed as JSON.
///
/// - Ollama (`/api/generate`, `/api/chat`, `/api/embed`): NDJSON when streaming, one JSON object
///   otherwise. The model comes from the first object; `prompt_eval_count`, `eval_count` and
///   `total_duration` from the final one (`done: true`, or the only one). Ollama omits zero
///   fields: a missing count is 0 once the final object arrived.
/// - OpenAI-compatible (`/v1/chat/completions`, `/v1/completions`, `/v1/embeddings`): SSE
///   (`data: {...}` events, `data: [DONE]`) when streaming, one JSON object otherwise. Tokens come
///   from `usage` (`prompt_tokens`, `completion_tokens`): of the response, or of the last
///   streamed chunk when the client asked for `stream_options.include_usage`. Without usage the
///   tokens are unknown, never guessed.
public struct ResponseUsageScanner: Sendable {
    /// The API whose responses are read.
    public enum Dialect: Sendable { case ollama, openAI }

    /// What a response said about usage.
    public struct Usage: Sendable, Equatable {
        /// The model named by the response; nil when no object named one.
        public var model: String?
        /// Tokens; nil when the response did not say (stream without usage, cut short, malformed).
        public var tokensInput: UInt64?
        public var tokensOutput: UInt64?
        /// The server's own time for the request (Ollama `total_duration`), nanoseconds.
        public var inferenceNanoseconds: UInt64?
        /// Lines or events that were not valid JSON (or too long to read).
        public var malformedLines: Int = 0
        /// Whether the response's final object (Ollama `done`, OpenAI usage or `[DONE]`) arrived.
        public var sawEnd = false
    }

    /// How the body is cut: into lines (NDJSON, SSE), or read whole (one JSON document, which
    /// may span lines when pretty-printed, as OpenAI's own API does).
    public enum Framing: Sendable { case lines, whole }

    public let dialect: Dialect
    public let framing: Framing
    public let maximumLineBytes: Int
    private var line: [UInt8] = []
    private var lineTooLong = false
    private var sawFirstObject = false
    private(set) public var usage = Usage()

    public init(dialect: Dialect, framing: Framing, maximumLineBytes: Int = 16 << 20) {
        self.dialect = dialect
        self.framing = framing
        self.maximumLineBytes = maximumLineBytes
    }

    /// The framing a response with this `Content-Type` has: lines for NDJSON and SSE streams,
    /// whole for anything else.
    public static func framing(contentType: String?) -> Framing {
        let type = (contentType ?? "").lowercased()
        return type.hasPrefix("application/x-ndjson") || type.hasPrefix("text/event-stream") ? .lines : .whole
    }

    /// Reads the next bytes of the response body.
    public mutating func consume(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        if framing == .whole {
            appendToLine(UnsafeRawBufferPointer(start: base, count: bytes.count))
            return
        }
        var start = 0
        while start < bytes.count,
            let found = memchr(base + start, Int32(UInt8(ascii: "\n")), bytes.count - start)
        {
            let newline = base.distance(to: UnsafeRawPointer(found))
            appendToLine(UnsafeRawBufferPointer(start: base + start, count: newline - start))
            endLine()
            start = newline + 1
        }
        if start < bytes.count { appendToLine(UnsafeRawBufferPointer(start: base + start, count: bytes.count - start)) }
    }

    /// Reads the next bytes of the response body.
    public mutating func consume(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { consume($0) }
    }

    /// Ends the body: a last line without a newline is read, and the usage is final.
    public mutating func finish() -> Usage {
        if framing == .whole {
            if lineTooLong {
                usage.malformedLines += 1
            } else if !line.isEmpty {
                readObject(line[...], whole: true)
            }
            line = []
            return usage
        }
        if !line.isEmpty || lineTooLong { endLine() }
        return usage
    }

    private mutating func appendToLine(_ bytes: UnsafeRawBufferPointer) {
        guard !bytes.isEmpty, !lineTooLong else { return }
        if line.count + bytes.count > maximumLineBytes {
            lineTooLong = true
            line = []
            return
        }
        line.append(contentsOf: bytes)
    }

    private mutating func endLine() {
        defer {
            line.removeAll(keepingCapacity: line.capacity <= 1 << 20)
            lineTooLong = false
        }
        if lineTooLong {
            usage.malformedLines += 1
            return
        }
        var content = line[...]
        while let last = content.last, last == UInt8(ascii: "\r") || last == UInt8(ascii: " ") {
            content = content.dropLast()
        }
        guard !content.isEmpty else { return }
        switch dialect {
        case .ollama:
            readObject(content)
        case .openAI:
            if content.first == UInt8(ascii: "{") {
                readObject(content)  // a non-streamed response
                return
            }
            let prefix = Array("data:".utf8)
            guard content.starts(with: prefix) else { return }  // event:, id:, retry:, comments
            var data = content.dropFirst(prefix.count)
            while data.first == UInt8(ascii: " ") { data = data.dropFirst() }
            if data.elementsEqual("[DONE]".utf8) {
                usage.sawEnd = true
                return
            }
            readObject(data)
        }
    }

    /// Parses one object, unless it is a middle chunk that cannot carry usage.
    private mutating func readObject(_ bytes: ArraySlice<UInt8>, whole: Bool = false) {
        let mayCarryUsage: Bool
        switch dialect {
        case .ollama:
            mayCarryUsage = !Self.contains(bytes, #""done":false"#) && !Self.contains(bytes, #""done": false"#)
        case .openAI: mayCarryUsage = Self.contains(bytes, #""usage":{"#) || Self.contains(bytes, #""usage": {"#)
        }
        guard whole || !sawFirstObject || mayCarryUsage else { return }
        let value: JSONValue
        do {
            value = try JSONParser.parse(Array(bytes))
        } catch {
            usage.malformedLines += 1
            return
        }
        guard case .object = value else {
            usage.malformedLines += 1
            return
        }
        if !sawFirstObject {
            sawFirstObject = true
            usage.model = value["model"]?.text
        }
        switch dialect {
        case .ollama:
            // A streamed middle chunk has done: false; the final object, and a non-streamed or
            // embed response (which has no done field), carries the counts.
            if value["done"] == .bool(false) { return }
            usage.sawEnd = true
            usage.tokensInput = Self.count(value["prompt_eval_count"]) ?? 0
            usage.tokensOutput = Self.count(value["eval_count"]) ?? 0
            usage.inferenceNanoseconds = Self.count(value["total_duration"])
            if usage.model == nil { usage.model = value["model"]?.text }
        case .openAI:
            guard let reported = value["usage"], case .object = reported else { return }
            usage.tokensInput = Self.count(reported["prompt_tokens"]) ?? 0
            usage.tokensOutput = Self.count(reported["completion_tokens"]) ?? 0
            usage.sawEnd = true
            if usage.model == nil { usage.model = value["model"]?.text }
        }
    }

    private static func count(_ value: JSONValue?) -> UInt64? {
        guard let number = value?.int, number >= 0 else { return nil }
        return UInt64(number)
    }

    private static func contains(_ bytes: ArraySlice<UInt8>, _ needle: String) -> Bool {
        var pattern = needle
        return pattern.withUTF8 { pattern in
            bytes.withUnsafeBytes { haystack in
                guard let base = haystack.baseAddress, let needle = pattern.baseAddress, pattern.count > 0 else {
                    return false
                }
                // memchr for the first byte, memcmp for the rest (memmem is a GNU extension Swift cannot see).
                var offset = 0
                while haystack.count - offset >= pattern.count,
                    let found = memchr(
                        base + offset,
                        Int32(needle.pointee),
                        haystack.count - offset - pattern.count + 1
                    )
                {
                    if memcmp(found, needle, pattern.count) == 0 { return true }
                    offset = base.distance(to: UnsafeRawPointer(found)) + 1
                }
                return false
            }
        }
    }
}
