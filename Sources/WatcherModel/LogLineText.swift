/// Text of the agent's own log lines (`time level message key=value ...`). Messages and values
/// often come from outside (a sink's error body, a file name, a Docker answer): escaped here,
/// they cannot end the line, start a forged one, or smuggle in a `key=value` pair.
public enum LogLineText {
    /// `text` with backslash, newline, carriage return, tab and every other control character
    /// escaped (`\\`, `\n`, `\r`, `\t`, `\u{1b}`), so it stays on one line.
    public static func escaped(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: needsEscape) else { return text }
        var result = ""
        result.reserveCapacity(text.utf8.count + 8)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            default:
                if needsEscape(scalar) {
                    result += "\\u{" + String(scalar.value, radix: 16) + "}"
                } else {
                    result.unicodeScalars.append(scalar)
                }
            }
        }
        return result
    }

    /// A metadata value as it appears after `key=`: escaped, and in double quotes (with `"`
    /// escaped) when it is empty or holds a space, `"` or `=`.
    public static func value(_ text: String) -> String {
        let escaped = escaped(text)
        guard escaped.isEmpty || escaped.contains(where: { $0 == " " || $0 == "\"" || $0 == "=" }) else {
            return escaped
        }
        var quoted = "\""
        for character in escaped {
            if character == "\"" { quoted += "\\\"" } else { quoted.append(character) }
        }
        return quoted + "\""
    }

    private static func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
        scalar == "\\" || scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value)
            || scalar.value == 0x2028 || scalar.value == 0x2029
    }
}
