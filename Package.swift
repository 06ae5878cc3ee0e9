// swift-tools-version: 6.0
import PackageDescription

/// One settings list, applied to every target, so the whole package builds under the same rules.
let settings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
    // A member is visible only through a module this file imports, not one some other file of the target imports.
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "Broker",
    // Duration, typed throws and the newer Foundation APIs; Linux needs no entry.
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "Broker", targets: ["Broker"]),
        .library(name: "BrokerDemoPipeline", targets: ["BrokerDemoPipeline"]),
        .executable(name: "broker-demo", targets: ["BrokerDemo"]),
        .executable(name: "broker-bench", targets: ["BrokerBench"]),
    ],
    targets: [
        .target(name: "Broker", dependencies: ["CBrokerCRC32C"], swiftSettings: settings),
        // The processor's CRC-32C instruction for the journal's checksums; Swift cannot name it.
        .target(name: "CBrokerCRC32C"),
        .target(name: "BrokerDemoPipeline", dependencies: ["Broker"], swiftSettings: settings),
        .executableTarget(name: "BrokerDemo", dependencies: ["Broker", "BrokerDemoPipeline"], swiftSettings: settings),
        .executableTarget(name: "BrokerBench", dependencies: ["Broker"], swiftSettings: settings),
        .testTarget(name: "BrokerTests", dependencies: ["Broker"], resources: [.copy("Resources")], swiftSettings: settings),
    ]
)
