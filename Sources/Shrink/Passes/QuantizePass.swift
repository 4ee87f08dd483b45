// QuantizePass: post-training quantization — to the integer engine (int8 by default) or weights only — with the
// automatic search over observers, granularities and float fallback, or mixed precision under a size budget.
// Calibration and validation both come from the training split; the test split only gives the final figures.
import Datasets
import Foundation
import NeuralNetworks
import Quantization
import Tensors

/// How a training split is shared between calibration and validation.
public struct CalibrationSplit: Sendable, Equatable {
    /// Training samples that calibrate (from the start of the split).
    public var calibrationSamples = 1000
    /// Further training samples that judge each attempt.
    public var validationSamples = 2000

    public init(calibrationSamples: Int = 1000, validationSamples: Int = 2000) {
        self.calibrationSamples = calibrationSamples
        self.validationSamples = validationSamples
    }

    /// The calibration and validation parts of `train` (prepared or raw). A small training split is shared half and
    /// half.
    public func parts(of train: Dataset) throws -> (calibration: Dataset, validation: Dataset) {
        guard train.count >= 2 else {
            throw ShrinkError(.value, "the training split has \(train.count) samples; quantization needs at least 2 "
                + "(calibration, then validation)")
        }
        let calibrationCount = min(calibrationSamples, max(1, train.count / 2))
        let validationCount = min(validationSamples, train.count - calibrationCount)
        return (train.prefix(calibrationCount), train.rows(calibrationCount..<(calibrationCount + validationCount)))
    }

    func validate() throws {
        try check(calibrationSamples, in: 1...1_000_000, "calibration_samples")
        try check(validationSamples, in: 1...1_000_000, "validation_samples")
    }
}

/// Post-training quantization of a float model.
///
/// BatchNorm is folded first and ReLU fused into requantization. The pass tries each observer (`observers`, by
/// default minmax, percentile, entropy, mse, moving-average; for weight-only minmax, mse, percentile) for each
/// granularity (by default per-channel, then per-tensor) until the validation accuracy is within `maxAccuracyDrop`
/// points of the float model's; if none is, it keeps up to `maxFloatLayers` of the most sensitive conv/linear
/// layers in float. With `mixedPrecision` it chooses each layer's weight bits so the file fits `sizeBudget`.
public struct QuantizePass: RecipePass {
    public static let name = "quantize"
    public var split = CalibrationSplit()
    /// The observers to try, in order — built-in or user-defined (`ObserverChoice.custom`); nil: the automatic list.
    public var observers: [ObserverChoice]?
    /// The weight granularities to try; nil: per-channel, then per-tensor.
    public var granularities: [Granularity]?
    public var weightBits = 8
    /// Activation bits for the integer engine; nil: 8 (ignored with `weightOnly`).
    public var activationBits: Int?
    /// Quantize the conv and linear weights only; the model keeps running in float.
    public var weightOnly = false
    /// Tolerated drop in validation accuracy, in percentage points.
    public var maxAccuracyDrop = 0.3
    /// How many of the most sensitive conv/linear layers the last retry may keep in float.
    public var maxFloatLayers = 2
    /// Conv/linear nodes kept in float from the start.
    public var keepFloat: [String] = []
    /// Weight bits by conv/linear node name, overriding `weightBits` for those nodes.
    public var layerWeightBits: [String: Int] = [:]
    /// Cross-layer equalization with bias absorption in every attempt (true), never (false), or tried by the fix stage
    /// when the search falls short (nil).
    public var equalization: Bool?
    /// Bias correction in every attempt, or nil: empirical, tried by the fix stage.
    public var biasCorrection: BiasCorrection?
    /// Weight rounding in every attempt, or nil: GPTQ, then AdaRound, tried by the fix stage.
    public var rounding: WeightRounding?
    /// AdaRound's Adam steps per layer.
    public var adaRoundIterations = AdaRoundOptions().iterations
    /// Activation ranges set by hand, by edge (node name or `input`), for the integer engine.
    public var edgeRanges: [String: ClosedRange<Float>] = [:]
    /// Add the quantization debugger's report (`QuantizationReport`) on the chosen model to the details.
    public var report = false
    /// Choose each conv/linear layer's weight bits (8, 6, 4, 3 or 2) to fit `sizeBudget`.
    public var mixedPrecision = false
    /// With `mixedPrecision`: the largest model file, in bytes.
    public var sizeBudget: Int?

    public init() {}

