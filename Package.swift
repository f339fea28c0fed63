// swift-tools-version:6.2
import PackageDescription

/// Every target builds in Swift 6 language mode with strict concurrency checking.
let swiftSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "resource-watcher",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "resource-watcher", targets: ["resource-watcher"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.39.0", traits: []),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1", traits: []),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
    ],
    targets: [
        // C libraries from Debian's -dev packages, and small C shims.
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CSnappy", pkgConfig: "snappy", providers: [.apt(["libsnappy-dev"])]),
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        // SHA-256 from the libcrypto libcurl already loads: swift-crypto would bring Foundation,
        // ICU and a second copy of BoringSSL into the agent (about 12 MiB of resident memory).
        .systemLibrary(name: "CCrypto", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        .target(name: "CRC32C", cSettings: [.unsafeFlags(["-O3"])]),

        // Generated protobuf code (see `make proto`); committed, never generated at build time.
        .target(
            name: "WatcherProto",
            dependencies: [.product(name: "SwiftProtobuf", package: "swift-protobuf")],
            swiftSettings: swiftSettings
        ),
        // The shared model (batches, samples, alerts, log records) and the configuration.
        .target(
            name: "WatcherModel",
            dependencies: [
                "WatcherProto",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Spool",
            dependencies: [
                "CZstd", "CRC32C",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // HTTP over libcurl on a dedicated thread per client (Shipper sinks, Docker Engine API).
        .target(
            name: "HTTPTransport",
            dependencies: ["CCurl", .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Sampler",
            dependencies: [
                "WatcherModel", "WatcherProto", "Spool", "HTTPTransport", "ModelUsage",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Shipper",
            dependencies: [
                "Spool", "WatcherModel", "WatcherProto", "CSnappy", "HTTPTransport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // Model usage from every source into the ledger, durably (recorder), and the readers of
        // LLM responses and LLM servers' metrics.
        .target(
            name: "ModelUsage",
            dependencies: [
                "WatcherModel", "WatcherProto", "Spool",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            swiftSettings: swiftSettings
        ),
        // The metering proxies in front of Ollama / OpenAI-compatible servers.
        .target(
            name: "MeteringProxy",
            dependencies: [
                // StatusAPI: the connection guard and the token check the proxies share with the API.
                "ModelUsage", "WatcherModel", "WatcherProto", "StatusAPI",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "StatusAPI",
            dependencies: [
                "WatcherModel", "WatcherProto", "Spool", "ModelUsage", "CCrypto",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "resource-watcher",
            dependencies: [
                "WatcherModel", "WatcherProto", "Spool", "Sampler", "Shipper", "StatusAPI", "HTTPTransport",
                "ModelUsage", "MeteringProxy",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // Test helper: appends to a spool as fast as it can, printing each sequence number
        // that append returned, so the crash test can `kill -9` it and check the promise.
        // Helpers shared by test targets and the crash-test writer.
        .target(
            name: "TestSupport",
            dependencies: ["HTTPTransport", .product(name: "Logging", package: "swift-log")],
            path: "Tests/TestSupport",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "SpoolCrashWriter",
            dependencies: ["Spool", "TestSupport", .product(name: "Logging", package: "swift-log")],
            path: "Tests/SpoolCrashWriter",
            swiftSettings: swiftSettings
        ),
        // `make soak`: the built agent for minutes against sinks that fail, with kill -9 restarts.
        .executableTarget(
            name: "resource-watcher-soak",
            dependencies: [
                "WatcherModel", "HTTPTransport", "TestSupport", "Spool", "Shipper", "WatcherProto",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            swiftSettings: swiftSettings
        ),
        // `make bench`: release-build benchmarks printing figures against same-run baselines.
        .executableTarget(
            name: "resource-watcher-bench",
            dependencies: [
                "WatcherModel", "Spool", "Sampler", "Shipper", "HTTPTransport", "WatcherProto", "StatusAPI",
                "TestSupport", "ModelUsage", "MeteringProxy",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ModelUsageTests",
            dependencies: [
                "ModelUsage", "WatcherModel", "WatcherProto", "Spool", "TestSupport", "HTTPTransport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SpoolTests",
            dependencies: ["Spool", "TestSupport", .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "HTTPTransportTests",
            dependencies: ["HTTPTransport", "TestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ShipperTests",
            dependencies: [
                "Shipper", "WatcherProto", "WatcherModel", "Spool", "HTTPTransport", "TestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "StatusAPITests",
            dependencies: [
                "StatusAPI", "ModelUsage", "WatcherProto", "WatcherModel", "Spool", "HTTPTransport", "TestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "WatcherModelTests",
            dependencies: ["WatcherModel"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "AgentTests",
            dependencies: [
                "Spool", "TestSupport", "WatcherModel", "WatcherProto", "HTTPTransport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SamplerTests",
            dependencies: [
                "Sampler", "WatcherModel", "WatcherProto", "Spool", "TestSupport", "HTTPTransport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
