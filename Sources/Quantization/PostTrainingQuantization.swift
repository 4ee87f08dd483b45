// PostTrainingQuantization: the pass — fold BatchNorm, calibrate, quantize, verify on held-out training samples
// and, while the accuracy drop is too large, try the next way of computing S and Z (observers, then granularities),
// and last keep the most sensitive conv/linear layers in float: step 5 of the survey's procedure, automated.
// Two targets: the integer engine (unsigned activations × symmetric weights), or weight-only quantization, where
// the model stays a float model whose weights are stored in 2–8 bits and dequantized at load.
import Datasets
import Foundation
import NeuralNetworks
import Tensors

/// The settings of one try of the pass.
///
/// JSON: `observer` (the observer's name: `minmax`, … for the built-ins), `granularity`, `weight_bits`,
/// `activation_bits` (absent for weight-only), `float_layers`, and `layer_weight_bits` (absent when empty).
public struct QuantizationSettings: Codable, Sendable, Equatable {
    /// The observer: of the activations (integer engine) or of the weights (weight-only).
    public var observer: ObserverChoice
    /// The weights' granularity.
    public var granularity: Granularity
    /// The weight bits of every conv/linear node without its own in `layerWeightBits`.
    public var weightBits: Int
    /// nil for weight-only quantization.
    public var activationBits: Int?
    /// Conv and linear nodes kept in float.
    public var floatLayers: [String]
    /// Weight bits by conv/linear node name, overriding `weightBits` for those nodes.
    public var layerWeightBits: [String: Int]

    enum CodingKeys: String, CodingKey {
        case observer, granularity, weightBits = "weight_bits", activationBits = "activation_bits"
        case floatLayers = "float_layers", layerWeightBits = "layer_weight_bits"
    }

    public init(observer: ObserverKind, granularity: Granularity, weightBits: Int, activationBits: Int?,
                floatLayers: [String], layerWeightBits: [String: Int] = [:]) {
        self.init(observer: .builtIn(observer), granularity: granularity, weightBits: weightBits,
                  activationBits: activationBits, floatLayers: floatLayers, layerWeightBits: layerWeightBits)
    }

    /// Settings with a built-in or user-defined observer.
    @_disfavoredOverload
    public init(observer: ObserverChoice, granularity: Granularity, weightBits: Int, activationBits: Int?,
                floatLayers: [String], layerWeightBits: [String: Int] = [:]) {
        self.observer = observer
        self.granularity = granularity
        self.weightBits = weightBits
        self.activationBits = activationBits
        self.floatLayers = floatLayers
        self.layerWeightBits = layerWeightBits
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(observer: try container.decode(ObserverChoice.self, forKey: .observer),
                  granularity: try container.decode(Granularity.self, forKey: .granularity),
                  weightBits: try container.decode(Int.self, forKey: .weightBits),
                  activationBits: try container.decodeIfPresent(Int.self, forKey: .activationBits),
                  floatLayers: try container.decode([String].self, forKey: .floatLayers),
                  layerWeightBits: try container.decodeIfPresent([String: Int].self, forKey: .layerWeightBits) ?? [:])
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(observer, forKey: .observer)
        try container.encode(granularity, forKey: .granularity)
        try container.encode(weightBits, forKey: .weightBits)
        try container.encodeIfPresent(activationBits, forKey: .activationBits)
        try container.encode(floatLayers, forKey: .floatLayers)
        if !layerWeightBits.isEmpty { try container.encode(layerWeightBits, forKey: .layerWeightBits) }
    }

    /// The weight bits of conv/linear node `node`: its own in `layerWeightBits`, else `weightBits`.
    public func weightBits(of node: String) -> Int {
        layerWeightBits[node] ?? weightBits
    }

