import WatcherModel
import WatcherProto

/// `POST /v1/usage` bodies: one event object, an array of them, or `{"events": [...]}`, each
/// validated field by field. A body with any invalid event is refused whole (400 naming the
/// event and field); events accepted by earlier requests are never affected.
enum UsageEvents {
    static let maximumEvents = 1000
    /// What the parser allows: no array longer than a batch, no object with more members than
    /// an event could need (the event has 7 fields; a few more get a precise unknown-field error).
    static let limits = JSONParser.Limits(maximumArrayElements: maximumEvents, maximumObjectMembers: 32)
    /// Tokens one event may report: far above any real request, far below overflowing the totals.
    static let maximumTokensPerEvent = 1_000_000_000_000
    /// Characters (Unicode code points, as JSON Schema's `maxLength` counts them) in a model or provider name.
    static let maximumNameCharacters = 256
    /// `latency_ms` is below a day.
    static let latencyLimitMilliseconds = 86_400_000.0
    /// 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999Z in Unix milliseconds: the years RFC 3339
    /// and every date library can hold.
    static let earliestTimestamp: Int64 = -62_135_596_800_000
    static let latestTimestamp: Int64 = 253_402_300_799_999
    static let fields: Set<String> = [
        "client_id", "model", "provider", "tokens_input", "tokens_output", "latency_ms", "timestamp",
    ]

    /// The events of `body` as one-request `ModelUsage` deltas, for `principal`; `defaultClientID`
    /// fills a missing `client_id`. Throws 400 naming what is wrong, 403 for another tenant's event, or
    /// 404 for an event of no configured tenant.
    static func parse(
        _ body: [UInt8],
        principal: Principal,
        defaultClientID: String,
        knownTenants: Set<String>,
        nowUnixMilliseconds now: Int64
    ) throws(APIError) -> [ResourceWatcher_V1_ModelUsage] {
        guard !body.isEmpty else {
            throw .badRequest("empty_body", "the request body is empty; send a usage event as JSON")
        }
        let document: JSONValue
        do throws(JSONParser.SyntaxError) {
            // Bounded while parsing: 1 MiB of `[1,1,1,...]` stops at element 1,001, not after
            // half a million values in memory.
            document = try JSONParser.parse(body, limits: limits)
        } catch  where error.isLimit {
            throw .badRequest(
                "too_many_events",
                "a batch holds at most \(maximumEvents) events and an event at most \(limits.maximumObjectMembers)"
                    + " fields: \(error.message) (line \(error.line), column \(error.column))"
            )
        } catch {
            throw .badRequest(
                "malformed_json",
                "malformed JSON at line \(error.line), column \(error.column): \(error.message)"
            )
        }
        let items: [(path: String, value: JSONValue)]
        switch document {
        case .array(let values):
            items = values.enumerated().map { ("[\($0.offset)]", $0.element) }
        case .object(let object) where object["events"] != nil && object.members.count == 1:
            guard case .array(let values) = object["events"]! else {
                throw .badRequest(
                    "invalid_field",
                    "events must be an array of usage events, got \(object["events"]!.typeDescription)"
                )
            }
            items = values.enumerated().map { ("events[\($0.offset)]", $0.element) }
        case .object:
            items = [("", document)]
        default:
            throw .badRequest(
                "invalid_body",
                "the body must be a usage event object, an array of them, or {\"events\": [...]}; got \(document.typeDescription)"
            )
        }
        guard !items.isEmpty else { throw .badRequest("empty_batch", "the batch holds no events") }
        guard items.count <= maximumEvents else {
            throw .badRequest("too_many_events", "a batch holds at most \(maximumEvents) events; got \(items.count)")
        }
        return try items.map { (item) throws(APIError) in
            try event(
                item.value,
                at: item.path,
                principal: principal,
                defaultClientID: defaultClientID,
                knownTenants: knownTenants,
                now: now
            )
        }
    }

