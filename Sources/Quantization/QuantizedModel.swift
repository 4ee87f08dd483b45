// QuantizedModel: an integer model and its file — the folded float graph's layout, integer weights
// (`IntegerWeightTensor`: I8, or packed U8 below 8 bits, with `<node>.weight_scale`), float biases, and every edge's
// unsigned parameters in `__metadata__["shrink.quantization"]`. Convs and linears kept in float keep F32 weights.
// `Model.load` reads the same file as a float model (weights dequantized).
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
        for (node, weight) in graph.integerWeights.sorted(by: { $0.key < $1.key }) {
            try container.store(weight, as: "\(node).weight")
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        container.metadata[QuantizedModel.metadataKey] = String(
            decoding: try encoder.encode(Description(scheme: "unsigned-activations-symmetric-weights", edges: graph.edges)),
            as: UTF8.self)
        return container
    }

    /// Writes the model atomically.
    public func save(to path: String) throws {
        try AtomicFile.write(try safeTensors().encoded(), to: path)
    }

    /// Reads a quantized model file.
    public static func load(from path: String) throws -> QuantizedModel {
        try load(SafeTensorsFile.decode(try readFile(path), file: path), file: path)
    }

    /// Rebuilds a quantized model from a parsed container; `path` names the source in errors.
    public static func load(_ container: SafeTensorsFile, file path: String) throws -> QuantizedModel {
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
        var stored: [String: IntegerWeightTensor] = [:], floatLayers = Set<String>()
        for layer in float.graph.weightedLayers {
            if let weight = try IntegerWeightTensor.read("\(layer.node).weight", in: container, file: path) {
                stored[layer.node] = weight
            } else {
                floatLayers.insert(layer.node)
            }
        }
        do {
            return QuantizedModel(float: float, graph: try QuantizedGraph(folded: float.graph, edges: description.edges,
                                                                          stored: stored, floatLayers: floatLayers))
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
