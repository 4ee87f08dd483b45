// Model: a graph with its weights, input normalisation and provenance — what one `.safetensors` file holds.
import Datasets
import Foundation
import Tensors

/// One pass applied to a model, with its settings, recorded in the model file.
public struct ProvenanceStep: Codable, Equatable, Sendable {
    public var pass: String
    public var settings: [String: String]

    public init(pass: String, settings: [String: String]) {
        self.pass = pass
        self.settings = settings
    }
}

/// A trained (or compressed) network and everything needed to run it on raw data.
///
/// The file layout: tensors named `<node>.<parameter>` (PyTorch `state_dict` names, OIHW / [out, in]), and in
/// `__metadata__`: `format` = `pt`, `shrink.version`, `shrink.architecture`, `shrink.graph` (JSON: input shape,
/// output node, nodes with their inputs and layer specs), `shrink.normalization` and `shrink.provenance` (JSON), and
/// `shrink.classes` (a JSON list of class names) when the data named its classes.
public final class Model {
    /// The version of the metadata layout this build writes and reads.
    public static let formatVersion = "1"

    public var architecture: String
    public var graph: Graph
    /// The normalisation applied to raw inputs (scaled to [0, 1]) before the first layer.
    public var normalization: Normalization
    public var provenance: [ProvenanceStep]
    /// The name of each class, in output order, when the training data named them (an image folder's directories).
    public var classNames: [String]?

    public init(architecture: String, graph: Graph, normalization: Normalization, provenance: [ProvenanceStep] = [],
                classNames: [String]? = nil) {
        self.architecture = architecture
        self.graph = graph
        self.normalization = normalization
        self.provenance = provenance
        self.classNames = classNames
    }

    /// This model with another graph (a pruned, folded or quantized one) and provenance, keeping its architecture,
    /// normalisation and class names.
    public func with(graph: Graph, provenance: [ProvenanceStep]? = nil) -> Model {
        Model(architecture: architecture, graph: graph, normalization: normalization,
              provenance: provenance ?? self.provenance, classNames: classNames)
    }

    /// The name of class `index`, or its number when the model has no names.
    public func className(_ index: Int) -> String {
        if let classNames, classNames.indices.contains(index) { return classNames[index] }
        return "\(index)"
    }

    /// The number of classes the model predicts.
    public var classCount: Int { graph.outputShape.reduce(1, *) }

    /// `dataset` read at the model's input shape (image files given no size take it) with the model's normalisation
    /// applied (`Dataset.normalized(_:)`: at once for a set that fits in memory as Float32, else as each batch is
    /// read). Augmentation stays: only training batches (`Dataset.batch(_:epoch:seed:)`) apply it.
    public func prepare(_ dataset: Dataset) throws -> Dataset {
        var data = dataset.conformed(to: graph.inputShape)
        guard data.sampleShape == graph.inputShape else {
            throw ShrinkError(.shape, "the model takes samples of shape \(graph.inputShape), the data has \(data.sampleShape)")
        }
        guard data.classCount <= classCount else {
            if let index = data.labels.firstIndex(where: { Int($0) >= classCount }) {
                throw ShrinkError(.value, "\(data.origin ?? "the data"): sample \(index) has label \(data.labels[index]); "
                    + "the model predicts classes 0 to \(classCount - 1)")
            }
            throw ShrinkError(.value, "\(data.origin ?? "the data") has \(data.classCount) classes, the model predicts \(classCount)")
        }
        if data.classCount != classCount {
            data.classNames = nil
            data.classCount = classCount
        }
        return try data.normalized(normalization)
    }

    // MARK: - File

    private struct GraphDescription: Codable {
        struct NodeDescription: Codable {
            var name: String
            var inputs: [String]
            var layer: LayerSpec
        }
        var inputShape: [Int]
        var output: String
        var nodes: [NodeDescription]
        enum CodingKeys: String, CodingKey { case inputShape = "input_shape", output, nodes }
    }

    private static func json<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    /// The model as a safetensors container. Binarized layers (`BinaryWeighted`) store their weights at one bit
    /// each with α per output channel (exactly what they compute with); everything else is F32.
    public func safeTensors() throws -> SafeTensorsFile {
        let description = GraphDescription(
            inputShape: graph.inputShape, output: graph.outputName,
            nodes: graph.nodes.map { .init(name: $0.name, inputs: $0.inputs, layer: $0.layer.spec) })
        var metadata = [
            "format": "pt",
            "shrink.version": Model.formatVersion,
            "shrink.architecture": architecture,
            "shrink.graph": try Model.json(description),
            "shrink.normalization": try Model.json(normalization),
            "shrink.provenance": try Model.json(provenance),
        ]
        if let classNames { metadata["shrink.classes"] = try Model.json(classNames) }
        var container = SafeTensorsFile(tensors: graph.parameters.map { ($0.name, SafeTensor($0.parameter.value)) },
                                        metadata: metadata)
        for node in graph.nodes {
            if let binary = node.layer as? any BinaryWeighted {
                try container.store(binary.binaryWeight, as: "\(node.name).weight")
            }
        }
        return container
    }