    private static func event(
        _ value: JSONValue,
        at path: String,
        principal: Principal,
        defaultClientID: String,
        knownTenants: Set<String>,
        now: Int64
    ) throws(APIError) -> ResourceWatcher_V1_ModelUsage {
        let prefix = path.isEmpty ? "" : path + "."
        guard case .object(let object) = value else {
            throw .badRequest(
                "invalid_field",
                "\(path.isEmpty ? "the event" : path) must be an object, got \(value.typeDescription)"
            )
        }
        var seen: Set<String> = []
        for member in object.members {
            guard fields.contains(member.key) else {
                throw .badRequest(
                    "unknown_field",
                    "unknown field \(prefix)\(member.key); allowed: \(fields.sorted().joined(separator: ", "))"
                )
            }
            guard seen.insert(member.key).inserted else {
                throw .badRequest("duplicate_field", "\(prefix)\(member.key) appears twice")
            }
        }
        func string(_ name: String, required: Bool) throws(APIError) -> String? {
            guard let field = object[name] else {
                if required { throw .badRequest("missing_field", "\(prefix)\(name) is required") }
                return nil
            }
            guard case .string(let text) = field else {
                throw .badRequest(
                    "invalid_field",
                    "\(prefix)\(name) must be a string, got \(field.typeAndValueDescription)"
                )
            }
            guard !text.isEmpty, text.unicodeScalars.count <= maximumNameCharacters else {
                throw .badRequest(
                    "invalid_field",
                    "\(prefix)\(name) must be 1 to \(maximumNameCharacters) characters long"
                )
            }
            guard !text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
                throw .badRequest("invalid_field", "\(prefix)\(name) must not contain control characters")
            }
            return text
        }
        func count(_ name: String) throws(APIError) -> UInt64 {
            guard let field = object[name] else { throw .badRequest("missing_field", "\(prefix)\(name) is required") }
            guard case .number(let number) = field, let integer = number.integer else {
                throw .badRequest(
                    "invalid_field",
                    "\(prefix)\(name) must be a whole number, got \(field.typeAndValueDescription)"
                )
            }
            guard integer >= 0 else {
                throw .badRequest("invalid_field", "\(prefix)\(name) must not be negative, got \(integer)")
            }
            guard integer <= maximumTokensPerEvent else {
                throw .badRequest(
                    "invalid_field",
                    "\(prefix)\(name) must be at most \(maximumTokensPerEvent), got \(integer)"
                )
            }
            return UInt64(integer)
        }
        let model = try string("model", required: true)!
        let provider = try string("provider", required: false) ?? "unknown"
        let clientID: String
        if let given = try string("client_id", required: false) {
            guard isIdentifier(given) else {
                throw .badRequest(
                    "invalid_field",
                    "\(prefix)client_id must be 1 to 128 characters: a letter or digit, then letters, digits, '_', '.' or '-'"
                )
            }
            clientID = given
        } else if case .tenant(let own) = principal {
            clientID = own
        } else {
            clientID = defaultClientID
        }
        guard principal.mayAccess(clientID) else {
            throw .forbidden("\(prefix)client_id \"\(clientID)\" belongs to another tenant")
        }
        guard knownTenants.contains(clientID) else {
            // 404 as on the reads: the event is valid, the agent holds no such tenant.
            throw APIError(
                .notFound,
                code: "unknown_client_id",
                "\(prefix)client_id \"\(clientID)\" is not a configured tenant"
            )
        }
        var usage = ResourceWatcher_V1_ModelUsage()
        usage.clientID = clientID
        usage.name = model
        usage.provider = provider
        usage.requestsCount = 1
        usage.tokensInput = try count("tokens_input")
        usage.tokensOutput = try count("tokens_output")
        if let field = object["latency_ms"] {
            guard case .number(let number) = field, number.double.isFinite, number.double >= 0,
                number.double < latencyLimitMilliseconds
            else {
                throw .badRequest(
                    "invalid_field",
                    "\(prefix)latency_ms must be a number >= 0 and < 86400000 (a day), got \(field.typeAndValueDescription)"
                )
            }
            ModelLatencyBuckets.observe(microseconds: UInt64((number.double * 1000).rounded()), on: &usage)
        }
        usage.lastUsedUnixMs = now
        if let text = try string("timestamp", required: false) {
            guard let time = RFC3339.parse(text) else {
                throw .badRequest(
                    "invalid_field",
                    "\(prefix)timestamp must be an RFC 3339 time such as 2025-04-05T19:40:00Z, got \"\(text)\""
                )
            }
            // An offset can carry 0001-01-01 or 9999-12-31 past those years in UTC; `last_used`
            // must stay a valid RFC 3339 time, so the instant is clamped to them.
            usage.lastUsedUnixMs = min(max(time, earliestTimestamp), latestTimestamp)
        }
        return usage
    }
}
