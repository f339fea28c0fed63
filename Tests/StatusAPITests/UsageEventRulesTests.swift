import Testing
import WatcherModel
import WatcherProto

@testable import StatusAPI

/// `POST /v1/usage` at the edges of the rules docs/openapi.json states (issue 11): what the
/// document allows is accepted, and what it does not is refused with 400 naming the field.
@Suite("POST /v1/usage rules at their edges")
struct UsageEventRulesTests {
    private func parse(_ body: String) throws(APIError) -> [ResourceWatcher_V1_ModelUsage] {
        try UsageEvents.parse(
            Array(body.utf8),
            principal: .tenant("acme"),
            defaultClientID: "default",
            knownTenants: ["acme", "default"],
            nowUnixMilliseconds: 0
        )
    }

    private func refusal(_ body: String) -> APIError? {
        do {
            _ = try parse(body)
            return nil
        } catch {
            return error
        }
    }

    private func event(_ members: String) -> String { #"{"tokens_input": 1, "tokens_output": 1, \#(members)}"# }

    @Test("a name of 256 characters is accepted whatever its UTF-8 length (maxLength counts code points); 257 is not")
    func nameLengthCountsCharacters() throws {
        for character in ["a", "é", "🦙"] {
            let longest = String(repeating: character, count: 256)
            let events = try parse(event(#""model": "\#(longest)", "provider": "\#(longest)""#))
            #expect(events.first?.name == longest)
            #expect(events.first?.provider == longest)
            let error = refusal(event(#""model": "\#(longest)\#(character)""#))
            #expect(error?.code == "invalid_field" && error?.message.contains("256 characters") == true)
        }
        #expect(refusal(event(#""model": """#))?.code == "invalid_field")
    }

    @Test("a name with a control character is refused; other characters, DEL's neighbours included, are not")
    func namesRefuseControlCharacters() throws {
        for escaped in ["\\u0000", "\\u001f", "\\n", "\\u007f"] {
            #expect(refusal(event(#""model": "a\#(escaped)b""#))?.code == "invalid_field", "\(escaped)")
        }
        let allowed = "~\u{80}\u{A0}\u{2028}"
        #expect(try parse(event(#""model": "\#(allowed)""#)).first?.name == allowed)
    }

    @Test("an event's client_id follows the config's tenant-name rule, checked before whose tenant it is")
    func clientIDIsATenantName() throws {
        #expect(try parse(event(#""model": "m", "client_id": "acme""#)).first?.clientID == "acme")
        for bad in ["acme corp", "-acme", ".acme", "acmé", "acme/1", String(repeating: "a", count: 129)] {
            let error = refusal(event(#""model": "m", "client_id": "\#(bad)""#))
            #expect(error?.status == .badRequest && error?.message.contains("client_id") == true, "\(bad)")
        }
        // A well-formed name of another tenant, 128 characters long too, is a question of access, not of form.
        for other in ["globex", String(repeating: "a", count: 128)] {
            #expect(refusal(event(#""model": "m", "client_id": "\#(other)""#))?.status == .forbidden)
        }
    }

    @Test("a timestamp whose offset carries it past year 9999 or before year 1 is kept at that end")
    func timestampsStayWithinRFC3339Years() throws {
        let late = try parse(event(#""model": "m", "timestamp": "9999-12-31T23:59:59-23:59""#))
        #expect(late.first?.lastUsedUnixMs == UsageEvents.latestTimestamp)
        #expect(RFC3339.format(unixMilliseconds: UsageEvents.latestTimestamp) == "9999-12-31T23:59:59Z")
        let early = try parse(event(#""model": "m", "timestamp": "0001-01-01T00:00:00+00:01""#))
        #expect(early.first?.lastUsedUnixMs == UsageEvents.earliestTimestamp)
        #expect(RFC3339.format(unixMilliseconds: UsageEvents.earliestTimestamp) == "0001-01-01T00:00:00Z")
        let plain = try parse(event(#""model": "m", "timestamp": "2025-04-05T21:40:00.5+02:00""#))
        #expect(plain.first?.lastUsedUnixMs == 1_743_882_000_500)
    }

    @Test("Content-Type must be application/json, parameters allowed; look-alike types are not JSON")
    func jsonMediaType() {
        for type in ["application/json", "Application/JSON", "application/json; charset=utf-8", " application/json "] {
            #expect(StatusRoutes.isJSONMediaType(type), "\(type)")
        }
        for type in ["application/jsonl", "application/json-seq", "application/json+x", "text/json", "", "application"]
        {
            #expect(!StatusRoutes.isJSONMediaType(type), "\(type)")
        }
    }
}
