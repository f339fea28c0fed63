import TestSupport
import Testing
import WatcherModel
import WatcherProto

@testable import Sampler

#if canImport(Glibc)
import Glibc
#endif

/// The bounds and the owner of discovered components, with real processes: copies of
/// `/bin/sleep` named after a rule's executable. The many processes of the cap tests match a
/// rule of their own, so samplers of other tests running meanwhile (the shipped rules) neither
/// see them nor count toward their caps.
@Suite("Discovered components: cap and owner", .serialized)
struct DiscoveryCapTests {
    private static let rule = DiscoveryRule(name: "cap-test", executables: ["rw-cap-test"])

    private func sleepers(
        _ count: Int,
        named executable: String,
        in directory: TemporaryDirectory
    ) throws
        -> [ChildProcess]
    {
        let path = directory.path + "/" + executable
        _ = try ChildProcess("/bin/cp", ["/bin/sleep", path]).finish()
        return try (0..<count).map { _ in try ChildProcess(path, ["600"]) }
    }

    @Test(
        "34 services of one rule make 32 discovered components (discovery.max_components' default); the 2 beyond are counted once each as discovered_components_over_limit"
    )
    func discoveredComponentsAreCapped() throws {
        let directory = TemporaryDirectory()
        let processes = try sleepers(34, named: "rw-cap-test", in: directory)
        defer {
            for process in processes { process.killGroup() }
        }
        let limits = SourceLimits()
        let sampler = ProcessComponentSampler(
            components: [],
            discovery: DiscoveryConfig(enabled: true, intervalSeconds: 1),
            rules: [Self.rule],
            sourceLimits: limits
        )
        var now = ContinuousClock.now
        let samples = sampler.sample(now: now)
        let ours = Set(processes.map(\.pid))
        let discovered = sampler.discoveredComponents()
        #expect(discovered.count == 32, "\(discovered.count) discovered components")
        #expect(samples.filter(\.discovered).count == 32)
        #expect(discovered.allSatisfy { ours.contains($0.pid) })
        #expect(limits.count(component: "cap-test", reason: "discovered_components_over_limit") == 2)
        // The next scans find the same services beyond the cap: not counted again.
        for _ in 0..<2 {
            now += .seconds(2)
            _ = sampler.sample(now: now)
        }
        #expect(sampler.discoveredComponents().count == 32)
        #expect(limits.count(component: "cap-test", reason: "discovered_components_over_limit") == 2)
    }

    @Test("discovery.max_components is read from the config (0 to 1024), and a value out of range names its path")
    func maxComponentsIsConfigured() throws {
        let set = try ConfigLoader.parse(
            json: Array(#"{"discovery": {"enabled": true, "max_components": 3}, "components": []}"#.utf8),
            source: "test"
        )
        #expect(set.discovery.maxComponents == 3)
        #expect(
            try ConfigLoader.parse(json: Array(#"{"components": []}"#.utf8), source: "test").discovery.maxComponents
                == 32
        )
        do {
            _ = try ConfigLoader.parse(
                json: Array(#"{"discovery": {"max_components": 5000}, "components": []}"#.utf8),
                source: "test"
            )
            Issue.record("max_components 5000 was accepted")
        } catch {
            #expect("\(error)".contains("$.discovery.max_components"), "\(error)")
        }
        let directory = TemporaryDirectory()
        let processes = try sleepers(5, named: "rw-cap-test", in: directory)
        defer {
            for process in processes { process.killGroup() }
        }
        let sampler = ProcessComponentSampler(components: [], discovery: set.discovery, rules: [Self.rule])
        _ = sampler.sample()
        #expect(sampler.discoveredComponents().count == 3)
    }

    @Test("a discovered component shows the user its process runs as (discovered_owner)")
    func ownerIsShown() throws {
        let directory = TemporaryDirectory()
        let processes = try sleepers(1, named: "chroma", in: directory)
        defer {
            for process in processes { process.killGroup() }
        }
        let sampler = ProcessComponentSampler(components: [], discovery: DiscoveryConfig(enabled: true))
        let samples = sampler.sample()
        let component = try #require(sampler.discoveredComponents().first { $0.pid == processes[0].pid })
        let expected = getpwuid(geteuid()).flatMap { $0.pointee.pw_name.map { String(cString: $0) } } ?? "\(geteuid())"
        #expect(component.owner == expected)
        #expect(samples.first { $0.name == component.name }?.discoveredOwner == expected)
        var configured = ResourceWatcher_V1_ComponentSample()
        configured.name = "x"
        #expect(configured.discoveredOwner.isEmpty)
        // A uid the user database does not name shows as its number.
        #expect(ProcessOwner.effectiveUID(Array("Name:\tx\nUid:\t1000\t4242\t1000\t1000\n".utf8)) == 4242)
    }
}
