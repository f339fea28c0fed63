import CCurl

/// What libcurl's callbacks collect during one transfer: the final response's headers and its body.
///
/// Passed to the callbacks as an unretained pointer; `CurlSession.perform` keeps it alive for the
/// whole of `curl_easy_perform`. With a `receiver` (a streamed request), a 2xx body is handed to
/// it as it arrives instead of being kept; any other status's body is kept (bounded) as usual.
final class CurlTransfer {
    let maximumBodyBytes: Int
    let cancellation: CancellationFlag
    let receiver: HTTPStreamReceiver?
    private(set) var headers: [(name: String, value: String)] = []
    private(set) var body: [UInt8] = []
    /// Set when the body passed `maximumBodyBytes` and the write callback aborted the transfer.
    private(set) var bodyTooLarge = false
    /// The status of the response being received (from its status line); 0 before one.
    private var status = 0
    /// Set when the receiver asked to stop: the transfer was aborted on purpose.
    private(set) var stoppedByReceiver = false

    init(maximumBodyBytes: Int, cancellation: CancellationFlag, receiver: HTTPStreamReceiver? = nil) {
        self.maximumBodyBytes = maximumBodyBytes
        self.cancellation = cancellation
        self.receiver = receiver
    }

    /// CURLOPT_WRITEFUNCTION: appends body bytes; returning less than given aborts the transfer.
    static let writeCallback: @convention(c) (UnsafeMutablePointer<CChar>?, Int, Int, UnsafeMutableRawPointer?) -> Int =
        {
            buffer,
            size,
            count,
            context in
            let transfer = Unmanaged<CurlTransfer>.fromOpaque(context!).takeUnretainedValue()
            let length = size * count
            guard length > 0, let buffer else { return length }
            return transfer.receiveBody(UnsafeRawBufferPointer(start: buffer, count: length)) ? length : 0
        }

    /// CURLOPT_HEADERFUNCTION: called once per header line, status lines included.
    static let headerCallback:
        @convention(c) (UnsafeMutablePointer<CChar>?, Int, Int, UnsafeMutableRawPointer?) -> Int = {
            buffer,
            size,
            count,
            context in
            let transfer = Unmanaged<CurlTransfer>.fromOpaque(context!).takeUnretainedValue()
            let length = size * count
            if length > 0, let buffer {
                transfer.receiveHeaderLine(UnsafeRawBufferPointer(start: buffer, count: length))
            }
            return length
        }

    /// CURLOPT_XFERINFOFUNCTION: libcurl calls it at least about once a second, also while
    /// waiting; non-zero aborts the transfer with CURLE_ABORTED_BY_CALLBACK.
    static let progressCallback:
        @convention(c) (UnsafeMutableRawPointer?, curl_off_t, curl_off_t, curl_off_t, curl_off_t) -> Int32 = {
            context,
            _,
            _,
            _,
            _ in
            Unmanaged<CurlTransfer>.fromOpaque(context!).takeUnretainedValue().cancellation.isCancelled ? 1 : 0
        }

    private func receiveBody(_ bytes: UnsafeRawBufferPointer) -> Bool {
        if let receiver, (200..<300).contains(status) {
            guard receiver.body(Array(bytes)) else {
                stoppedByReceiver = true
                return false
            }
            return true
        }
        guard body.count + bytes.count <= maximumBodyBytes else {
            bodyTooLarge = true
            return false
        }
        body.append(contentsOf: bytes)
        return true
    }

    /// A status line starts a new response (after a 1xx), so it clears what came before; a line
    /// starting with white space continues the previous field (obsolete folding).
    private func receiveHeaderLine(_ bytes: UnsafeRawBufferPointer) {
        var line = bytes[...]
        while let last = line.last, last == 0x0A || last == 0x0D { line = line.dropLast() }
        guard let first = line.first else {
            // The blank line ending a final response's header block: a streamed request learns its status.
            if status >= 200 { receiver?.response(status) }
            return
        }
        if line.starts(with: Array("HTTP/".utf8)) {
            headers.removeAll()
            // "HTTP/1.1 200 OK": the code is the second field.
            let fields = line.split(separator: 0x20, maxSplits: 2)
            status = fields.count >= 2 ? Int(String(decoding: fields[1], as: UTF8.self)) ?? 0 : 0
            return
        }
        if first == 0x20 || first == 0x09 {
            if !headers.isEmpty {
                headers[headers.count - 1].value += " " + String(decoding: trimmed(line), as: UTF8.self)
            }
            return
        }
        guard let colon = line.firstIndex(of: 0x3A) else { return }
        let name = String(decoding: line[..<colon], as: UTF8.self)
        let value = String(decoding: trimmed(line[(colon + 1)...]), as: UTF8.self)
        headers.append((name: name, value: value))
    }

    private func trimmed(_ bytes: Slice<UnsafeRawBufferPointer>) -> Slice<UnsafeRawBufferPointer> {
        var bytes = bytes
        while let first = bytes.first, first == 0x20 || first == 0x09 { bytes = bytes.dropFirst() }
        while let last = bytes.last, last == 0x20 || last == 0x09 { bytes = bytes.dropLast() }
        return bytes
    }
}
