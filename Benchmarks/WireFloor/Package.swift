// swift-tools-version: 6.0
import PackageDescription

/// The wire floor: a bare SwiftNIO HTTP/1.1 server that answers every request with one fixed SendMessage reply, for
/// `Benchmarks/peers/wire_bench.py` to measure broker-server against. Its own package, depending on SwiftNIO only
/// and with the same requirement as `Server/Package.swift`, so it resolves to the NIO version the server runs on
/// (the script compares the two resolved versions) and builds in seconds rather than with the benchmark harness.
///
///     swift build -c release --package-path Benchmarks/WireFloor --product nio-floor
let package = Package(
    name: "WireFloor",
    platforms: [.macOS(.v15)],
    products: [.executable(name: "nio-floor", targets: ["NIOFloor"])],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    ],
    targets: [
        .executableTarget(
            name: "NIOFloor",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: [
                .swiftLanguageMode(.v6),
                .enableUpcomingFeature("ExistentialAny"),
                .enableExperimentalFeature("StrictConcurrency=complete"),
            ]),
    ]
)
