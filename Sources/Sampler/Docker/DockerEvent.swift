#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// One container event of `GET /events` (API 1.41 shape):
/// `{"Type":"container","Action":"rename","Actor":{"ID":"…","Attributes":{"name":"new","oldName":"/old"}},"time":…}`.
/// Only what the container table needs is kept: the action, the container's ID and name, its image.
struct DockerEvent: Sendable, Equatable {
    /// The lifecycle changes the sampler follows; the events request asks for these alone.
    enum Action: String, Sendable, CaseIterable {
        case start
        case die
        case destroy
        case rename
        case pause
        case unpause
    }

    var action: Action
    /// The container's full ID.
    var containerID: String
    /// The container's name after the event (a rename's new name), without the leading "/".
    var name: String?
    /// The image the container runs, as it was created from.
    var image: String?

    init(action: Action, containerID: String, name: String? = nil, image: String? = nil) {
        self.action = action
        self.containerID = containerID
        self.name = name
        self.image = image
    }

    private struct Wire: Decodable {
        struct Actor: Decodable {
            var ID: String?
            var Attributes: [String: String]?
        }
        var `Type`: String?
        var Action: String?
        var Actor: Actor?
    }

    /// The event in one line of the stream; nil for another type or action, or a line that is
    /// not an event (the caller counts those).
    init?(line: ArraySlice<UInt8>) {
        guard let wire = try? JSONDecoder().decode(Wire.self, from: Data(line)),
            wire.Type == "container", let action = wire.Action.flatMap(Action.init(rawValue:)),
            let id = wire.Actor?.ID, DockerEvent.isContainerID(id)
        else { return nil }
        let attributes = wire.Actor?.Attributes ?? [:]
        self.init(
            action: action,
            containerID: id,
            name: attributes["name"].map(DockerContainer.strippingSlash),
            image: attributes["image"]
        )
    }

    /// A full container ID: 64 lowercase hex digits.
    static func isContainerID(_ text: String) -> Bool {
        text.utf8.count == 64 && text.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }

    /// The `filters` query value asking for container events of the followed actions alone.
    static var filterQuery: String {
        let actions = Action.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ",")
        return "{\"type\":[\"container\"],\"event\":[\(actions)]}"
    }
}
