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
public struct QuantizationSettings: Codable, Sendable, Equatable {
    /// The observer: of the activations (integer engine) or of the weights (weight-only).
    public var observer: ObserverKind
    /// The weights' granularity.
    public var granularity: Granularity
    public var weightBits: Int
    /// nil for weight-only quantization.
    public var activationBits: Int?
    /// Conv and linear nodes kept in float.
    public var floatLayers: [String]

    enum CodingKeys: String, CodingKey {
        case observer, granularity, weightBits = "weight_bits", activationBits = "activation_bits"
        case floatLayers = "float_layers"
    }

    public init(observer: ObserverKind, granularity: Granularity, weightBits: Int, activationBits: Int?,
                floatLayers: [String]) {
        self.observer = observer
        self.granularity = granularity
        self.weightBits = weightBits
        self.activationBits = activationBits
        self.floatLayers = floatLayers
    }

    /// A one-line summary for logs: "minmax, per-channel, w8a8".
    public var summary: String {
        let bits = activationBits.map { "w\(weightBits)a\($0)" } ?? "w\(weightBits) weight-only"
        let kept = floatLayers.isEmpty ? "" : ", float: \(floatLayers.joined(separator: ","))"
        return "\(observer.rawValue), \(granularity.rawValue), \(bits)\(kept)"
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
    /// Observers to try, in order (activations for the integer engine, weights for weight-only).
    public var observers: [ObserverKind]
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

    /// int8 weights per channel and uint8 activations with min/max ranges, one attempt: the plain default.
    public static let int8 = try! QuantizationSearch(observers: [.minmax])

    /// - Throws: `ShrinkError(.value)` for an empty list, bits outside 2…8 or a negative tolerance.
    public init(observers: [ObserverKind], granularities: [Granularity] = [.perChannel], weightBits: Int = 8,
                activationBits: Int? = 8, maximumDrop: Double? = nil, maximumFloatLayers: Int = 0,
                keepFloat: [String] = []) throws {
        guard !observers.isEmpty, !granularities.isEmpty else {
            throw ShrinkError(.value, "quantization needs at least one observer and one granularity to try")
        }
        guard (2...8).contains(weightBits) else {
            throw ShrinkError(.value, "weight bits must be in 2…8, got \(weightBits)")
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

    /// Quantizes the conv and linear weights of `model` with `scheme`, except the nodes in `floatLayers`.
    public init(_ model: Model, scheme: WeightScheme, floatLayers: Set<String> = []) throws {
        var weights: [String: IntegerWeightTensor] = [:]
        for node in model.graph.nodes where !floatLayers.contains(node.name) {
            let value: Tensor
            if let conv = node.layer as? Conv2d { value = conv.weight.value }
            else if let linear = node.layer as? Linear { value = linear.weight.value }
            else { continue }
            do {
                weights[node.name] = try scheme.quantize(value)
            } catch let error as ShrinkError {
                throw ShrinkError(error.kind, "weights of node '\(node.name)': \(error.message)")
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
            guard let node = model.graph.node(named: name),
                  let parameter = (node.layer as? Conv2d)?.weight ?? (node.layer as? Linear)?.weight else {
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

    /// Nodes computing in float: for the integer engine, those without an integer form on codes (add, concat, …)
    /// and the conv/linear layers kept in float; for weight-only, the conv/linear layers whose weights stayed float.
    public var floatNodes: [String] {
        switch self {
        case .integer(let model): model.graph.floatComputedNodes
        case .weightOnly(let model):
            model.model.graph.nodes.filter { ($0.layer is Conv2d || $0.layer is Linear) && model.weights[$0.name] == nil }
                .map(\.name)
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
    let layers = folded.nodes.filter { $0.layer is Conv2d || $0.layer is Linear }.map(\.name)
    for name in search.keepFloat where !layers.contains(name) {
        throw ShrinkError(.unknownName, "'\(name)' is not a conv or linear node of the model; the nodes that can stay "
            + "in float are: \(layers.joined(separator: ", "))")
    }
    let floatAccuracy = evaluate(folded, on: validation).top1
    var calibrations: [ObserverKind: CalibrationResult] = [:]

    func build(_ settings: QuantizationSettings) throws -> QuantizationProduct {
        if let activationBits = settings.activationBits {
            let calibrated = try calibrations[settings.observer] ?? {
                let result = try calibrate(folded, on: calibration, samples: calibrationSamples, kind: settings.observer)
                calibrations[settings.observer] = result
                return result
            }()
            let graph = try QuantizedGraph(folded: folded, calibration: calibrated, activationBits: activationBits,
                                           weights: try WeightScheme(bits: settings.weightBits,
                                                                     granularity: settings.granularity),
                                           floatLayers: Set(settings.floatLayers))
            return .integer(QuantizedModel(float: floatModel, graph: graph))
        }
        let scheme = try WeightScheme(bits: settings.weightBits, granularity: settings.granularity,
                                      observer: settings.observer)
        return .weightOnly(try WeightOnlyModel(floatModel, scheme: scheme, floatLayers: Set(settings.floatLayers)))
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
                                                floatLayers: search.keepFloat)
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
            var settings = base
            settings.floatLayers = search.keepFloat + [layer]
            let result = try attempt(settings, stage: "sensitivity")
            single.append((result.0, result.1, layer))
        }
        let ranked = single.enumerated().sorted {
            $0.element.attempt.validationAccuracy != $1.element.attempt.validationAccuracy
                ? $0.element.attempt.validationAccuracy > $1.element.attempt.validationAccuracy : $0.offset < $1.offset
        }.map(\.element)
        if within(ranked[0].attempt.validationAccuracy) { chosen = (ranked[0].product, ranked[0].attempt) }
        var count = 2
        while chosen == nil && count <= min(search.maximumFloatLayers, candidates.count - 1) {
            var settings = base
            settings.floatLayers = search.keepFloat + ranked.prefix(count).map(\.layer)
            let result = try attempt(settings, stage: "fallback")
            if within(result.1.validationAccuracy) { chosen = result }
            count += 1
        }
    }
    let choice = chosen ?? best!
    let summary = choice.attempt.settings
    let provenance = ProvenanceStep(pass: "quantize", settings: [
        "mode": summary.activationBits == nil ? "weight-only" : "integer",
        "observer": summary.observer.rawValue, "granularity": summary.granularity.rawValue,
        "weight_bits": "\(summary.weightBits)", "activation_bits": summary.activationBits.map { "\($0)" } ?? "float",
        "float_layers": summary.floatLayers.joined(separator: ","),
        "calibration_samples": summary.activationBits == nil ? "0" : "\(min(calibrationSamples, calibration.count))",
        "max_accuracy_drop": search.maximumDrop.map { "\($0)" } ?? "none",
    ])
    let product: QuantizationProduct
    switch choice.product {
    case .integer(let quantized):
        let float = Model(architecture: floatModel.architecture, graph: floatModel.graph,
                          normalization: floatModel.normalization, provenance: floatModel.provenance + [provenance])
        product = .integer(QuantizedModel(float: float, graph: quantized.graph))
    case .weightOnly:
        let float = Model(architecture: floatModel.architecture, graph: floatModel.graph,
                          normalization: floatModel.normalization, provenance: floatModel.provenance + [provenance])
        product = .weightOnly(try WeightOnlyModel(float, scheme: try WeightScheme(
            bits: summary.weightBits, granularity: summary.granularity, observer: summary.observer),
            floatLayers: Set(summary.floatLayers)))
    }
    return QuantizationOutcome(product: product, attempts: attempts, chosen: summary,
                               chosenAccuracy: choice.attempt.validationAccuracy,
                               floatValidationAccuracy: floatAccuracy, withinTolerance: within(choice.attempt.validationAccuracy))
}