    /// A one-line summary for logs: "minmax, per-channel, w8a8", then ", bits: conv1=4" and ", float: fc2" when set.
    public var summary: String {
        let bits = activationBits.map { "w\(weightBits)a\($0)" } ?? "w\(weightBits) weight-only"
        let layerBits = layerWeightBits.isEmpty ? ""
            : ", bits: " + layerWeightBits.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
        let kept = floatLayers.isEmpty ? "" : ", float: \(floatLayers.joined(separator: ","))"
        return "\(observer.name), \(granularity.rawValue), \(bits)\(layerBits)\(kept)"
    }

    /// These settings with `layers` kept in float, and no bit width of their own.
    func keepingInFloat(_ layers: [String]) -> QuantizationSettings {
        var copy = self
        copy.floatLayers = layers
        copy.layerWeightBits = layerWeightBits.filter { !layers.contains($0.key) }
        return copy
    }
}

/// One try of the pass: its settings and the accuracy it kept on the validation samples.
public struct QuantizationAttempt: Codable, Sendable {
    public var settings: QuantizationSettings
    public var validationAccuracy: Double
    /// Why the pass made this try: "search" (observers × granularities), "sensitivity" (one layer in float, to
    /// rank layers) or "fallback" (the most sensitive layers in float).
    public var stage: String

    enum CodingKeys: String, CodingKey {
        case settings, stage
        case validationAccuracy = "validation_accuracy"
    }
}

/// What the pass may try, and the tolerance that stops it.
public struct QuantizationSearch: Sendable {
    /// Observers to try, in order (activations for the integer engine, weights for weight-only), built-in or
    /// user-defined (`ObserverChoice.custom`).
    public var observers: [ObserverChoice]
    /// Granularities to try, in order, for each observer.
    public var granularities: [Granularity]
    public var weightBits: Int
    /// Activation bits for the integer engine; nil quantizes the weights only.
    public var activationBits: Int?
    /// The tolerated drop in validation accuracy, in points (0.3 = 0.3 percentage points); nil takes the first try.
    public var maximumDrop: Double?
    /// How many of the most sensitive conv/linear layers the last stage may keep in float (0: no such stage).
    public var maximumFloatLayers: Int
    /// Conv/linear nodes kept in float from the start (the user's choice).
    public var keepFloat: [String]
    /// Weight bits by conv/linear node name, overriding `weightBits` for those nodes in every try (integer engine and
    /// weight-only alike). A node the last stage keeps in float loses its entry.
    public var layerWeightBits: [String: Int]

    /// int8 weights per channel and uint8 activations with min/max ranges, one attempt: the plain default.
    public static let int8 = try! QuantizationSearch(observers: [.minmax])

    /// - Throws: `ShrinkError(.value)` for an empty list, bits outside 2…8 or a negative tolerance.
    public init(observers: [ObserverKind], granularities: [Granularity] = [.perChannel], weightBits: Int = 8,
                activationBits: Int? = 8, maximumDrop: Double? = nil, maximumFloatLayers: Int = 0,
                keepFloat: [String] = [], layerWeightBits: [String: Int] = [:]) throws {
        try self.init(observers: observers.map(ObserverChoice.builtIn), granularities: granularities,
                      weightBits: weightBits, activationBits: activationBits, maximumDrop: maximumDrop,
                      maximumFloatLayers: maximumFloatLayers, keepFloat: keepFloat, layerWeightBits: layerWeightBits)
    }

