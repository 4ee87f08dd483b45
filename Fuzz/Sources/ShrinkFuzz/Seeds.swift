// Seed corpora made by Shrink's own writers: models of every small architecture as safetensors and ONNX, NPY and NPZ
// arrays of each dtype, deflate streams in each wrapper, IDX files plain and gzipped, journal lines. The recipes,
// search spaces and images come from files (Scripts/fuzz.sh passes the repository's recipes and makes images).
import Foundation
import Shrink

/// Writes the seeds of every target under `directory/<target>/`.
func writeSeeds(to directory: String) throws {
    var written = [String: Int]()
    func seed(_ target: String, _ name: String, _ bytes: [UInt8]) throws {
        let folder = "\(directory)/\(target)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try Data(bytes).write(to: URL(fileURLWithPath: "\(folder)/\(name)"))
        written[target, default: 0] += 1
    }

    // Models: small architectures at small sizes (the fuzzer's inputs are capped at a few hundred KiB).
    let models: [(Architecture, [Int])] = [(.mlp, [12]), (.fmnistSmall, [1, 12, 12]), (.lenet5, [1, 28, 28]),
                                           (.mobilenetTiny, [1, 16, 16]), (.resnet8, [1, 8, 8])]
    for (architecture, shape) in models {
        let graph = try architecture.makeGraph(inputShape: shape, classes: 3, seed: 1)
        let model = Model(architecture: architecture.rawValue, graph: graph,
                          normalization: Normalization(mean: 0.25, std: 0.5))
        let bytes = try model.encoded()
        try seed("model", "\(architecture.rawValue).safetensors", bytes)
        try seed("safetensors", "\(architecture.rawValue).safetensors", bytes)
        try seed("onnx", "\(architecture.rawValue).onnx", try serializedONNX(try onnxModel(model)))
    }

    // Arrays of each dtype and layout the readers take.
    let arrays: [(String, NPYArray)] = [
        ("u8-images", NPYArray(uint8: (0..<2 * 3 * 4).map { UInt8($0 * 9 % 256) }, shape: [2, 3, 4])),
        ("f32-rows", NPYArray(float32: (0..<12).map { Float($0) / 7 }, shape: [3, 4])),
        ("i64-labels", NPYArray(int64: [0, 1, 2, 1], shape: [4])),
        ("f32-nhwc", NPYArray(float32: (0..<2 * 2 * 2 * 3).map { Float($0) }, shape: [2, 2, 2, 3])),
        ("scalar", NPYArray(float32: [1.5], shape: [])),
    ]
    for (name, array) in arrays { try seed("npy", "\(name).npy", NPY.encode(array)) }
    let data: [(String, NPYArray)] = [
        ("x_train", NPYArray(uint8: (0..<4 * 5 * 5).map { UInt8($0 % 251) }, shape: [4, 5, 5])),
        ("y_train", NPYArray(int64: [0, 1, 2, 1], shape: [4])),
        ("x_test", NPYArray(uint8: (0..<2 * 5 * 5).map { UInt8($0 * 3 % 251) }, shape: [2, 5, 5])),
        ("y_test", NPYArray(int64: [2, 0], shape: [2])),
    ]
    for compressed in [false, true] {
        let name = compressed ? "compressed.npz" : "stored.npz"
        try seed("npz", name, try NPZ.encode(data, compressed: compressed))
        try seed("npz", "mixed-" + name, try NPZ.encode(arrays, compressed: compressed))
        try seed("npz-data", name, try NPZ.encode(data, compressed: compressed))
    }
    let floatData = data.map { ($0.0, $0.0.hasPrefix("x") ? NPYArray(float32: (0..<($0.0 == "x_train" ? 4 : 2) * 12).map {
        Float($0) / 50 }, shape: [$0.0 == "x_train" ? 4 : 2, 3, 2, 2]) : $0.1) }
    try seed("npz-data", "float-nchw.npz", try NPZ.encode(floatData, compressed: false))

    // Deflate streams: the first byte picks the wrapper (0 raw, 1 zlib, 2 gzip).
    let text = Array(String(repeating: "shrink compresses neural networks for edge devices. ", count: 20).utf8)
    for (index, format) in [Zlib.Format.raw, .zlib, .gzip].enumerated() {
        try seed("inflate", "format-\(index)", [UInt8(index)] + Zlib.deflate(text, format: format))
        try seed("inflate", "format-\(index)-level1", [UInt8(index)] + Zlib.deflate(Array(text.prefix(100)), format: format, level: 1))
    }
    try seed("inflate", "two-gzip-members", [2] + Zlib.deflate(text, format: .gzip) + Zlib.deflate(text, format: .gzip))

    // IDX: images and labels, plain and gzip.
    let images = IDX.encode(dimensions: [3, 4, 4], bytes: (0..<48).map { UInt8($0 * 5 % 256) })
    let labels = IDX.encode(dimensions: [3], bytes: [0, 1, 2])
    try seed("idx", "images.idx", images)
    try seed("idx", "labels.idx", labels)
    try seed("idx", "images.idx.gz", Zlib.deflate(images, format: .gzip))

    // Journal lines as a search writes them.
    let trial = Trial(index: 0, candidate: Candidate([1, 0, 2]), architecture: "conv3x3(16) · dwsep3x3(32)",
                      accuracy: 0.75, macs: 120_000, parameters: 3_000, bytes: 12_000, latencyMs: 0.5, epochs: 1.5,
                      trainSamples: 4_096, seed: 7, curve: [0.5, 0.75], stopped: false, reused: nil, worker: 0)
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    var lines = try encoder.encode(trial) + Data("\n".utf8)
    var second = trial
    second.index = 1
    second.reused = true
    lines += try encoder.encode(second) + Data("\n".utf8)
    lines += try encoder.encode(TrialTiming(index: 0, cpuSeconds: 1.25, wallSeconds: 0.75)) + Data("\n".utf8)
    try seed("journal", "trials.jsonl", Array(lines))

    for (target, count) in written.sorted(by: { $0.key < $1.key }) { print("\(target): \(count) seeds") }
}
