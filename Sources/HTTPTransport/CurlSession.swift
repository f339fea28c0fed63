import CCurl

/// `curl_global_init` must run once before any other libcurl call and is not thread-safe itself;
/// Swift initialises a global lazily under `swift_once`, so this runs exactly once.
private let curlGlobalInitResult = Int(rw_curl_global_init_default().rawValue)

/// One libcurl easy handle and the buffers it points at. Confined to its transport's worker
/// thread: made there, used only by jobs there, cleaned up there.
///
/// The handle is reset before each request (`curl_easy_reset` keeps its connection cache, so
/// keep-alive connections survive), then configured from scratch.
final class CurlSession {
    private let handle: UnsafeMutableRawPointer
    /// CURLOPT_ERRORBUFFER: libcurl writes its detailed message here on failure.
    private let errorBuffer: UnsafeMutablePointer<CChar>
    /// The POST body pointer for an empty body: libcurl reads a null CURLOPT_POSTFIELDS as "use
    /// the read callback", so an empty body still needs a valid address.
    private let emptyBody: UnsafeMutablePointer<UInt8>
    private let options: CurlTransport.Options

    init(options: CurlTransport.Options) {
        precondition(curlGlobalInitResult == 0, "curl_global_init failed: \(curlGlobalInitResult)")
        guard let handle = curl_easy_init() else { preconditionFailure("curl_easy_init failed") }
        self.handle = handle
        self.errorBuffer = .allocate(capacity: Int(CURL_ERROR_SIZE))
        self.emptyBody = .allocate(capacity: 1)
        self.options = options
    }

    deinit {
        curl_easy_cleanup(handle)
        errorBuffer.deallocate()
        emptyBody.deallocate()
    }

    /// Runs one request to completion on the calling (worker) thread.
    func perform(
        _ request: HTTPRequest,
        cancellation: CancellationFlag,
        receiver: HTTPStreamReceiver? = nil
    ) -> Result<HTTPResponse, HTTPTransportError> {
        if cancellation.isCancelled {
            return .failure(HTTPTransportError(code: .cancelled, message: "cancelled before it was sent"))
        }
        curl_easy_reset(handle)
        errorBuffer[0] = 0
        let transfer = CurlTransfer(
            maximumBodyBytes: options.maximumResponseBodyBytes,
            cancellation: cancellation,
            receiver: receiver
        )
        let sendsBody = !request.body.isEmpty || [.post, .put, .patch].contains(request.method)
        var headerList: UnsafeMutablePointer<curl_slist>? = nil
        defer { curl_slist_free_all(headerList) }
        for line in headerLines(request, sendsBody: sendsBody) {
            guard let appended = curl_slist_append(headerList, line) else {
                return .failure(HTTPTransportError(code: .other, message: "out of memory building the header list"))
            }
            headerList = appended
        }

        var setup = OptionSetter(handle: handle)
        setup.long(CURLOPT_NOSIGNAL, 1)
        setup.pointer(CURLOPT_ERRORBUFFER, errorBuffer)
        setup.string(CURLOPT_URL, request.url)
        if let path = options.unixSocketPath { setup.string(CURLOPT_UNIX_SOCKET_PATH, path) }
        setup.string(CURLOPT_USERAGENT, options.userAgent)
        if options.acceptGzip { setup.string(CURLOPT_ACCEPT_ENCODING, "") }
        setup.long(CURLOPT_CONNECTTIMEOUT_MS, Self.milliseconds(request.connectTimeout ?? options.connectTimeout))
        setup.long(CURLOPT_TIMEOUT_MS, Self.milliseconds(request.timeout ?? options.requestTimeout))
        setup.slist(CURLOPT_HTTPHEADER, headerList)
        let transferPointer = Unmanaged.passUnretained(transfer).toOpaque()
        setup.code(rw_curl_setopt_write_function(handle, CurlTransfer.writeCallback))
        setup.pointer(CURLOPT_WRITEDATA, transferPointer)
        setup.code(rw_curl_setopt_header_function(handle, CurlTransfer.headerCallback))
        setup.pointer(CURLOPT_HEADERDATA, transferPointer)
        setup.code(rw_curl_setopt_xferinfo_function(handle, CurlTransfer.progressCallback))
        setup.pointer(CURLOPT_XFERINFODATA, transferPointer)
        setup.long(CURLOPT_NOPROGRESS, 0)

        // The body is not copied: CURLOPT_POSTFIELDS points into it, so the transfer runs inside
        // the closure that keeps the pointer valid.
        let code = request.body.withUnsafeBytes { body -> CURLcode in
            switch request.method {
            case .head:
                setup.long(CURLOPT_NOBODY, 1)
            case .get where !sendsBody:
                setup.long(CURLOPT_HTTPGET, 1)
            default:
                break
            }
            if sendsBody {
                setup.long(CURLOPT_POSTFIELDSIZE, body.count)
                setup.pointer(
                    CURLOPT_POSTFIELDS,
                    UnsafeMutableRawPointer(mutating: body.baseAddress) ?? UnsafeMutableRawPointer(emptyBody)
                )
                if request.method != .post { setup.string(CURLOPT_CUSTOMREQUEST, request.method.rawValue) }
            } else if request.method != .get && request.method != .head {
                setup.string(CURLOPT_CUSTOMREQUEST, request.method.rawValue)
            }
            if let failure = setup.firstFailure { return failure }
            return withExtendedLifetime(transfer) { curl_easy_perform(handle) }
        }

        // A receiver that stopped the stream ended it on purpose: that is its end, not a failure.
        guard code == CURLE_OK || transfer.stoppedByReceiver else {
            return .failure(error(for: code, transfer: transfer))
        }
        var status = 0
        _ = rw_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
        return .success(HTTPResponse(status: status, headers: transfer.headers, body: transfer.body))
    }