    /// A search over built-in and user-defined observers, e.g. `[.minmax, .custom(name: "mine") { Mine(axis: $0) }]`.
    /// Node names are checked against the model by `quantizeAfterTraining`.
    ///
    /// - Throws: `ShrinkError(.value)` for an empty list, an observer listed twice (by name), a custom observer named
    ///   like a built-in one, bits outside 2…8 (naming the node for a layer's own), a node both kept in float and
    ///   given bits, or a negative tolerance.
    @_disfavoredOverload
    public init(observers: [ObserverChoice], granularities: [Granularity] = [.perChannel], weightBits: Int = 8,
                activationBits: Int? = 8, maximumDrop: Double? = nil, maximumFloatLayers: Int = 0,
                keepFloat: [String] = [], layerWeightBits: [String: Int] = [:]) throws {
        guard !observers.isEmpty, !granularities.isEmpty else {
            throw ShrinkError(.value, "quantization needs at least one observer and one granularity to try")
        }
        for (i, observer) in observers.enumerated() {
            try observer.validate()
            guard !observers[..<i].contains(observer) else {
                throw ShrinkError(.value, "the observer '\(observer.name)' is listed twice; each try needs its own name")
            }
        }
        guard (2...8).contains(weightBits) else {
            throw ShrinkError(.value, "weight bits must be in 2…8, got \(weightBits)")
        }
        for (node, bits) in layerWeightBits.sorted(by: { $0.key < $1.key }) {
            guard (2...8).contains(bits) else {
                throw ShrinkError(.value, "the weight bits of '\(node)' must be in 2…8, got \(bits)")
            }
            guard !keepFloat.contains(node) else {
                throw ShrinkError(.value, "'\(node)' is both kept in float and given \(bits)-bit weights; choose one")
            }
        }
        if let activationBits, !(2...8).contains(activationBits) {
            throw ShrinkError(.value, "activation bits must be in 2…8, got \(activationBits)")
        }
        guard (maximumDrop ?? 0) >= 0, maximumFloatLayers >= 0 else {
            throw ShrinkError(.value, "the accuracy tolerance and the number of float layers must not be negative")
        }
        self.observers = observers
        self.granularities = granularities
        self.weightBits = weightBits
        self.activationBits = activationBits
        self.maximumDrop = maximumDrop
        self.maximumFloatLayers = maximumFloatLayers
        self.keepFloat = keepFloat
        self.layerWeightBits = layerWeightBits
    }
}

/// A float model whose conv and linear weights are stored as 2–8-bit integers (`IntegerWeightTensor`) and
/// dequantized when the file is loaded; it runs on the float engine.
public struct WeightOnlyModel {
    /// The model with the dequantized weights (what runs).
    public let model: Model
    /// The integer weights, keyed by node name.
    public let weights: [String: IntegerWeightTensor]
    /// The model it came from, with float weights.
    let source: Model

    /// Quantizes the conv and linear weights of `model` with `scheme` — or, for the nodes named in `layerSchemes`,
    /// with their own (another bit width, say) — except the nodes in `floatLayers`.
    ///
    /// - Throws: `ShrinkError(.unknownName)` for a name in `layerSchemes` that is no conv or linear node (listing
    ///   those); errors from quantizing a weight, naming its node.
    public init(_ model: Model, scheme: WeightScheme, floatLayers: Set<String> = [],
                layerSchemes: [String: WeightScheme] = [:]) throws {
        try checkWeightLayers(layerSchemes.keys.sorted(), of: model.graph, role: "whose weight bits can be set")
        var weights: [String: IntegerWeightTensor] = [:]
        for layer in model.graph.weightedLayers where !floatLayers.contains(layer.node) {
            do {
                weights[layer.node] = try (layerSchemes[layer.node] ?? scheme).quantize(layer.weight.value)
            } catch let error as ShrinkError {
                throw ShrinkError(error.kind, "weights of node '\(layer.node)': \(error.message)")
            }
        }
        self.source = model
        self.weights = weights
        // The model that runs is the file read back: what is evaluated is exactly what is saved.
        self.model = try Model.load(try Self.container(model, weights), file: "weight-only model")
    }

