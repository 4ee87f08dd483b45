// `shrink info`: parameters, MACs and bytes of an architecture or a model file, per layer and in total.
import ArgumentParser
import Foundation
import Shrink

struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the layers, parameters, MACs and bytes of an architecture or a model file.")

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
        var layers: [LayerOutput]
    }

    struct LayerOutput: Encodable {
        var name: String, kind: String
        var output_shape: [Int]
        var parameters: Int, macs: Int, bytes: Int
    }

    func run() throws {
        try reporting {
            let name: String, graph: Graph
            if let arch {
                let shape = try parseShape(inputShape, option: "--input-shape")
                graph = try Architecture.named(arch).makeGraph(inputShape: shape, classes: classes)
                name = arch
            } else {
                let loaded = try Model.load(from: model!)
                graph = loaded.graph
                name = loaded.architecture
            }
            let cost = graph.cost()
            if json {
                let output = Output(arch: name, parameters: cost.parameters, macs: cost.macs, bytes: cost.bytes,
                                    layers: cost.layers.map {
                                        LayerOutput(name: $0.name, kind: $0.kind, output_shape: $0.outputShape,
                                                    parameters: $0.parameters, macs: $0.macs, bytes: $0.bytes)
                                    })
                print(try jsonString(output))
                return
            }
            var table = TextTable(headers: ["layer", "kind", "output", "parameters", "MACs"])
            for layer in cost.layers {
                table.append([layer.name, layer.kind, layer.outputShape.map(String.init).joined(separator: "×"),
                              groupedThousands(layer.parameters), groupedThousands(layer.macs)])
            }
            table.append(["total", "", "", groupedThousands(cost.parameters), groupedThousands(cost.macs)])
            print("\(name): input \(graph.inputShape.map(String.init).joined(separator: "×"))")
            print(table)
            print("bytes: \(groupedThousands(cost.bytes)) (\(formattedBytes(cost.bytes)))")
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
