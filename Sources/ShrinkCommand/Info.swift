// `shrink info`: parameters, MACs and bytes of an architecture or a model file, per layer and in total.
import ArgumentParser
import Foundation
import Shrink

struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the layers, parameters, MACs and bytes of an architecture or a model file.",
        discussion: """
            For a model file, each layer also shows how its weights are stored (f32; f32 sparse with the share of \
            nonzeros after unstructured `shrink prune`; intB per-channel / per-tensor after `shrink quantize`), the \
            activations it produces (f32, or uB codes on the integer engine) and the bytes its tensors take in the \
            file.
            """)

    @Argument(help: "A model file (.safetensors).")
    var model: String?

    @Option(help: "A built-in architecture instead of a file: \(Architecture.names).")
    var arch: String?

    @Option(help: "Sample shape for --arch, comma-separated (C,H,W or D).")
    var inputShape: String = "1,28,28"

    @Option(help: "Number of classes for --arch.")
    var classes: Int = 10

    @Flag(help: "Print one JSON document on stdout instead of a table.")
    var json = false

    func validate() throws {
        if (model == nil) == (arch == nil) { throw ValidationError("give either a model file or --arch NAME") }
    }

    struct Output: Encodable {
        var arch: String
        var parameters: Int, macs: Int, bytes: Int
        /// The model file's size, for a file.
        var file_bytes: Int?
        var layers: [LayerOutput]
    }

    struct LayerOutput: Encodable {
        var name: String, kind: String
        var output_shape: [Int]
        var parameters: Int, macs: Int, bytes: Int
        /// For a model file: weight bits (32 for float; nil for a layer without weights), granularity, activation
        /// bits (32 for float) and the bytes of the layer's tensors in the file.
        var weight_bits: Int?, weight_granularity: String?, activation_bits: Int?, file_bytes: Int?
        /// For weights stored sparse: the fraction that is nonzero.
        var weight_density: Double?
    }

    /// How a model file stores each layer.
    struct Storage {
        var weightBits: [String: (bits: Int, perChannel: Bool)] = [:]
        var activationBits: [String: Int] = [:]
        var fileBytes: [String: Int] = [:]
        var hasWeights: Set<String> = []
        /// Nonzero fraction of the weights stored sparse (bitmask and values), by node.
        var sparseDensity: [String: Double] = [:]

        init(_ container: SafeTensorsFile, path: String) throws {
            for (name, encoding) in IntegerWeightTensor.storedBits(in: container) where name.hasSuffix(".weight") {
                weightBits[String(name.dropLast(".weight".count))] = encoding
            }
            for (name, tensor) in container.tensors {
                guard let dot = name.firstIndex(of: ".") else { continue }
                let node = String(name[..<dot])
                fileBytes[node, default: 0] += tensor.bytes.count
                if name.hasSuffix(".weight") { hasWeights.insert(node) }
            }
            for node in Set(fileBytes.keys) {
                if let sparse = try SparseWeightTensor.read("\(node).weight", in: container, file: path) {
                    sparseDensity[node] = sparse.density
                    hasWeights.insert(node)
                }
            }
            if QuantizedModel.isQuantized(container) {
                for (edge, parameters) in try QuantizedModel.load(from: path).graph.edges {
                    activationBits[edge] = parameters.bits
                }
            }
        }

        func weightBits(of node: String) -> Int? {
            weightBits[node]?.bits ?? (hasWeights.contains(node) ? 32 : nil)
        }

        func describe(_ node: String) -> (weights: String, activations: String) {
            let weights = weightBits[node].map {
                "\($0.bits == 1 ? "binary" : "int\($0.bits)") \($0.perChannel ? "per-channel" : "per-tensor")"
            }
                ?? sparseDensity[node].map { String(format: "f32 sparse %.1f%%", 100 * $0) }
                ?? (hasWeights.contains(node) ? "f32" : "")
            return (weights, activationBits[node].map { "u\($0)" } ?? "f32")
        }
    }

    func run() throws {
        try reporting {
            let name: String, graph: Graph
            var storage: Storage?, fileSize: Int?
            if let arch {
                let shape = try parseShape(inputShape, option: "--input-shape")
                graph = try Architecture(named: arch).makeGraph(inputShape: shape, classes: classes)
                name = arch
            } else {
                let bytes = try readFile(model!)
                fileSize = bytes.count
                let container = try SafeTensorsFile.decode(bytes, file: model!)
                let loaded = try Model.load(container, file: model!)
                graph = loaded.graph
                name = loaded.architecture
                storage = try Storage(container, path: model!)
            }
            let cost = graph.cost()
            if json {
                let layers = cost.layers.map { layer in
                    LayerOutput(name: layer.name, kind: layer.kind, output_shape: layer.outputShape,
                                parameters: layer.parameters, macs: layer.macs, bytes: layer.bytes,
                                weight_bits: storage?.weightBits(of: layer.name),
                                weight_granularity: storage?.weightBits[layer.name].map {
                                    $0.perChannel ? "per-channel" : "per-tensor"
                                },
                                activation_bits: storage.map { $0.activationBits[layer.name] ?? 32 },
                                file_bytes: storage.map { $0.fileBytes[layer.name] ?? 0 },
                                weight_density: storage?.sparseDensity[layer.name])
                }
                let output = Output(arch: name, parameters: cost.parameters, macs: cost.macs, bytes: cost.bytes,
                                    file_bytes: fileSize, layers: layers)
                print(try jsonString(output))
                return
            }
            let extra = storage == nil ? [] : ["weights", "activations", "file bytes"]
            var table = TextTable(headers: ["layer", "kind", "output", "parameters", "MACs"] + extra)
            for layer in cost.layers {
                var row = [layer.name, layer.kind, layer.outputShape.map(String.init).joined(separator: "×"),
                           groupedThousands(layer.parameters), groupedThousands(layer.macs)]
                if let storage {
                    let (weights, activations) = storage.describe(layer.name)
                    row += [weights, activations, groupedThousands(storage.fileBytes[layer.name] ?? 0)]
                }
                table.append(row)
            }
            table.append(["total", "", "", groupedThousands(cost.parameters), groupedThousands(cost.macs)]
                + (storage.map { ["", "", groupedThousands($0.fileBytes.values.reduce(0, +))] } ?? []))
            print("\(name): input \(graph.inputShape.map(String.init).joined(separator: "×"))")
            print(table)
            print("bytes as float32: \(groupedThousands(cost.bytes)) (\(formattedBytes(cost.bytes)))")
            if let fileSize { print("file: \(groupedThousands(fileSize)) bytes (\(formattedBytes(fileSize)))") }
        }
    }
}

/// Parses "1,28,28" into [1, 28, 28]; every extent must be a positive integer.
func parseShape(_ text: String, option: String) throws -> [Int] {
    let parts = text.split(separator: ",", omittingEmptySubsequences: false).map { Int($0.trimmingCharacters(in: .whitespaces)) }
    guard !parts.isEmpty, parts.allSatisfy({ ($0 ?? 0) > 0 && ($0 ?? 0) <= Graph.maximumElementsPerSample }) else {
        throw ShrinkError(.value, "\(option) must be positive integers separated by commas, got '\(text)'")
    }
    return parts.map { $0! }
}