    /// The observers the automatic search tries.
    public var automaticObservers: [ObserverChoice] {
        weightOnly ? [.minmax, .mse, .percentile] : [.minmax, .percentile, .entropy, .mse, .movingAverage]
    }

    public static let optionKeys = ["calibration_samples", "validation_samples", "observer", "granularity",
                                    "weight_bits", "activation_bits", "weight_only", "max_accuracy_drop",
                                    "max_float_layers", "keep_float", "layer_weight_bits", "equalization", "bias_correction",
                                    "rounding", "adaround_iterations", "edge_range", "report", "mixed_precision", "size_budget"]

    public init(options: inout PassOptions) throws {
        split.calibrationSamples = try options.int("calibration_samples") ?? split.calibrationSamples
        split.validationSamples = try options.int("validation_samples") ?? split.validationSamples
        if let observer = options.string("observer"), observer != "auto" {
            var one = PassOptions(["observer": observer])
            if let kind = try one.choice("observer", ObserverKind.self) { observers = [.builtIn(kind)] }
        }
        if let granularity = options.string("granularity"), granularity != "auto" {
            var one = PassOptions(["granularity": granularity])
            if let g = try one.choice("granularity", Granularity.self) { granularities = [g] }
        }
        weightBits = try options.int("weight_bits") ?? weightBits
        activationBits = try options.int("activation_bits")
        weightOnly = try options.bool("weight_only") ?? weightOnly
        maxAccuracyDrop = try options.double("max_accuracy_drop") ?? maxAccuracyDrop
        maxFloatLayers = try options.int("max_float_layers") ?? maxFloatLayers
        keepFloat = options.list("keep_float") ?? keepFloat
        if let entries = options.list("layer_weight_bits") {
            layerWeightBits = try layerSettings(entries, key: "layer_weight_bits", at: options.location) { Int($0) }
        }
        if let value = options.string("equalization"), value != "auto" {
            var one = PassOptions(["equalization": value == "on" ? "true" : value == "off" ? "false" : value])
            equalization = try one.bool("equalization")
        }
        if let value = options.string("bias_correction"), value != "auto" {
            var one = PassOptions(["bias_correction": value])
            biasCorrection = try one.choice("bias_correction", BiasCorrection.self)
        }
        if let value = options.string("rounding"), value != "auto" {
            var one = PassOptions(["rounding": value])
            rounding = try one.choice("rounding", WeightRounding.self)
        }
        adaRoundIterations = try options.int("adaround_iterations") ?? adaRoundIterations
        if let entries = options.list("edge_range") {
            edgeRanges = try layerSettings(entries, key: "edge_range", at: options.location) { parseRange($0) }
        }
        report = try options.bool("report") ?? report
        mixedPrecision = try options.bool("mixed_precision") ?? mixedPrecision
        sizeBudget = try options.int("size_budget")
    }

    public func validate() throws {
        try split.validate()
        guard maxAccuracyDrop >= 0 && maxAccuracyDrop <= 100 else {
            throw ShrinkError(.value, "max_accuracy_drop must be in 0…100 points, got \(maxAccuracyDrop)")
        }
        try check(weightBits, in: 2...8, "weight_bits")
        if let activationBits {
            guard !weightOnly else { throw ShrinkError(.value, "activation_bits does not apply with weight_only") }
            try check(activationBits, in: 2...8, "activation_bits")
        }
        try check(maxFloatLayers, in: 0...10_000, "max_float_layers")
        try check(adaRoundIterations, in: 1...1_000_000, "adaround_iterations")
        if !edgeRanges.isEmpty && weightOnly {
            throw ShrinkError(.value, "edge_range applies to the integer engine, not with weight_only")
        }
        if observers?.isEmpty == true { throw ShrinkError(.value, "observers must not be empty") }
        if granularities?.isEmpty == true { throw ShrinkError(.value, "granularities must not be empty") }
        if mixedPrecision {
            guard let sizeBudget, sizeBudget >= 1 else {
                throw ShrinkError(.value, "mixed_precision needs size_budget BYTES (a positive number of bytes)")
            }
            guard !weightOnly, activationBits == nil, weightBits == 8, layerWeightBits.isEmpty else {
                throw ShrinkError(.value, "mixed_precision chooses the weight bits itself (8-bit activations); drop "
                    + "weight_only, weight_bits, layer_weight_bits and activation_bits")
            }
            guard equalization != true, (biasCorrection ?? BiasCorrection.none) == BiasCorrection.none,
                  (rounding ?? .nearest) == .nearest,
                  edgeRanges.isEmpty, !report else {
                throw ShrinkError(.value, "mixed_precision quantizes with nearest rounding and calibrated ranges; "
                    + "equalization, bias_correction, rounding, edge_range and report do not apply to it")
            }
        } else if sizeBudget != nil {
            throw ShrinkError(.value, "size_budget applies with mixed_precision")
        }
        if !mixedPrecision { _ = try search() }
    }