    /// The float value of the stored tensor `name`: F32 as it is; an integer weight (`IntegerWeightTensor`: I8, or
    /// 2–7-bit codes packed in U8) dequantized with the scales stored beside it as `<name>_scale`; a sparse weight
    /// (`SparseWeightTensor`: a bitmask and the nonzero values) made dense.
    public static func floatValue(_ name: String, in container: SafeTensorsFile, file: String) throws -> Tensor {
        if let sparse = try SparseWeightTensor.read(name, in: container, file: file) { return sparse.dense() }
        guard let stored = container.tensors[name] else { throw ShrinkError(.format, "tensor '\(name)' is missing") }
        if let weight = try IntegerWeightTensor.read(name, in: container, file: file) { return weight.dequantized() }
        return try stored.floatTensor(name: name, file: file)
    }

    /// The model's file bytes. With `sparse`, every conv and linear weight that takes fewer bytes as a bitmask and its
    /// nonzero values (`SparseWeightTensor`) is stored that way — for pruned models.
    public func encoded(sparse: Bool = false) throws -> [UInt8] {
        var container = try safeTensors()
        if sparse {
            for layer in graph.weightedLayers where SparseWeightTensor.pays(for: layer.weight.value) {
                try container.store(SparseWeightTensor(dense: layer.weight.value), as: "\(layer.node).weight")
            }
        }
        return try container.encoded()
    }

    /// Writes the model (`encoded(sparse:)`) atomically (temporary file, then rename); nothing is left behind on
    /// failure.
    public func save(to path: String, sparse: Bool = false) throws {
        try AtomicFile.write(try encoded(sparse: sparse), to: path)
    }

    /// Reads a model file, checking the graph against the tensors it holds.
    public static func load(from path: String) throws -> Model {
        try load(SafeTensorsFile.decode(try readFile(path), file: path), file: path)
    }

    /// Rebuilds a model from a parsed container; `file` names the source in errors.
    public static func load(_ container: SafeTensorsFile, file: String) throws -> Model {
        func field(_ key: String) throws -> String {
            guard let value = container.metadata[key] else {
                throw ShrinkError(.format, "\(file): __metadata__ has no '\(key)'; is this a Shrink model file?")
            }
            return value
        }
        func decode<T: Decodable>(_ type: T.Type, _ key: String) throws -> T {
            do {
                return try JSONDecoder().decode(type, from: Data(try field(key).utf8))
            } catch let error as ShrinkError {
                throw error
            } catch {
                throw ShrinkError(.format, "\(file): metadata '\(key)' is not valid: \(error)")
            }
        }
        let version = try field("shrink.version")
        guard version == formatVersion else {
            throw ShrinkError(.unsupported, "\(file): model format version \(version); this build reads version \(formatVersion)")
        }
        let description = try decode(GraphDescription.self, "shrink.graph")
        let graph: Graph
        do {
            let nodes = try description.nodes.map { node in
                Node(name: node.name, layer: try node.layer.makeLayer(node: node.name) { parameter in
                    let name = "\(node.name).\(parameter)"
                    let tensor = try Model.floatValue(name, in: container, file: file)
                    if let bad = tensor.firstNonFiniteIndex() {
                        throw ShrinkError(.value, "tensor '\(name)' holds a non-finite value at index \(bad)")
                    }
                    return tensor
                }, inputs: node.inputs)
            }
            graph = try Graph(inputShape: description.inputShape, nodes: nodes, output: description.output)
        } catch let error as ShrinkError {
            throw ShrinkError(error.kind, "\(file): \(error.message)")
        }
        guard graph.outputShape.count == 1 else {
            throw ShrinkError(.format, "\(file): the graph output '\(graph.outputName)' has shape \(graph.outputShape); a classifier's output must be (classes)")
        }
        let normalization = try decode(Normalization.self, "shrink.normalization")
        do { try normalization.check(sampleShape: graph.inputShape) } catch let error as ShrinkError {
            throw ShrinkError(error.kind, "\(file): shrink.normalization: \(error.message)")
        }
        var classNames: [String]?
        if container.metadata["shrink.classes"] != nil {
            let names = try decode([String].self, "shrink.classes")
            guard names.count == graph.outputShape.reduce(1, *) else {
                throw ShrinkError(.format, "\(file): shrink.classes names \(names.count) classes; the graph predicts "
                    + "\(graph.outputShape.reduce(1, *))")
            }
            classNames = names
        }
        return Model(architecture: try field("shrink.architecture"), graph: graph,
                     normalization: normalization,
                     provenance: try decode([ProvenanceStep].self, "shrink.provenance"), classNames: classNames)
    }
}