    /// A model whose conv and linear nodes named in `weights` hold exactly those integer weights, dequantized (the
    /// file stores the integers; `model`'s float values of those weights are ignored).
    ///
    /// - Throws: `ShrinkError(.unknownName)` for a name that is no conv or linear node; `ShrinkError(.shape)` for a
    ///   weight of the wrong shape.
    public init(_ model: Model, weights: [String: IntegerWeightTensor]) throws {
        for (name, weight) in weights {
            guard let parameter = model.graph.weightedLayer(named: name)?.weight else {
                throw ShrinkError(.unknownName, "'\(name)' is no conv or linear node of the model")
            }
            guard parameter.value.shape == weight.shape else {
                throw ShrinkError(.shape, "the integer weight of '\(name)' has shape \(weight.shape), the layer \(parameter.value.shape)")
            }
        }
        self.source = model
        self.weights = weights
        self.model = try Model.load(try Self.container(model, weights), file: "weight-only model")
    }

    private static func container(_ model: Model, _ weights: [String: IntegerWeightTensor]) throws -> SafeTensorsFile {
        var container = try model.safeTensors()
        for (node, weight) in weights.sorted(by: { $0.key < $1.key }) { try container.store(weight, as: "\(node).weight") }
        return container
    }

    /// The model as a safetensors container (weights as integers, the rest F32).
    public func safeTensors() throws -> SafeTensorsFile {
        try Self.container(source, weights)
    }

    /// Writes the model atomically.
    public func save(to path: String) throws {
        try AtomicFile.write(try safeTensors().encoded(), to: path)
    }
}

/// The model the pass produced.
public enum QuantizationProduct {
    case integer(QuantizedModel)
    case weightOnly(WeightOnlyModel)

    /// Writes the model file atomically.
    public func save(to path: String) throws {
        switch self {
        case .integer(let model): try model.save(to: path)
        case .weightOnly(let model): try model.save(to: path)
        }
    }

    /// Logits of prepared inputs (integer engine, or float engine for weight-only).
    public func predict(_ inputs: Tensor, batchSize: Int = 256) throws -> Tensor {
        switch self {
        case .integer(let model): try model.predict(inputs, batchSize: batchSize)
        case .weightOnly(let model): NeuralNetworks.predict(model.model.graph, inputs, batchSize: batchSize)
        }
    }

    /// Nodes computing in float: for the integer engine, those without an integer form on codes (concat, …)
    /// and the conv/linear layers kept in float; for weight-only, the conv/linear layers whose weights stayed float.
    public var floatNodes: [String] {
        switch self {
        case .integer(let model): model.graph.floatComputedNodes
        case .weightOnly(let model):
            model.model.graph.weightedLayers.map(\.node).filter { model.weights[$0] == nil }
        }
    }
}

/// The outcome of `quantizeAfterTraining`.
public struct QuantizationOutcome {
    public var product: QuantizationProduct
    /// Every try, in order.
    public var attempts: [QuantizationAttempt]
    /// The chosen try's settings.
    public var chosen: QuantizationSettings
    public var chosenAccuracy: Double
    /// The float model's accuracy on the same validation samples.
    public var floatValidationAccuracy: Double
    /// Whether the chosen try is within the tolerance (always true without one).
    public var withinTolerance: Bool
}

