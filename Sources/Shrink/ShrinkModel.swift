// ShrinkModel: any Shrink model file — float (dense or pruned), integer engine, weight-only or binarized — as one
// value: its exact file bytes and the views that run it. Every pass takes one and gives a new one; every command
// opens files through it.
import Datasets
import Foundation
import NeuralNetworks
import Quantization
import Tensors

/// How a model file's network computes.
public enum ModelEngine: String, Codable, Sendable, CaseIterable {
    /// Float32 weights and activations (dense, or with pruned weights stored sparse).
    case float
    /// uint8 activations × int8 (or narrower) weights on the integer engine.
    case integer
    /// Conv and linear weights stored as 2–8-bit integers, dequantized at load; runs in float.
    case weightOnly = "weight-only"
    /// Binarized layers (±1 weights, 1 bit each) on the XNOR-popcount kernel.
    case binarized
}

/// The size and cost figures of a model.
public struct ModelCost: Codable, Sendable, Equatable {
    /// Every parameter of the network (the float view's count).
    public var parameters: Int
    /// Parameters that are not zero (unstructured pruning leaves zeros in place).
    public var nonzeroParameters: Int
    /// Multiply-accumulates per sample.
    public var macs: Int
    /// The model file's size.
    public var bytes: Int

    enum CodingKeys: String, CodingKey {
        case parameters, nonzeroParameters = "nonzero_parameters", macs, bytes
    }
}

/// How a model file stores one layer.
public struct LayerStorage: Codable, Sendable, Equatable {
    /// Weight bits (32 for float, 1 for binarized); nil for a layer without weights.
    public var weightBits: Int?
    /// "per-channel" or "per-tensor" for integer weights.
    public var weightGranularity: String?
    /// Activation bits (32 for float, the code width on the integer engine).
    public var activationBits: Int
    /// The bytes the layer's tensors take in the file.
    public var fileBytes: Int
    /// For weights stored sparse: the fraction that is nonzero.
    public var weightDensity: Double?

    /// "int4 per-channel", "f32 sparse 10.0%", "f32" or "" (no weights).
    public var weightDescription: String {
        if let bits = weightBits, bits < 32 {
            return "\(bits == 1 ? "binary" : "int\(bits)") \(weightGranularity ?? "per-channel")"
        }
        if let density = weightDensity { return String(format: "f32 sparse %.1f%%", 100 * density) }
        return weightBits == nil ? "" : "f32"
    }

    /// "u8" or "f32".
    public var activationDescription: String { activationBits < 32 ? "u\(activationBits)" : "f32" }
}

/// Any Shrink model file, held as its exact bytes and the views that run it.
///
/// A `ShrinkModel` is immutable: `floatModel()` hands out a fresh copy of the float network for a pass to train or
/// rewrite, so a pass never changes the model it was given. `bytes` are exactly what `save(to:)` writes, so
/// `cost.bytes` is the file's size without writing it.
public struct ShrinkModel: @unchecked Sendable {
    /// The file's bytes (safetensors).
    public let bytes: [UInt8]
    /// How the network computes.
    public let engine: ModelEngine
    /// The float view: for a quantized file the folded graph with dequantized weights. It carries the
    /// architecture, normalisation, sample shape and provenance. Treat it as read-only; use `floatModel()` to change
    /// weights.
    public let float: Model
    /// The integer model, for `engine == .integer`.
    public let quantized: QuantizedModel?
    /// The parsed container (tensors and metadata).
    public let container: SafeTensorsFile
    /// What the model is called in messages (its path, or the pass that made it).
    public private(set) var origin: String

