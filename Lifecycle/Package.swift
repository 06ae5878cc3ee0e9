// swift-tools-version: 6.0
import PackageDescription

/// The same rules as the other packages: Swift 6 mode with complete strict concurrency checking.
let settings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
    .enableExperimentalFeature("StrictConcurrency=complete"),
]

/// Runs Broker's consumers and its wire server as services of swift-service-lifecycle, in a package of its own so
/// neither the library nor the server depends on it.
let package = Package(
    name: "BrokerServiceLifecycle",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "BrokerServiceLifecycle", targets: ["BrokerServiceLifecycle"]),
    ],
    dependencies: [
        .package(name: "Broker", path: "../"),
        .package(name: "BrokerServer", path: "../Server"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
    ],
    targets: [
        .target(
            name: "BrokerServiceLifecycle",
            dependencies: [
                .product(name: "Broker", package: "Broker"),
                .product(name: "BrokerServer", package: "BrokerServer"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: settings),
        .testTarget(
            name: "BrokerServiceLifecycleTests",
            dependencies: [
                "BrokerServiceLifecycle",
                .product(name: "Broker", package: "Broker"),
                .product(name: "BrokerServer", package: "BrokerServer"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: settings),
    ]
)