/// Quantizes `model` after training.
///
/// `calibration` and `validation` must be disjoint parts of the *training* split, already prepared (normalised) by
/// the model; the test split is kept for the final, honest measurement. The pass tries each observer × granularity
/// of `search` in order; without a tolerance it takes the first, with one the first whose validation accuracy is
/// within it. If none is (and there is a tolerance), it ranks the conv/linear layers by the accuracy the best try regains when only that layer
/// stays in float, and keeps the 1, 2, … `maximumFloatLayers` most sensitive in float until the tolerance holds.
/// When nothing meets it, the most accurate try is kept and `withinTolerance` is false. `log` hears of every try.
public func quantizeAfterTraining(_ model: Model, calibration: Dataset, calibrationSamples: Int, validation: Dataset,
                                  search: QuantizationSearch = QuantizationSearch.int8,
                                  log: (QuantizationAttempt) -> Void = { _ in }) throws -> QuantizationOutcome {
    guard validation.count >= 1 else { throw ShrinkError(.value, "quantization needs validation samples") }
    let folded = try model.graph.foldingBatchNorm()
    let floatModel = Model(architecture: model.architecture, graph: folded, normalization: model.normalization,
                           provenance: model.provenance)
    let layers = folded.weightedLayers.map(\.node)
    try checkWeightLayers(search.keepFloat, of: folded, role: "that can stay in float")
    try checkWeightLayers(search.layerWeightBits.keys.sorted(), of: folded, role: "whose weight bits can be set")
    let floatAccuracy = evaluate(folded, on: validation).top1
    var calibrations: [String: CalibrationResult] = [:]

    func build(_ settings: QuantizationSettings) throws -> QuantizationProduct {
        if let activationBits = settings.activationBits {
            let calibrated = try calibrations[settings.observer.name] ?? {
                let result = try calibrate(folded, on: calibration, samples: calibrationSamples,
                                           observer: settings.observer)
                calibrations[settings.observer.name] = result
                return result
            }()
            // Layers with bits of their own are quantized here; the graph quantizes the rest with one scheme.
            var stored: [String: IntegerWeightTensor] = [:]
            for layer in folded.weightedLayers where settings.layerWeightBits[layer.node] != nil
                && !settings.floatLayers.contains(layer.node) {
                do {
                    stored[layer.node] = try WeightScheme(bits: settings.weightBits(of: layer.node),
                                                          granularity: settings.granularity).quantize(layer.weight.value)
                } catch let error as ShrinkError {
                    throw ShrinkError(error.kind, "weights of node '\(layer.node)': \(error.message)")
                }
            }
            let graph = try QuantizedGraph(folded: folded, calibration: calibrated, activationBits: activationBits,
                                           weights: try WeightScheme(bits: settings.weightBits,
                                                                     granularity: settings.granularity),
                                           floatLayers: Set(settings.floatLayers), stored: stored)
            return .integer(QuantizedModel(float: floatModel, graph: graph))
        }
        return .weightOnly(try weightOnlyModel(floatModel, settings))
    }

    var attempts: [QuantizationAttempt] = []
    var best: (product: QuantizationProduct, attempt: QuantizationAttempt)?
    func within(_ accuracy: Double) -> Bool {
        search.maximumDrop.map { (floatAccuracy - accuracy) * 100 <= $0 + 1e-9 } ?? true
    }
    /// Builds and measures one try, keeping the most accurate so far as the fallback choice.
    func attempt(_ settings: QuantizationSettings, stage: String) throws -> (QuantizationProduct, QuantizationAttempt) {
        let product = try build(settings)
        let accuracy = metrics(logits: try product.predict(validation.inputs), labels: validation.labels).top1
        let record = QuantizationAttempt(settings: settings, validationAccuracy: accuracy, stage: stage)
        attempts.append(record)
        log(record)
        if best == nil || accuracy > best!.attempt.validationAccuracy { best = (product, record) }
        return (product, record)
    }

    var chosen: (product: QuantizationProduct, attempt: QuantizationAttempt)?
    search: for granularity in search.granularities {
        for observer in search.observers {
            let settings = QuantizationSettings(observer: observer, granularity: granularity,
                                                weightBits: search.weightBits, activationBits: search.activationBits,
                                                floatLayers: search.keepFloat, layerWeightBits: search.layerWeightBits)
            let result = try attempt(settings, stage: "search")
            if within(result.1.validationAccuracy) {
                chosen = result
                break search
            }
        }
    }
    let candidates = layers.filter { !search.keepFloat.contains($0) }
    if chosen == nil, search.maximumFloatLayers > 0, candidates.count > 1 {
        // Rank layers by what keeping each alone in float regains, on the best settings found so far; the top one
        // is also the first fallback.
        let base = best!.attempt.settings
        var single: [(product: QuantizationProduct, attempt: QuantizationAttempt, layer: String)] = []
        for layer in candidates {
            let result = try attempt(base.keepingInFloat(search.keepFloat + [layer]), stage: "sensitivity")
            single.append((result.0, result.1, layer))
        }
        let ranked = single.enumerated().sorted {
            $0.element.attempt.validationAccuracy != $1.element.attempt.validationAccuracy
                ? $0.element.attempt.validationAccuracy > $1.element.attempt.validationAccuracy : $0.offset < $1.offset
        }.map(\.element)
        if within(ranked[0].attempt.validationAccuracy) { chosen = (ranked[0].product, ranked[0].attempt) }
        var count = 2
        while chosen == nil && count <= min(search.maximumFloatLayers, candidates.count - 1) {
            let result = try attempt(base.keepingInFloat(search.keepFloat + ranked.prefix(count).map(\.layer)),
                                     stage: "fallback")
            if within(result.1.validationAccuracy) { chosen = result }
            count += 1
        }
    }
    let choice = chosen ?? best!
    let summary = choice.attempt.settings
    var record = [
        "mode": summary.activationBits == nil ? "weight-only" : "integer",
        "observer": summary.observer.name, "granularity": summary.granularity.rawValue,
        "weight_bits": "\(summary.weightBits)", "activation_bits": summary.activationBits.map { "\($0)" } ?? "float",
        "float_layers": summary.floatLayers.joined(separator: ","),
        "calibration_samples": summary.activationBits == nil ? "0" : "\(min(calibrationSamples, calibration.count))",
        "max_accuracy_drop": search.maximumDrop.map { "\($0)" } ?? "none",
    ]
    if !summary.layerWeightBits.isEmpty {
        record["layer_weight_bits"] = layers.compactMap { node in summary.layerWeightBits[node].map { "\(node):\($0)" } }
            .joined(separator: ",")
    }
    let provenance = ProvenanceStep(pass: "quantize", settings: record)
    let product: QuantizationProduct
    switch choice.product {
    case .integer(let quantized):
        let float = Model(architecture: floatModel.architecture, graph: floatModel.graph,
                          normalization: floatModel.normalization, provenance: floatModel.provenance + [provenance])
        product = .integer(QuantizedModel(float: float, graph: quantized.graph))
    case .weightOnly:
        let float = Model(architecture: floatModel.architecture, graph: floatModel.graph,
                          normalization: floatModel.normalization, provenance: floatModel.provenance + [provenance])
        product = .weightOnly(try weightOnlyModel(float, summary))
    }
    return QuantizationOutcome(product: product, attempts: attempts, chosen: summary,
                               chosenAccuracy: choice.attempt.validationAccuracy,
                               floatValidationAccuracy: floatAccuracy, withinTolerance: within(choice.attempt.validationAccuracy))
}

