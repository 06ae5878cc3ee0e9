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
            ],
            swiftSettings: settings),
        .executableTarget(
            name: "BrokerServerCLI",
            dependencies: ["BrokerServer", .product(name: "Broker", package: "Broker"),
                           .product(name: "BrokerSigning", package: "BrokerSigning")],
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
            ],
            resources: [.copy("Golden")],
            swiftSettings: settings),
    ]
)
