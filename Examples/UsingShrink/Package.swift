// swift-tools-version: 6.1
// A package that uses Shrink as a dependency, as a researcher's would (docs/library.md). Scripts/test.sh builds and
// runs it, so the library's public API stays usable from outside.
import PackageDescription

let package = Package(
    name: "UsingShrink",
    platforms: [.macOS(.v14)],
    dependencies: [.package(name: "Shrink", path: "../..")],
    targets: [
        .executableTarget(name: "UsingShrink", dependencies: [.product(name: "Shrink", package: "Shrink")]),
    ]
)