/// The weight-only model of `settings` (which has no activation bits): every conv/linear weight quantized by the
/// settings' observer at its node's bits, except the float layers.
private func weightOnlyModel(_ model: Model, _ settings: QuantizationSettings) throws -> WeightOnlyModel {
    let scheme = try WeightScheme(bits: settings.weightBits, granularity: settings.granularity,
                                  observer: settings.observer)
    var layerSchemes: [String: WeightScheme] = [:]
    for (node, bits) in settings.layerWeightBits {
        layerSchemes[node] = try WeightScheme(bits: bits, granularity: settings.granularity, observer: settings.observer)
    }
    return try WeightOnlyModel(model, scheme: scheme, floatLayers: Set(settings.floatLayers),
                               layerSchemes: layerSchemes)
}

/// Checks that every name in `names` is a conv or linear node of `graph`.
///
/// - Throws: `ShrinkError(.unknownName)` naming the first that is not and listing the conv and linear nodes, "the
///   nodes \(role) are: …".
func checkWeightLayers(_ names: [String], of graph: Graph, role: String) throws {
    let layers = graph.weightedLayers.map(\.node)
    for name in names where !layers.contains(name) {
        throw ShrinkError(.unknownName, "'\(name)' is not a conv or linear node of the model; the nodes \(role) are: "
            + layers.joined(separator: ", "))
    }
}
