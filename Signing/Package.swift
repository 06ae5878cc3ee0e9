// swift-tools-version: 6.0
import PackageDescription

/// Real SNS message signatures for Broker: an RSA key and X.509 certificate (made at start or loaded from PEM) behind
/// the library's `SNSMessageSigner` protocol. Its own package because RSA needs swift-crypto, and the root package
/// keeps no dependencies.
///
///     swift build --package-path Signing
///     swift test --package-path Signing
let settings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
    .enableExperimentalFeature("StrictConcurrency=complete"),
]

let package = Package(
    name: "BrokerSigning",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "BrokerSigning", targets: ["BrokerSigning"]),
    ],
    dependencies: [
        .package(name: "Broker", path: "../"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-certificates", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1", from: "1.7.4"),
    ],
    targets: [
        .target(
            name: "BrokerSigning",
            dependencies: [
                .product(name: "Broker", package: "Broker"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
            ],
            swiftSettings: settings),
        .testTarget(
            name: "BrokerSigningTests",
            dependencies: [
                "BrokerSigning",
                .product(name: "Broker", package: "Broker"),
            ],
            swiftSettings: settings),
    ]
)
