// swift-tools-version: 6.1
import PackageDescription

/// The regression suite: ordo-one's package-benchmark over the Broker library, with thresholds on malloc counts
/// (time is too noisy on shared machines). Its own package, so the root package keeps no dependencies.
///
///     swift package --package-path Benchmarks benchmark                    # run and print
///     swift package --package-path Benchmarks benchmark thresholds check   # CI: compare with Thresholds/
///     swift package --package-path Benchmarks --allow-writing-to-package-directory benchmark thresholds update
let package = Package(
    name: "BrokerBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
        .package(name: "Broker", path: "../"),
    ],
    targets: [
        .executableTarget(
            name: "BrokerBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "Broker", package: "Broker"),
            ],
            path: "BrokerBenchmarks",
            swiftSettings: [.swiftLanguageMode(.v6)],
            plugins: [
                .plugin(name: "BenchmarkPlugin", package: "benchmark"),
            ]
        ),
    ]
)
