// swift-tools-version: 6.1
// Coverage-guided fuzzing of every reader Shrink has, with libFuzzer. A package of its own so the library targets
// carry no sanitizer flags: Scripts/fuzz.sh builds it with `-sanitize=fuzzer,address` passed on the command line and
// runs one target at a time (SHRINK_FUZZ_TARGET). See docs/reliability.md.
import PackageDescription

let package = Package(
    name: "ShrinkFuzz",
    platforms: [.macOS(.v14)],
    dependencies: [.package(name: "Shrink", path: "..")],
    targets: [
        .target(name: "CFuzzDriver"),
        .executableTarget(name: "ShrinkFuzz", dependencies: ["CFuzzDriver", .product(name: "Shrink", package: "Shrink")]),
    ]
)
