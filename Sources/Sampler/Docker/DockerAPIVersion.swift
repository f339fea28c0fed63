/// A Docker Engine API version ("1.41"), compared numerically (1.9 < 1.10).
struct DockerAPIVersion: Sendable, Hashable, Comparable, CustomStringConvertible {
    var major: Int
    var minor: Int

    init(_ major: Int, _ minor: Int) {
        self.major = major
        self.minor = minor
    }

    /// "1.41" (an optional leading "v" is accepted); nil for anything else.
    init?(_ text: String) {
        let digits = text.hasPrefix("v") ? text.dropFirst() : Substring(text)
        let parts = digits.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, let major = Int(parts[0]), let minor = Int(parts[1]), major >= 0, minor >= 0 else {
            return nil
        }
        self.init(major, minor)
    }

    var description: String { "\(major).\(minor)" }

    static func < (left: DockerAPIVersion, right: DockerAPIVersion) -> Bool {
        (left.major, left.minor) < (right.major, right.minor)
    }

    /// The newest version whose documents the agent knows; an engine offering more is spoken to in this one.
    static let newestKnown = DockerAPIVersion(1, 43)
    /// The oldest version the agent can work with: `logs?until=` needs 1.35 (Docker 17.12).
    static let oldestSupported = DockerAPIVersion(1, 35)
    /// `stats?one-shot=true` (no second reading a second later) exists from 1.41 (Docker 20.10).
    static let oneShotStats = DockerAPIVersion(1, 41)
    /// What an engine whose `/_ping` names no version speaks, as Docker's own client assumes.
    static let unannounced = DockerAPIVersion(1, 24)
}
