// QuantizedModel: an integer model and its file — the folded float graph's layout, int8 weights (`I8`) with their
// per-channel scales (`<node>.weight_scale`, F32), float biases, and every edge's uint8 parameters in
// `__metadata__["shrink.quantization"]`. `Model.load` reads the same file as a float model (weights dequantized).
import Datasets
import Foundation
import NeuralNetworks
import Tensors

/// A post-training-quantized model: the folded float model it came from (for structure, normalisation and
/// provenance) and the integer graph that runs it.
public final class QuantizedModel {
    /// The metadata key holding the edges' parameters.
    public static let metadataKey = "shrink.quantization"

    public let float: Model
    public let graph: QuantizedGraph

    public init(float: Model, graph: QuantizedGraph) {
        self.float = float
        self.graph = graph
    }

    private struct Description: Codable {
        var scheme: String
        var edges: [String: QuantizationParameters]
    }

    /// Whether a parsed model file holds a quantized model.
    public static func isQuantized(_ container: SafeTensorsFile) -> Bool {
        container.metadata[metadataKey] != nil
    }

    /// The model as a safetensors container.
    public func safeTensors() throws -> SafeTensorsFile {
        var container = try float.safeTensors()
        var order: [String] = []
        for name in container.order {
            order.append(name)
            let node = String(name.dropLast(".weight".count))
            guard name.hasSuffix(".weight"), let weights = graph.quantizedWeights[node] else { continue }
            let shape = container.tensors[name]!.shape
            container.tensors[name] = SafeTensor(int8: weights.values, shape: shape)
            container.tensors[name + "_scale"] = SafeTensor(Tensor(shape: [weights.scales.count], scalars: weights.scales))
            order.append(name + "_scale")
        }
        container.order = order
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        container.metadata[QuantizedModel.metadataKey] = String(
            decoding: try encoder.encode(Description(scheme: "u8-activations-s8-per-channel-weights", edges: graph.edges)),
            as: UTF8.self)
        return container
    }

    /// Writes the model atomically.
    public func save(to path: String) throws {
        try AtomicFile.write(try safeTensors().encoded(), to: path)
    }

    /// Reads a quantized model file.
    public static func load(from path: String) throws -> QuantizedModel {
        let container = try SafeTensorsFile.decode(try readFile(path), file: path)
        guard let text = container.metadata[metadataKey] else {
            throw ShrinkError(.format, "\(path) is a float model; quantize it with `shrink quantize` first")
        }
        let float = try Model.load(container, file: path)
        let description: Description
        do {
            description = try JSONDecoder().decode(Description.self, from: Data(text.utf8))
        } catch let error as ShrinkError {
            throw ShrinkError(error.kind, "\(path): \(metadataKey): \(error.message)")
        } catch {
            throw ShrinkError(.format, "\(path): metadata '\(metadataKey)' is not valid: \(error)")
        }
        var stored: [String: (values: [Int8], scales: [Float])] = [:]
        for node in float.graph.nodes where node.layer is Conv2d || node.layer is Linear {
            let name = "\(node.name).weight"
            guard let weight = container.tensors[name], weight.dtype == "I8",
                  let scales = container.tensors[name + "_scale"] else { continue }
            stored[node.name] = (try weight.int8Values(name: name, file: path),
                                 try scales.floatTensor(name: name + "_scale", file: path).scalars)
        }
        do {
            return QuantizedModel(float: float, graph: try QuantizedGraph(folded: float.graph, edges: description.edges,
                                                                          stored: stored))
        } catch let error as ShrinkError {
            throw ShrinkError(error.kind, "\(path): \(error.message)")
        }
    }

    /// The logits (N, classes) of already-normalised inputs, in batches of `batchSize`, on the integer engine.
    public func predict(_ inputs: Tensor, batchSize: Int = 256, backend: IntegerGEMMBackend = .native) throws -> Tensor {
        try mapBatches(inputs, batchSize: batchSize, outputShape: float.graph.outputShape) {
            try graph.forward($0, backend: backend)
        }
    }
}
