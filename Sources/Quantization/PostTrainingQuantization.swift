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
/// `activation_bits` (absent for weight-only), `float_layers`, `layer_weight_bits` (absent when empty), and
/// `equalization` (true), `bias_correction` and `rounding` when they are not the defaults (false, none, nearest).
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
    /// Cross-layer equalization with bias absorption before quantizing.
    public var equalization = false
    /// How each quantized layer's bias is corrected for the mean shift of its rounding.
    public var biasCorrection = BiasCorrection.none
    /// How weights are rounded to their codes.
    public var rounding = WeightRounding.nearest

    enum CodingKeys: String, CodingKey {
        case observer, granularity, weightBits = "weight_bits", activationBits = "activation_bits"
        case floatLayers = "float_layers", layerWeightBits = "layer_weight_bits"
        case equalization, biasCorrection = "bias_correction", rounding
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
        equalization = try container.decodeIfPresent(Bool.self, forKey: .equalization) ?? false
        biasCorrection = try container.decodeIfPresent(BiasCorrection.self, forKey: .biasCorrection) ?? .none
        rounding = try container.decodeIfPresent(WeightRounding.self, forKey: .rounding) ?? .nearest
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(observer, forKey: .observer)
        try container.encode(granularity, forKey: .granularity)
        try container.encode(weightBits, forKey: .weightBits)
        try container.encodeIfPresent(activationBits, forKey: .activationBits)
        try container.encode(floatLayers, forKey: .floatLayers)
        if !layerWeightBits.isEmpty { try container.encode(layerWeightBits, forKey: .layerWeightBits) }
        if equalization { try container.encode(equalization, forKey: .equalization) }
        if biasCorrection != .none { try container.encode(biasCorrection, forKey: .biasCorrection) }
        if rounding != .nearest { try container.encode(rounding, forKey: .rounding) }
    }

    /// The weight bits of conv/linear node `node`: its own in `layerWeightBits`, else `weightBits`.
    public func weightBits(of node: String) -> Int {
        layerWeightBits[node] ?? weightBits
    }

    /// A one-line summary for logs: "minmax, per-channel, w8a8", then ", equalized", ", bias correction: empirical",
    /// ", rounding: gptq", ", bits: conv1=4" and ", float: fc2" when set.
    public var summary: String {
        let bits = activationBits.map { "w\(weightBits)a\($0)" } ?? "w\(weightBits) weight-only"
        let layerBits = layerWeightBits.isEmpty ? ""
            : ", bits: " + layerWeightBits.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
        let kept = floatLayers.isEmpty ? "" : ", float: \(floatLayers.joined(separator: ","))"
        let fixes = (equalization ? ", equalized" : "")
            + (biasCorrection == .none ? "" : ", bias correction: \(biasCorrection.rawValue)")
            + (rounding == .nearest ? "" : ", rounding: \(rounding.rawValue)")
        return "\(observer.name), \(granularity.rawValue), \(bits)\(fixes)\(layerBits)\(kept)"
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
    /// Why the pass made this try: "search" (observers × granularities), "equalization", "bias-correction" and
    /// "rounding" (the fixes, each on the best try so far), "sensitivity" (one layer in float, to rank layers) or
    /// "fallback" (the most sensitive layers in float).
    public var stage: String
    /// Wall-clock seconds to build the try (calibration, equalization, rounding, bias correction; not the
    /// validation), the parts shared with earlier tries excluded.
    public var seconds: Double

    enum CodingKeys: String, CodingKey {
        case settings, stage, seconds
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
    /// Cross-layer equalization: on or off in every try, or nil to let the fix stage try it.
    public var equalization: Bool?
    /// Bias correction in every try, or nil to let the fix stage try the empirical one.
    public var biasCorrection: BiasCorrection?
    /// Weight rounding in every try, or nil to let the fix stage try GPTQ, then AdaRound.
    public var rounding: WeightRounding?
    /// AdaRound's schedule.
    public var adaRound = AdaRoundOptions()
    /// Activation ranges set by hand for edges (node names, or `input`), replacing what the observer chose; checked
    /// against the model by `quantizeAfterTraining`. Integer engine only.
    public var edgeRanges: [String: ClosedRange<Float>] = [:]

    /// int8 weights per channel and uint8 activations with min/max ranges, one attempt: the plain default.
    public static let int8 = try! QuantizationSearch(observers: [.minmax])

    /// - Throws: `ShrinkError(.value)` for an empty list, bits outside 2…8 or a negative tolerance.
    public init(observers: [ObserverKind], granularities: [Granularity] = [.perChannel], weightBits: Int = 8,
                activationBits: Int? = 8, maximumDrop: Double? = nil, maximumFloatLayers: Int = 0,
                keepFloat: [String] = [], layerWeightBits: [String: Int] = [:], equalization: Bool? = false,
                biasCorrection: BiasCorrection? = BiasCorrection.none, rounding: WeightRounding? = .nearest,
                adaRound: AdaRoundOptions = AdaRoundOptions(), edgeRanges: [String: ClosedRange<Float>] = [:]) throws {
        try self.init(observers: observers.map(ObserverChoice.builtIn), granularities: granularities,
                      weightBits: weightBits, activationBits: activationBits, maximumDrop: maximumDrop,
                      maximumFloatLayers: maximumFloatLayers, keepFloat: keepFloat, layerWeightBits: layerWeightBits,
                      equalization: equalization, biasCorrection: biasCorrection, rounding: rounding,
                      adaRound: adaRound, edgeRanges: edgeRanges)
    }

    /// A search over built-in and user-defined observers, e.g. `[.minmax, .custom(name: "mine") { Mine(axis: $0) }]`.
    /// Node names are checked against the model by `quantizeAfterTraining`. `equalization`, `biasCorrection` and
    /// `rounding` fix those choices for every try; nil leaves them to the fix stage (off by default: one try).
    ///
    /// - Throws: `ShrinkError(.value)` for an empty list, an observer listed twice (by name), a custom observer named
    ///   like a built-in one, bits outside 2…8 (naming the node for a layer's own), a node both kept in float and
    ///   given bits, or a negative tolerance.
    @_disfavoredOverload
    public init(observers: [ObserverChoice], granularities: [Granularity] = [.perChannel], weightBits: Int = 8,
                activationBits: Int? = 8, maximumDrop: Double? = nil, maximumFloatLayers: Int = 0,
                keepFloat: [String] = [], layerWeightBits: [String: Int] = [:], equalization: Bool? = false,
                biasCorrection: BiasCorrection? = BiasCorrection.none, rounding: WeightRounding? = .nearest,
                adaRound: AdaRoundOptions = AdaRoundOptions(), edgeRanges: [String: ClosedRange<Float>] = [:]) throws {
        try adaRound.validate()
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
        self.equalization = equalization
        self.biasCorrection = biasCorrection
        self.rounding = rounding
        self.adaRound = adaRound
        self.edgeRanges = edgeRanges
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
    /// What each fix the fix stage tried bought, in order.
    public var fixes: [QuantizationFix] = []
}

/// One fix the search tried on its best try so far: what it is, the validation accuracy before and with it, and
/// whether it was kept (it helped).
///
/// JSON: `{"fix", "validation_accuracy_before", "validation_accuracy", "kept"}`; `fix` is `equalization`,
/// `bias-correction: empirical`, `rounding: gptq` or `rounding: adaround`.
public struct QuantizationFix: Codable, Sendable, Equatable {
    public var fix: String
    public var validationAccuracyBefore: Double
    public var validationAccuracy: Double
    public var kept: Bool

    enum CodingKeys: String, CodingKey {
        case fix, kept
        case validationAccuracyBefore = "validation_accuracy_before", validationAccuracy = "validation_accuracy"
    }
}

/// Quantizes `model` after training.
///
/// `calibration` and `validation` must be disjoint parts of the *training* split, already prepared (normalised) by
/// the model; the test split is kept for the final, honest measurement. The pass tries each observer × granularity
/// of `search` in order; without a tolerance it takes the first, with one the first whose validation accuracy is
/// within it. If none is, the fix stage applies, one after another on the most accurate try so far and keeping each
/// that helps, the fixes `search` leaves open (nil): cross-layer equalization with bias absorption, empirical bias
/// correction, then GPTQ and AdaRound rounding. If still none is within the tolerance, it ranks the conv/linear layers
/// by the accuracy the best try regains when only that layer stays in float, and keeps the 1, 2, …
/// `maximumFloatLayers` most sensitive in float until the tolerance holds. When nothing meets it, the most accurate
/// try is kept and `withinTolerance` is false. `log` hears of every try.
public func quantizeAfterTraining(_ model: Model, calibration: Dataset, calibrationSamples: Int, validation: Dataset,
                                  search: QuantizationSearch = QuantizationSearch.int8,
                                  log: (QuantizationAttempt) -> Void = { _ in }) throws -> QuantizationOutcome {
    guard validation.count >= 1 else { throw ShrinkError(.value, "quantization needs validation samples") }
    let folded = try model.graph.foldingBatchNorm()
    let floatModel = model.with(graph: folded)
    let layers = folded.weightedLayers.map(\.node)
    try checkWeightLayers(search.keepFloat, of: folded, role: "that can stay in float")
    try checkWeightLayers(search.layerWeightBits.keys.sorted(), of: folded, role: "whose weight bits can be set")
    let edgeNames = QuantizedEdges(folded: folded).edges
    for (edge, range) in search.edgeRanges.sorted(by: { $0.key < $1.key }) {
        guard search.activationBits != nil else {
            throw ShrinkError(.value, "edge ranges apply to the integer engine; a weight-only model has float activations")
        }
        guard edgeNames.contains(edge) else {
            throw ShrinkError(.unknownName, "'\(edge)' is no edge with quantization parameters of its own; those are: "
                + edgeNames.joined(separator: ", "))
        }
        guard range.lowerBound.isFinite, range.upperBound.isFinite, range.lowerBound < range.upperBound else {
            throw ShrinkError(.value, "the range of edge '\(edge)' must be finite with min < max, got \(range)")
        }
    }
    let floatAccuracy = try evaluate(folded, on: validation).top1
    let calibrationInputs = try calibration.inputs(0..<min(max(calibrationSamples, 1), calibration.count))
    guard calibrationInputs.shape[0] >= 1 else { throw ShrinkError(.value, "quantization needs calibration samples") }

    // What tries share, computed once: the equalized graph, each graph's calibration per observer and its layers'
    // input statistics.
    var equalized: CrossLayerEqualization?
    var calibrations: [String: CalibrationResult] = [:]
    var statistics: [Bool: [String: LayerInputStatistics]] = [:]
    func graph(equalizing: Bool) throws -> Graph {
        guard equalizing else { return folded }
        if equalized == nil {
            equalized = try equalizeCrossLayer(folded).absorbingBiases(calibration: calibrationInputs)
        }
        return equalized!.graph
    }
    func inputStatistics(equalizing: Bool) throws -> [String: LayerInputStatistics] {
        if let known = statistics[equalizing] { return known }
        let g = try graph(equalizing: equalizing)
        let n = calibrationInputs.shape[0]
        let batches = stride(from: 0, to: n, by: 256).lazy.map { calibrationInputs.slice(rows: $0..<min($0 + 256, n)) }
        let result = try g.layerInputStatistics(batches)
        statistics[equalizing] = result
        return result
    }

    func build(_ settings: QuantizationSettings) throws -> QuantizationProduct {
        let base = try graph(equalizing: settings.equalization)
        // Every quantized layer's integer weight: nearest on its grid, then rounded by the settings' method.
        var weights: [String: IntegerWeightTensor] = [:]
        let rounding = settings.rounding != .nearest ? try inputStatistics(equalizing: settings.equalization) : [:]
        for layer in base.weightedLayers where !settings.floatLayers.contains(layer.node) {
            do {
                let scheme = try WeightScheme(bits: settings.weightBits(of: layer.node), granularity: settings.granularity,
                                              observer: settings.activationBits == nil ? settings.observer : .minmax)
                let nearest = try scheme.quantize(layer.weight.value)
                if let s = rounding[layer.node] {
                    weights[layer.node] = try roundWeight(layer.weight.value, nearest: nearest, statistics: s,
                                                          method: settings.rounding, adaRound: search.adaRound)
                } else {
                    weights[layer.node] = nearest
                }
            } catch let error as ShrinkError {
                throw ShrinkError(error.kind, "weights of node '\(layer.node)': \(error.message)")
            }
        }
        var corrected = base
        switch settings.biasCorrection {
        case .none: break
        case .empirical:
            let samples = calibrationInputs.slice(rows: 0..<min(calibrationInputs.shape[0], 512))
            corrected = try correctingBiasesLayerByLayer(base, quantized: weights, calibration: samples)
        case .analytic:
            corrected = try correctingBiases(base, quantized: weights, means: analyticInputMeans(
                original: model.graph, folded: folded, equalization: settings.equalization ? equalized : nil))
        }
        let float = model.with(graph: corrected)
        if let activationBits = settings.activationBits {
            // Ranges from the float graph the weights were rounded for (before bias correction, which only moves
            // each layer's output mean back to the float one).
            let key = "\(settings.observer.name)\(settings.equalization ? "+equalized" : "")"
            let calibrated = try calibrations[key] ?? {
                let result = try calibrate(base, on: calibration, samples: calibrationSamples, observer: settings.observer)
                calibrations[key] = result
                return result
            }()
            let graph = try QuantizedGraph(folded: corrected, calibration: calibrated, activationBits: activationBits,
                                           weights: try WeightScheme(bits: settings.weightBits,
                                                                     granularity: settings.granularity),
                                           floatLayers: Set(settings.floatLayers), stored: weights,
                                           ranges: search.edgeRanges)
            return .integer(QuantizedModel(float: float, graph: graph))
        }
        return .weightOnly(try WeightOnlyModel(float, weights: weights))
    }

    var attempts: [QuantizationAttempt] = []
    var best: (product: QuantizationProduct, attempt: QuantizationAttempt)?
    func within(_ accuracy: Double) -> Bool {
        search.maximumDrop.map { (floatAccuracy - accuracy) * 100 <= $0 + 1e-9 } ?? true
    }
    /// Builds and measures one try, keeping the most accurate so far as the fallback choice.
    func attempt(_ settings: QuantizationSettings, stage: String) throws -> (QuantizationProduct, QuantizationAttempt) {
        let started = ContinuousClock.now
        let product = try build(settings)
        let elapsed = ContinuousClock.now - started
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        let accuracy = metrics(logits: try product.predict(validation.inputs), labels: validation.labels).top1
        let record = QuantizationAttempt(settings: settings, validationAccuracy: accuracy, stage: stage, seconds: seconds)
        attempts.append(record)
        log(record)
        if best == nil || accuracy > best!.attempt.validationAccuracy { best = (product, record) }
        return (product, record)
    }

    var chosen: (product: QuantizationProduct, attempt: QuantizationAttempt)?
    var tried: [QuantizationFix] = []
    search: for granularity in search.granularities {
        for observer in search.observers {
            var settings = QuantizationSettings(observer: observer, granularity: granularity,
                                                weightBits: search.weightBits, activationBits: search.activationBits,
                                                floatLayers: search.keepFloat, layerWeightBits: search.layerWeightBits)
            settings.equalization = search.equalization ?? false
            settings.biasCorrection = search.biasCorrection ?? .none
            settings.rounding = search.rounding ?? .nearest
            let result = try attempt(settings, stage: "search")
            if within(result.1.validationAccuracy) {
                chosen = result
                break search
            }
        }
    }
    if chosen == nil && search.maximumDrop != nil {
        // The fixes left open, cheapest first, each on the most accurate try so far: kept when it helps.
        var fixes: [(stage: String, name: String, apply: (inout QuantizationSettings) -> Void)] = []
        if search.equalization == nil && !equalizablePairs(folded).isEmpty {
            fixes.append(("equalization", "equalization", { $0.equalization = true }))
        }
        if search.biasCorrection == nil {
            fixes.append(("bias-correction", "bias-correction: empirical", { $0.biasCorrection = .empirical }))
        }
        if search.rounding == nil {
            fixes.append(("rounding", "rounding: gptq", { $0.rounding = .gptq }))
            fixes.append(("rounding", "rounding: adaround", { $0.rounding = .adaround }))
        }
        for fix in fixes {
            var settings = best!.attempt.settings
            let before = best!.attempt.validationAccuracy
            fix.apply(&settings)
            guard settings != best!.attempt.settings else { continue }
            let result = try attempt(settings, stage: fix.stage)
            tried.append(QuantizationFix(fix: fix.name, validationAccuracyBefore: before,
                                         validationAccuracy: result.1.validationAccuracy,
                                         kept: result.1.validationAccuracy > before))
            if within(result.1.validationAccuracy) {
                chosen = result
                break
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
        "calibration_samples": "\(calibrationInputs.shape[0])",
        "max_accuracy_drop": search.maximumDrop.map { "\($0)" } ?? "none",
        "equalization": summary.equalization ? "on" : "off", "bias_correction": summary.biasCorrection.rawValue,
        "rounding": summary.rounding.rawValue,
    ]
    if summary.rounding == .adaround { record["adaround_iterations"] = "\(search.adaRound.iterations)" }
    if !search.edgeRanges.isEmpty {
        record["edge_range"] = search.edgeRanges.sorted { $0.key < $1.key }
            .map { "\($0.key)=\($0.value.lowerBound):\($0.value.upperBound)" }.joined(separator: ",")
    }
    if !summary.layerWeightBits.isEmpty {
        record["layer_weight_bits"] = layers.compactMap { node in summary.layerWeightBits[node].map { "\(node):\($0)" } }
            .joined(separator: ",")
    }
    let provenance = ProvenanceStep(pass: "quantize", settings: record)
    let product: QuantizationProduct
    switch choice.product {
    case .integer(let quantized):
        let float = floatModel.with(graph: quantized.float.graph, provenance: floatModel.provenance + [provenance])
        product = .integer(QuantizedModel(float: float, graph: quantized.graph))
    case .weightOnly(let weightOnly):
        let float = floatModel.with(graph: weightOnly.source.graph, provenance: floatModel.provenance + [provenance])
        product = .weightOnly(try WeightOnlyModel(float, weights: weightOnly.weights))
    }
    return QuantizationOutcome(product: product, attempts: attempts, chosen: summary,
                               chosenAccuracy: choice.attempt.validationAccuracy,
                               floatValidationAccuracy: floatAccuracy, withinTolerance: within(choice.attempt.validationAccuracy),
                               fixes: tried)
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