    /// The library's search for these settings.
    public func search() throws -> QuantizationSearch {
        try QuantizationSearch(
            observers: observers ?? automaticObservers, granularities: granularities ?? [.perChannel, .perTensor],
            weightBits: weightBits, activationBits: weightOnly ? nil : (activationBits ?? 8),
            maximumDrop: maxAccuracyDrop, maximumFloatLayers: maxFloatLayers, keepFloat: keepFloat,
            layerWeightBits: layerWeightBits, equalization: equalization, biasCorrection: biasCorrection,
            rounding: rounding, adaRound: AdaRoundOptions(iterations: adaRoundIterations), edgeRanges: edgeRanges)
    }

    /// The `shrink quantize --json` document.
    public struct Details: Encodable, Sendable {
        public var mode: String, within_tolerance: Bool
        public var chosen: QuantizationSettings
        public var attempts: [QuantizationAttempt]
        public var float_validation_accuracy: Double, quantized_validation_accuracy: Double
        public var float_test_accuracy: Double, quantized_test_accuracy: Double, test_samples: Int
        public var float_bytes: Int, quantized_bytes: Int
        public var float_layers: [String]
        public var float_nodes: [String]
        /// What each fix of the search's fix stage bought (empty when the stage did not run).
        public var fixes: [QuantizationFix]
        /// The debugger's report, when asked for.
        public var report: QuantizationReport?
    }

    /// The `shrink quantize --mixed-precision --json` document.
    public struct MixedDetails: Encodable, Sendable {
        public var mode: String, size_budget: Int, bytes: Int, float_bytes: Int
        public var bits: [String: Int]
        public var sensitivity: [Sensitivity]
        public var float_validation_accuracy: Double, quantized_validation_accuracy: Double
        public var float_test_accuracy: Double, quantized_test_accuracy: Double, test_samples: Int

        public struct Sensitivity: Encodable, Sendable { public var node: String, bits: Int, validation_accuracy: Double }
    }

    public func run(_ model: ShrinkModel?, data: DataSplit?, progress: @escaping ProgressHandler) throws -> PassResult {
        try validate()
        let input = try required(model), split = try required(data)
        let float = try input.floatModel(advice: "quantize the float model it came from")
        let train = try float.prepare(split.train)
        let (calibration, validation) = try self.split.parts(of: train)
        let floatTest = try testMetrics(input, split)
        if mixedPrecision, let sizeBudget {
            let outcome = try mixedPrecisionQuantization(
                float, calibration: calibration, calibrationSamples: calibration.count, validation: validation,
                budget: sizeBudget, observer: observers?.first ?? .minmax)
            let result = try ShrinkModel(outcome.model)
            let test = try testMetrics(result, split)
            let details = MixedDetails(
                mode: "mixed-precision", size_budget: sizeBudget, bytes: result.bytes.count, float_bytes: input.bytes.count,
                bits: Dictionary(uniqueKeysWithValues: outcome.bits.map { ($0.node, $0.bits) }),
                sensitivity: outcome.sensitivity.map { .init(node: $0.node, bits: $0.bits, validation_accuracy: $0.accuracy) },
                float_validation_accuracy: outcome.floatValidationAccuracy,
                quantized_validation_accuracy: outcome.validationAccuracy, float_test_accuracy: floatTest?.top1 ?? 0,
                quantized_test_accuracy: test?.top1 ?? 0, test_samples: split.test.count)
            return PassResult(model: result, report: PassReport(
                pass: Self.name, settings: result.provenance.last?.settings ?? [:],
                before: ModelFigures(input.cost, validationAccuracy: outcome.floatValidationAccuracy, test: floatTest),
                after: ModelFigures(result.cost, validationAccuracy: outcome.validationAccuracy, test: test),
                details: details))
        }
        let outcome = try quantizeAfterTraining(float, calibration: calibration, calibrationSamples: calibration.count,
                                                validation: validation, search: try search()) { attempt in
            progress(PassProgress(pass: Self.name, message: String(
                format: "attempt (%@) %@: validation accuracy %.2f%%", attempt.stage, attempt.settings.summary,
                100 * attempt.validationAccuracy)))
        }
        for fix in outcome.fixes {
            progress(PassProgress(pass: Self.name, message: String(
                format: "fix %@: validation accuracy %.2f%% → %.2f%% (%@)", fix.fix, 100 * fix.validationAccuracyBefore,
                100 * fix.validationAccuracy, fix.kept ? "kept" : "not kept")))
        }
        if !outcome.withinTolerance {
            progress(PassProgress(pass: Self.name, message: String(
                format: "warning: no attempt came within %.2f points of the float model's %.2f%%; saving the most "
                    + "accurate (%.2f%%)", maxAccuracyDrop, 100 * outcome.floatValidationAccuracy,
                100 * outcome.chosenAccuracy)))
        }
        let result = try ShrinkModel(outcome.product)
        let test = try testMetrics(result, split)
        let details = Details(
            mode: weightOnly ? "weight-only" : "integer", within_tolerance: outcome.withinTolerance,
            chosen: outcome.chosen, attempts: outcome.attempts,
            float_validation_accuracy: outcome.floatValidationAccuracy,
            quantized_validation_accuracy: outcome.chosenAccuracy, float_test_accuracy: floatTest?.top1 ?? 0,
            quantized_test_accuracy: test?.top1 ?? 0, test_samples: split.test.count, float_bytes: input.bytes.count,
            quantized_bytes: result.bytes.count, float_layers: outcome.chosen.floatLayers,
            float_nodes: outcome.product.floatNodes, fixes: outcome.fixes,
            report: report ? try quantizationReport(outcome.product, calibration: calibration.inputs,
                                                    validation: validation) : nil)
        return PassResult(model: result, report: PassReport(
            pass: Self.name, settings: result.provenance.last?.settings ?? [:],
            before: ModelFigures(input.cost, validationAccuracy: outcome.floatValidationAccuracy, test: floatTest),
            after: ModelFigures(result.cost, validationAccuracy: outcome.chosenAccuracy, test: test), details: details))
    }
}

