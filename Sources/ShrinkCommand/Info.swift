// `shrink info`: parameters, MACs and bytes of an architecture or a model file, per layer and in total, with how a
// file stores each layer (`ShrinkModel.layerStorage`).
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

    @Option(help: "A built-in architecture instead of a file.")
    var arch: Architecture?

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
        /// For a file: the engine that runs it and its nonzero parameters.
        var engine: String?, nonzero_parameters: Int?
        /// For a file whose training data named its classes: the names, in output order.
        var classes: [String]?
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

    func run() throws {
        try reporting {
            let name: String, graph: Graph
            var file: ShrinkModel?, storage: [String: LayerStorage]?
            if let arch {
                let shape = try parseShape(inputShape, option: "--input-shape")
                graph = try arch.makeGraph(inputShape: shape, classes: classes)
                name = arch.rawValue
            } else if let model {
                let loaded = try ShrinkModel.load(from: model)
                graph = loaded.float.graph
                name = loaded.architecture
                storage = try loaded.layerStorage()
                file = loaded
            } else {
                return
            }
            let cost = graph.cost()
            if json {
                let layers = cost.layers.map { layer in
                    let s = storage?[layer.name]
                    return LayerOutput(name: layer.name, kind: layer.kind, output_shape: layer.outputShape,
                                       parameters: layer.parameters, macs: layer.macs, bytes: layer.bytes,
                                       weight_bits: s?.weightBits, weight_granularity: s?.weightGranularity,
                                       activation_bits: s?.activationBits, file_bytes: s?.fileBytes,
                                       weight_density: s?.weightDensity)
                }
                print(try jsonString(Output(arch: name, parameters: cost.parameters, macs: cost.macs, bytes: cost.bytes,
                                            file_bytes: file?.bytes.count, engine: file?.engine.rawValue,
                                            nonzero_parameters: file?.cost.nonzeroParameters,
                                            classes: file?.classNames, layers: layers)))
                return
            }
            let extra = storage == nil ? [] : ["weights", "activations", "file bytes"]
            var table = TextTable(headers: ["layer", "kind", "output", "parameters", "MACs"] + extra)
            for layer in cost.layers {
                var row = [layer.name, layer.kind, layer.outputShape.map(String.init).joined(separator: "×"),
                           groupedThousands(layer.parameters), groupedThousands(layer.macs)]
                if let s = storage?[layer.name] {
                    row += [s.weightDescription, s.activationDescription, groupedThousands(s.fileBytes)]
                } else if storage != nil {
                    row += ["", "f32", "0"]
                }
                table.append(row)
            }
            table.append(["total", "", "", groupedThousands(cost.parameters), groupedThousands(cost.macs)]
                + (storage.map { ["", "", groupedThousands($0.values.reduce(0) { $0 + $1.fileBytes })] } ?? []))
            print("\(name): input \(graph.inputShape.map(String.init).joined(separator: "×"))")
            print(table)
            print("bytes as float32: \(groupedThousands(cost.bytes)) (\(formattedBytes(cost.bytes)))")
            if let file {
                print("file: \(groupedThousands(file.bytes.count)) bytes (\(formattedBytes(file.bytes.count))), "
                    + "\(file.engine.rawValue) engine")
                if let classes = file.classNames { print("classes: \(classes.joined(separator: ", "))") }
            }
        }
    }
}
