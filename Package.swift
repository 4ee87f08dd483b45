// swift-tools-version: 6.1
// Shrink: compress neural networks for edge devices. See DESIGN.md for the module layering:
// COpenBLAS/CZlib/CJPEG/CPNG/CKernels/CImageCodecs → Tensors → Datasets → NeuralNetworks → (techniques) → Reports → Shrink → shrink.
import PackageDescription

let package = Package(
    name: "Shrink",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "Shrink", targets: ["Shrink"]),
        .executable(name: "shrink", targets: ["ShrinkCommand"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
    ],
    targets: [
        .systemLibrary(
            name: "COpenBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev", "liblapacke-dev"])]
        ),
        .systemLibrary(
            name: "CZlib",
            providers: [.apt(["zlib1g-dev"])]
        ),
        .systemLibrary(
            name: "CJPEG",
            pkgConfig: "libjpeg",
            providers: [.apt(["libjpeg62-turbo-dev"]), .brew(["jpeg-turbo"])]
        ),
        .systemLibrary(
            name: "CPNG",
            pkgConfig: "libpng",
            providers: [.apt(["libpng-dev"]), .brew(["libpng"])]
        ),
        .target(name: "CKernels"),
        .target(name: "CImageCodecs", dependencies: ["CJPEG", "CPNG"]),
        .target(name: "Tensors", dependencies: ["COpenBLAS", "CKernels"]),
        .target(name: "Datasets", dependencies: ["Tensors", "CZlib", "CImageCodecs"]),
        .target(name: "NeuralNetworks", dependencies: ["Tensors", "Datasets", "CKernels"]),
        .target(name: "Quantization", dependencies: ["Tensors", "Datasets", "NeuralNetworks", "CKernels"]),
        .target(name: "Pruning", dependencies: ["Tensors", "Datasets", "NeuralNetworks"]),
        .target(name: "Distillation", dependencies: ["Tensors", "Datasets", "NeuralNetworks"]),
        .target(name: "ArchitectureSearch", dependencies: ["Tensors", "Datasets", "NeuralNetworks",
                                                           .product(name: "Yams", package: "Yams")]),
        .target(name: "ONNX", dependencies: ["Tensors", "Datasets", "NeuralNetworks", "Quantization",
                                             .product(name: "SwiftProtobuf", package: "swift-protobuf")]),
        .target(name: "Reports"),
        .target(name: "Shrink", dependencies: ["Tensors", "Datasets", "NeuralNetworks", "Quantization", "Pruning",
                                               "Distillation", "ArchitectureSearch", "ONNX", "Reports",
                                               .product(name: "Yams", package: "Yams")]),
        .executableTarget(
            name: "ShrinkCommand",
            dependencies: [
                "Shrink",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(name: "CKernelsTests", dependencies: ["CKernels", "Tensors"]),
        .testTarget(name: "TensorsTests", dependencies: ["Tensors"]),
        .testTarget(name: "DatasetsTests", dependencies: ["Datasets", "Tensors", "CImageCodecs"]),
        .testTarget(name: "NeuralNetworksTests", dependencies: ["NeuralNetworks", "Datasets", "CKernels", "Tensors"]),
        .testTarget(name: "QuantizationTests", dependencies: ["Quantization", "NeuralNetworks", "Datasets", "Tensors"]),
        .testTarget(name: "PruningTests", dependencies: ["Pruning", "NeuralNetworks", "Datasets", "Tensors"]),
        .testTarget(name: "DistillationTests", dependencies: ["Distillation", "NeuralNetworks", "Datasets", "Tensors"]),
        .testTarget(name: "ArchitectureSearchTests", dependencies: ["ArchitectureSearch", "NeuralNetworks", "Datasets", "Tensors"]),
        .testTarget(name: "ONNXTests", dependencies: ["ONNX", "NeuralNetworks", "Datasets", "Quantization", "Tensors"]),
        .testTarget(name: "ReportsTests", dependencies: ["Reports"]),
        .testTarget(name: "ShrinkTests", dependencies: ["Shrink"], exclude: ["FuzzFindings"]),
        // ShrinkCommandTests runs the `shrink` binary: the dependency builds it first.
        .testTarget(name: "ShrinkCommandTests", dependencies: ["Datasets", "Tensors", "NeuralNetworks", "ShrinkCommand"]),
    ]
)