/// "MIN:MAX" as a range of floats (nil when it is not two numbers with MIN < MAX).
public func parseRange(_ text: String) -> ClosedRange<Float>? {
    let parts = text.split(separator: ":", omittingEmptySubsequences: false)
    guard parts.count == 2, let low = Float(parts[0]), let high = Float(parts[1]), low.isFinite, high.isFinite,
          low < high else { return nil }
    return low...high
}

extension QuantizationReport {
    /// The report as two text tables: edges (SQNR, ranges, clipped share), then layers (weight SQNR, accuracy).
    public var table: String {
        func db(_ value: Double?) -> String { value.map { String(format: "%.1f", $0) } ?? "∞" }
        var edgeTable = TextTable(headers: ["edge", "kind", "SQNR dB", "float min", "float max", "scale", "zero point",
                                            "clipped %"])
        for e in edges {
            edgeTable.append([e.node, e.kind, db(e.sqnr_db), String(format: "%.4g", e.float_min),
                              String(format: "%.4g", e.float_max), String(format: "%.4g", e.scale), "\(e.zero_point)",
                              String(format: "%.3f", 100 * e.clipped)])
        }
        var layerTable = TextTable(headers: ["layer", "weight bits", "granularity", "weight SQNR dB",
                                             "val. accuracy, only it quantized"])
        for l in layers {
            layerTable.append([l.node, "\(l.weight_bits)", l.per_channel ? "per-channel" : "per-tensor",
                               db(l.weight_sqnr_db), String(format: "%.2f%%", 100 * l.validation_accuracy)])
        }
        let head = String(format: "validation accuracy: float %.2f%%, quantized %.2f%%; edges on %d calibration samples",
                          100 * float_validation_accuracy, 100 * quantized_validation_accuracy, samples)
        return ([head] + (edges.isEmpty ? [] : ["", edgeTable.description]) + ["", layerTable.description])
            .joined(separator: "\n")
    }

    /// Each edge's SQNR (dB) in graph order (0 is the input) and each layer's weight SQNR at its position among the
    /// layers; infinite values are left out.
    public var chart: LineChart {
        var chart = LineChart(title: "Quantization SQNR along the graph", xLabel: "edge, or layer (graph order)",
                              yLabel: "SQNR (dB)", series: [
            .init(name: "activations (edge index)", points: edges.enumerated().compactMap { i, e in
                e.sqnr_db.map { (Double(i), $0) } }),
            .init(name: "weights (layer index)", points: layers.enumerated().compactMap { i, l in
                l.weight_sqnr_db.map { (Double(i), $0) } }, connected: false),
        ])
        chart.width = 760
        return chart
    }
}