    /// Opens a model from its file bytes; `origin` names it in errors.
    public init(bytes: [UInt8], origin: String = "model") throws {
        let container = try SafeTensorsFile.decode(bytes, file: origin)
        self.bytes = bytes
        self.container = container
        self.origin = origin
        if QuantizedModel.isQuantized(container) {
            let model = try QuantizedModel.load(container, file: origin)
            quantized = model
            float = model.float
            engine = .integer
        } else {
            float = try Model.load(container, file: origin)
            quantized = nil
            let bits = IntegerWeightTensor.storedBits(in: container)
            engine = bits.isEmpty ? .float : bits.values.contains { $0.bits == 1 } ? .binarized : .weightOnly
            // Pruned linear layers run on the sparse kernel where it beats the dense one.
            float.graph.useSparseKernels()
        }
    }

    /// Reads a model file.
    public static func load(from path: String) throws -> ShrinkModel {
        try ShrinkModel(bytes: try readFile(path), origin: path)
    }

    /// A float model. With `sparse`, conv and linear weights that take fewer bytes as a bitmask and their nonzero
    /// values are stored that way (for pruned models).
    public init(_ model: Model, sparse: Bool = false) throws {
        try self.init(bytes: try model.encoded(sparse: sparse), origin: model.architecture)
    }

    /// An integer-engine model.
    public init(_ model: QuantizedModel) throws {
        try self.init(bytes: try model.safeTensors().encoded(), origin: model.float.architecture)
    }

    /// A weight-only (or binarized) model.
    public init(_ model: WeightOnlyModel) throws {
        try self.init(bytes: try model.safeTensors().encoded(), origin: model.model.architecture)
    }

    /// The product of post-training quantization.
    public init(_ product: QuantizationProduct) throws {
        switch product {
        case .integer(let model): try self.init(model)
        case .weightOnly(let model): try self.init(model)
        }
    }

    /// The same model, called `origin` in messages (the path it was saved to).
    public func named(_ origin: String) -> ShrinkModel {
        var copy = self
        copy.origin = origin
        return copy
    }

    /// Writes the file atomically (temporary file, then rename).
    public func save(to path: String) throws {
        try AtomicFile.write(bytes, to: path)
    }

    /// The architecture's name.
    public var architecture: String { float.architecture }
    /// The per-sample input shape.
    public var inputShape: [Int] { float.graph.inputShape }
    /// The number of classes predicted.
    public var classCount: Int { float.classCount }
    /// The passes applied, oldest first.
    public var provenance: [ProvenanceStep] { float.provenance }

    /// A fresh copy of the float network (decoded from the bytes), for a pass that trains or rewrites float weights.
    ///
    /// - Throws: `ShrinkError(.value)` when the model is not a float model, with `advice` saying what to do instead
    ///   ("quantize the float model it came from").
    public func floatModel(advice: String) throws -> Model {
        guard engine == .float else {
            throw ShrinkError(.value, "\(origin) is already quantized (\(engine.rawValue)); \(advice)")
        }
        return try Model.load(container, file: origin)
    }

    /// A copy of `dataset` normalised as the model expects.
    public func prepare(_ dataset: Dataset) throws -> Dataset { try float.prepare(dataset) }

    /// Logits (N, classes) of prepared (normalised) inputs, in batches, on the model's own engine.
    public func predict(_ inputs: Tensor, batchSize: Int = 256) throws -> Tensor {
        guard inputs.shape.count >= 1, Array(inputs.shape.dropFirst()) == inputShape else {
            throw ShrinkError(.shape, "\(origin) takes samples of shape \(inputShape), got inputs of shape \(inputs.shape)")
        }
        guard batchSize >= 1 else { throw ShrinkError(.value, "the batch size must be at least 1, got \(batchSize)") }
        if let quantized { return try quantized.predict(inputs, batchSize: batchSize) }
        return NeuralNetworks.predict(float.graph, inputs, batchSize: batchSize)
    }

    /// One inference call on a batch of prepared inputs (the float engine splits large batches across `threads`).
    public func infer(_ input: Tensor, threads: Int) throws -> Tensor {
        if let quantized { return try quantized.graph.forward(input) }
        return float.graph.infer(input, threads: threads)
    }

