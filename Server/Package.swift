// swift-tools-version: 6.0
import PackageDescription

/// The same rules for every target: Swift 6 mode with complete strict concurrency checking.
let settings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
    .enableExperimentalFeature("StrictConcurrency=complete"),
]

let package = Package(
    name: "BrokerServer",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "BrokerServer", targets: ["BrokerServer"]),
        .executable(name: "broker-server", targets: ["BrokerServerCLI"]),
    ],
    dependencies: [
        .package(name: "Broker", path: "../"),
        .package(name: "BrokerSigning", path: "../Signing"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        .target(
            name: "BrokerServer",
            dependencies: [
                .product(name: "Broker", package: "Broker"),
                .product(name: "BrokerSigning", package: "BrokerSigning"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: settings),
        .executableTarget(
            name: "BrokerServerCLI",
            dependencies: ["BrokerServer", .product(name: "Broker", package: "Broker"),
                           .product(name: "BrokerDemoPipeline", package: "Broker"),
                           .product(name: "BrokerSigning", package: "BrokerSigning"),
                           .product(name: "Logging", package: "swift-log")],
            swiftSettings: settings),
        .testTarget(
            name: "BrokerServerTests",
            dependencies: [
                "BrokerServer",
                .product(name: "Broker", package: "Broker"),
                .product(name: "BrokerSigning", package: "BrokerSigning"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            resources: [.copy("Golden")],
            swiftSettings: settings),
    ]
)
