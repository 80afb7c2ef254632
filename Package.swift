// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "Hearth",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "hearth", targets: ["hearth"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/vapor/jwt-kit.git", from: "5.8.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
    ],
    targets: [
        // Native libraries: one C module each. Only the wrapper modules import them.
        .systemLibrary(name: "CRdKafka", pkgConfig: "rdkafka", providers: [.apt(["librdkafka-dev"])]),
        .systemLibrary(name: "CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CMimalloc", providers: [.apt(["libmimalloc-dev"])]),
        .target(
            name: "CXapian",
            cxxSettings: [.unsafeFlags(["-std=c++17"])],
            linkerSettings: [.linkedLibrary("xapian")]
        ),

        .target(name: "CSpawn"),
        .target(name: "HearthSupport", dependencies: ["CSpawn", "Yams", .product(name: "Logging", package: "swift-log")]),
        .target(name: "HearthEvents"),
        .target(name: "HearthKafka", dependencies: [
            "CRdKafka", "HearthSupport",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "HearthPostgres", dependencies: [
            "CLibPQ", "HearthSupport",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "HearthPipeline", dependencies: [
            "HearthKafka", "HearthEvents", "Yams",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        .target(name: "HearthAnalytics", dependencies: [
            "HearthPostgres", "HearthEvents", "HearthPipeline",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
        .target(name: "HearthSearch", dependencies: [
            "CXapian", "HearthEvents", "HearthPipeline",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
        .target(name: "HearthArchive", dependencies: [
            "CSpawn", "CZstd", "HearthEvents", "HearthKafka", "HearthPipeline", "HearthSupport",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
        .target(name: "HearthCore", dependencies: [
            "HearthKafka", "HearthPostgres", "HearthEvents", "HearthPipeline", "HearthAnalytics", "HearthSearch", "HearthArchive", "Yams",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        .target(name: "HearthAPI", dependencies: [
            "HearthCore", "HearthSearch", "HearthArchive",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "JWTKit", package: "jwt-kit"),
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
        // Links mimalloc (Debian's libmimalloc-dev) in place of glibc's malloc for the whole process: the
        // search writer and the ingest path allocate and free millions of small objects a second.
        .executableTarget(name: "hearth", dependencies: [
            "HearthAPI", "HearthCore", "HearthArchive", "CMimalloc",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "UnixSignals", package: "swift-service-lifecycle"),
        ]),
        .testTarget(name: "HearthTests", dependencies: [
            "hearth", "HearthAPI", "HearthCore", "HearthSearch", "HearthArchive",
            .product(name: "HummingbirdTesting", package: "hummingbird"),
            .product(name: "JWTKit", package: "jwt-kit"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "CryptoExtras", package: "swift-crypto"),
        ]),
    ],
    swiftLanguageModes: [.v6]
)