    /// Logits (N, classes) of a prepared dataset, a batch at a time (only one batch of inputs in memory), on the
    /// model's own engine.
    /// `batchSize` defaults to `Graph.inferenceBatchSize()` of the float graph.
    public func predict(_ prepared: Dataset, batchSize: Int? = nil) throws -> Tensor {
        guard prepared.sampleShape == inputShape else {
            throw ShrinkError(.shape, "\(origin) takes samples of shape \(inputShape), the data has \(prepared.sampleShape)")
        }
        let batchSize = batchSize ?? float.graph.inferenceBatchSize()
        guard batchSize >= 1 else { throw ShrinkError(.value, "the batch size must be at least 1, got \(batchSize)") }
        return try mapBatches(prepared, batchSize: batchSize, outputShape: [classCount]) { batch in
            if let quantized { return try quantized.predict(batch, batchSize: batchSize) }
            return NeuralNetworks.predict(float.graph, batch, batchSize: batchSize)
        }
    }

    /// Top-1, top-5 and loss on raw (unnormalised) `dataset`.
    public func evaluate(on dataset: Dataset, batchSize: Int? = nil) throws -> Metrics {
        let prepared = try prepare(dataset)
        return NeuralNetworks.metrics(logits: try predict(prepared, batchSize: batchSize), labels: prepared.labels)
    }

    /// The class names the model keeps, when its training data named them.
    public var classNames: [String]? { float.classNames }

    /// Parameters, nonzero parameters, MACs and file bytes.
    public var cost: ModelCost {
        let report = float.graph.cost()
        // Zeros count only in conv and linear weights, where pruning puts them (a bias or a BatchNorm shift that
        // happens to be 0 is not pruned).
        var zeros = 0
        for layer in float.graph.weightedLayers {
            for value in layer.weight.value.scalars where value == 0 { zeros += 1 }
        }
        return ModelCost(parameters: report.parameters, nonzeroParameters: report.parameters - zeros,
                         macs: report.macs, bytes: bytes.count)
    }

    /// How the file stores each node, keyed by node name.
    public func layerStorage() throws -> [String: LayerStorage] {
        var weightBits: [String: (bits: Int, perChannel: Bool)] = [:]
        for (name, encoding) in IntegerWeightTensor.storedBits(in: container) where name.hasSuffix(".weight") {
            weightBits[String(name.dropLast(".weight".count))] = encoding
        }
        var fileBytes: [String: Int] = [:], hasWeights = Set<String>(), density: [String: Double] = [:]
        for (name, tensor) in container.tensors {
            guard let dot = name.firstIndex(of: ".") else { continue }
            let node = String(name[..<dot])
            fileBytes[node, default: 0] += tensor.bytes.count
            if name.hasSuffix(".weight") { hasWeights.insert(node) }
        }
        for node in Set(fileBytes.keys) {
            if let sparse = try SparseWeightTensor.read("\(node).weight", in: container, file: origin) {
                density[node] = sparse.density
                hasWeights.insert(node)
            }
        }
        let edges = quantized?.graph.edges ?? [:]
        var result: [String: LayerStorage] = [:]
        for node in float.graph.nodes {
            let integer = weightBits[node.name]
            result[node.name] = LayerStorage(
                weightBits: integer?.bits ?? (hasWeights.contains(node.name) ? 32 : nil),
                weightGranularity: integer.map { $0.perChannel ? "per-channel" : "per-tensor" },
                activationBits: edges[node.name]?.bits ?? 32, fileBytes: fileBytes[node.name] ?? 0,
                weightDensity: density[node.name])
        }
        return result
    }
}

extension ShrinkModel: CustomReflectable, CustomStringConvertible {
    /// The model in logs and journal fingerprints: its origin, engine and a fingerprint of its bytes (not the bytes).
    public var customMirror: Mirror {
        Mirror(self, children: ["origin": origin, "engine": engine.rawValue, "bytes": fnv1a(bytes)], displayStyle: .struct)
    }

    public var description: String { "\(origin) (\(engine.rawValue), \(bytes.count) bytes)" }
}