    /// "Name: value" lines, plus the blanks that stop libcurl adding its own defaults: a form
    /// `Content-Type` on bodies, and `Expect: 100-continue` (a round trip many receivers mishandle).
    private func headerLines(_ request: HTTPRequest, sendsBody: Bool) -> [String] {
        // "Name;" is libcurl's spelling of a header sent with an empty value; "Name:" removes it.
        var lines = request.headers.map { $0.value.isEmpty ? "\($0.name);" : "\($0.name): \($0.value)" }
        if sendsBody && !request.hasHeader("Content-Type") { lines.append("Content-Type:") }
        if sendsBody && !request.hasHeader("Expect") { lines.append("Expect:") }
        return lines
    }

    private func error(for code: CURLcode, transfer: CurlTransfer) -> HTTPTransportError {
        let detail = String(cString: errorBuffer)
        let message = detail.isEmpty ? String(cString: curl_easy_strerror(code)) : detail
        let kind: HTTPTransportError.Code
        switch code {
        case CURLE_COULDNT_CONNECT, CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY:
            kind = .connect
        case CURLE_OPERATION_TIMEDOUT:
            kind = .timeout
        case CURLE_ABORTED_BY_CALLBACK where transfer.cancellation.isCancelled:
            kind = .cancelled
        case CURLE_WRITE_ERROR where transfer.bodyTooLarge:
            return HTTPTransportError(
                code: .responseTooLarge,
                message: "response body exceeds \(transfer.maximumBodyBytes) bytes",
                curlCode: Int(code.rawValue)
            )
        case CURLE_URL_MALFORMAT, CURLE_UNSUPPORTED_PROTOCOL, CURLE_BAD_FUNCTION_ARGUMENT, CURLE_UNKNOWN_OPTION:
            kind = .invalidRequest
        default:
            kind = .other
        }
        return HTTPTransportError(code: kind, message: message, curlCode: Int(code.rawValue))
    }

    /// Milliseconds, rounded up and at least 1: libcurl reads 0 as "no timeout".
    static func milliseconds(_ duration: Duration) -> Int {
        let (seconds, attoseconds) = duration.components
        let whole = seconds.multipliedReportingOverflow(by: 1000)
        guard !whole.overflow else { return Int.max }
        let fraction = (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000
        return max(1, Int(whole.partialValue + fraction))
    }
}

/// Sets options on a handle, remembering the first that libcurl refused.
private struct OptionSetter {
    let handle: UnsafeMutableRawPointer
    private(set) var firstFailure: CURLcode?

    init(handle: UnsafeMutableRawPointer) { self.handle = handle }

    mutating func code(_ result: CURLcode) {
        if result != CURLE_OK && firstFailure == nil { firstFailure = result }
    }

    mutating func long(_ option: CURLoption, _ value: Int) { code(rw_curl_setopt_long(handle, option, value)) }

    /// libcurl copies string options (all but CURLOPT_POSTFIELDS), so a temporary C string will do.
    mutating func string(_ option: CURLoption, _ value: String) { code(rw_curl_setopt_string(handle, option, value)) }

    mutating func pointer(_ option: CURLoption, _ value: UnsafeMutableRawPointer?) {
        code(rw_curl_setopt_pointer(handle, option, value))
    }

    mutating func pointer(_ option: CURLoption, _ value: UnsafeMutablePointer<CChar>) {
        pointer(option, UnsafeMutableRawPointer(value))
    }

    mutating func slist(_ option: CURLoption, _ value: UnsafeMutablePointer<curl_slist>?) {
        code(rw_curl_setopt_slist(handle, option, value))
    }
}
