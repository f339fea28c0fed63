import Testing

@testable import WatcherModel

@Suite struct JSONParserTests {
    private func parse(_ text: String) throws(JSONParser.SyntaxError) -> JSONValue {
        try JSONParser.parse(Array(text.utf8))
    }

    private func syntaxError(_ text: String) -> JSONParser.SyntaxError? {
        do {
            _ = try parse(text)
            return nil
        } catch {
            return error
        }
    }

    @Test func scalarsArraysAndObjectsParse() throws {
        #expect(try parse(" true ") == .bool(true))
        #expect(try parse("null") == .null)
        #expect(
            try parse("[1, -2.5e1, \"x\"]")
                == .array([
                    .number(JSONNumber(text: "1", double: 1, integer: 1)),
                    .number(JSONNumber(text: "-2.5e1", double: -25, integer: -25)),
                    .string("x"),
                ])
        )
        guard case .object(let object) = try parse(#"{"a": {"b": []}, "c": false}"#) else {
            Issue.record("not an object")
            return
        }
        #expect(object.members.map(\.key) == ["a", "c"])
    }

    @Test func stringEscapesAndUnicodeAreDecoded() throws {
        #expect(try parse(#""a\"b\\c\/d\n\t\u00e9\ud83d\ude00""#) == .string("a\"b\\c/d\n\té😀"))
        #expect(try parse("\"héllo\"") == .string("héllo"))
    }

    @Test func integersKeepTheirExactValue() throws {
        #expect(
            try parse("9007199254740993")
                == .number(
                    JSONNumber(text: "9007199254740993", double: 9_007_199_254_740_992, integer: 9_007_199_254_740_993)
                )
        )
        guard case .number(let huge) = try parse("1e30") else { return }
        #expect(huge.integer == nil)
    }

    @Test func errorsSayWhereTheyAre() {
        #expect(syntaxError("") == .init(line: 1, column: 1, message: "unexpected end of input, expected a value"))
        #expect(syntaxError("{\n  \"a\": 1,\n}") == .init(line: 3, column: 1, message: "trailing comma before '}'"))
        #expect(syntaxError("[1,]") == .init(line: 1, column: 4, message: "trailing comma before ']'"))
        #expect(syntaxError("{\"é\": x}") == .init(line: 1, column: 7, message: "unexpected 'x', expected a value"))
        #expect(syntaxError("{} {}")?.message == "unexpected '{' after the end of the JSON value")
        #expect(syntaxError("// comment\n{}")?.message == "comments are not allowed in JSON")
        #expect(syntaxError("{'a': 1}")?.message == "unexpected ''', expected a key in double quotes")
        #expect(syntaxError("\"abc")?.message == "unterminated string")
        #expect(syntaxError("01")?.message == "numbers must not have leading zeros")
        #expect(syntaxError("[\"\\x\"]")?.message == "invalid escape '\\x' in a string")
        #expect(syntaxError("\"\\ud800\"")?.message == "unpaired UTF-16 surrogate in a \\u escape")
        #expect(syntaxError("{\"a\" 1}")?.message == "unexpected '1', expected ':' after the key \"a\"")
    }

    @Test func invalidUTF8IsRefused() {
        #expect(throws: JSONParser.SyntaxError.self) { try JSONParser.parse([0x22, 0xFF, 0x22]) }
    }

    @Test func deepNestingIsRefusedRatherThanOverflowingTheStack() {
        let deep = String(repeating: "[", count: 100_000)
        #expect(syntaxError(deep)?.message == "nesting deeper than 512 levels")
    }
}

@Suite struct KeySuggestionTests {
    @Test func closeKeysAreSuggestedAndFarOnesAreNot() {
        let keys = ["port", "metrics_port", "poll_interval_seconds", "listen_address", "log_level"]
        #expect(closestKey(to: "pollinterval", among: keys) == "poll_interval_seconds")
        #expect(closestKey(to: "metrics-port", among: keys) == "metrics_port")
        #expect(closestKey(to: "prot", among: keys) == "port")
        #expect(closestKey(to: "ports", among: keys) == "port")
        #expect(closestKey(to: "listen_adress", among: keys) == "listen_address")
        #expect(closestKey(to: "LogLevel", among: keys) == "log_level")
        #expect(closestKey(to: "banana", among: keys) == nil)
        #expect(closestKey(to: "x", among: keys) == nil)
    }
}
