// swift-tools-version:6.0
// Rumor for Swift: `import Rumor`. The Rust library (bindings-swift/src, built by generate.sh)
// does the work; Sources/RumorFFI is the code uniffi-bindgen generates from it (never edited),
// Sources/Rumor the idiomatic wrapper apps use.
import PackageDescription

// The directory holding librumor_swift (generate.sh builds it there).
let libDir = Context.environment["RUMOR_SWIFT_LIB_DIR"] ?? (Context.packageDirectory + "/../target/debug")

let package = Package(
    name: "Rumor",
    platforms: [.macOS(.v13), .iOS(.v16)],
    products: [.library(name: "Rumor", targets: ["Rumor"])],
    targets: [
        .systemLibrary(name: "rumor_swiftFFI", path: "Sources/rumor_swiftFFI"),
        .target(
            name: "RumorFFI",
            dependencies: ["rumor_swiftFFI"],
            path: "Sources/RumorFFI",
            swiftSettings: [.swiftLanguageMode(.v6)],
            linkerSettings: [.unsafeFlags(["-L", libDir, "-lrumor_swift", "-Xlinker", "-rpath", "-Xlinker", libDir])]
        ),
        .target(name: "Rumor", dependencies: ["RumorFFI"], path: "Sources/Rumor"),
        // The figures (README): `swift run -c release RumorBench [RUMOR_BIN]`.
        .executableTarget(
            name: "RumorBench", dependencies: ["Rumor"], path: "Sources/RumorBench",
            swiftSettings: [.swiftLanguageMode(.v5)]),
        .testTarget(
            name: "RumorTests", dependencies: ["Rumor"], path: "Tests/RumorTests",
            swiftSettings: [.swiftLanguageMode(.v5)]),
    ]
)
