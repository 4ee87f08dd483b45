// swift-tools-version: 6.1
// Shrink's benchmarks (ordo-one package-benchmark), a package of their own so that depending on Shrink never
// pulls a benchmark harness. Run: `cd Benchmarks && swift package benchmark`.
import PackageDescription

let package = Package(
    name: "ShrinkBenchmarks",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(name: "Shrink", path: ".."),
        .package(url: "https://github.com/ordo-one/package-benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        // The system OpenBLAS again, so the sgemm benchmark can call it directly beside Shrink's wrapper.
        .systemLibrary(name: "CBLASDirect", pkgConfig: "openblas"),
        .executableTarget(
            name: "ShrinkBenchmarks",
            dependencies: [
                "CBLASDirect",
                .product(name: "Shrink", package: "Shrink"),
                .product(name: "Benchmark", package: "package-benchmark"),
            ],
            path: "Benchmarks/ShrinkBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "package-benchmark")]
        ),
    ]
)
