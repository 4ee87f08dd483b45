// MixedPrecision: per-layer weight bit widths chosen under a size budget. Each conv and linear layer's sensitivity is
// measured alone (validation accuracy with only that layer's weights at b bits, the rest at 8), then layers are
// lowered greedily, always taking the step that costs the least accuracy per byte saved, until the model file fits.
// Activations stay 8-bit; the integer engine runs any mix of weight widths (codes of fewer bits still fit int8).
import Datasets
import NeuralNetworks
import Tensors

/// The outcome of `mixedPrecisionQuantization`.
public struct MixedPrecisionOutcome {
    public var model: QuantizedModel
    /// The chosen weight bits per conv/linear node, in graph order.
    public var bits: [(node: String, bits: Int)]
    /// Validation accuracy with only `node` at `bits` (the others at 8): the sensitivity table.
    public var sensitivity: [(node: String, bits: Int, accuracy: Double)]
    public var validationAccuracy: Double
    public var floatValidationAccuracy: Double
    /// The model file's bytes.
    public var bytes: Int
}

/// Quantizes `model` for the integer engine with per-layer weight bits from `candidates` (8 is always one), so that
/// the model file takes at most `budget` bytes, losing as little validation accuracy as the greedy search finds.
///
/// - Throws: `ShrinkError(.value)` when even the lowest candidate everywhere does not fit the budget, or for bits
///   outside 2…8; calibration and graph errors.
public func mixedPrecisionQuantization(_ model: Model, calibration: Dataset, calibrationSamples: Int,
                                       validation: Dataset, budget: Int, candidates: [Int] = [6, 4, 3, 2],
                                       observer: ObserverKind = .minmax) throws -> MixedPrecisionOutcome {
    try mixedPrecisionQuantization(model, calibration: calibration, calibrationSamples: calibrationSamples,
                                   validation: validation, budget: budget, candidates: candidates,
                                   observer: .builtIn(observer))
}

/// `mixedPrecisionQuantization` with the activations calibrated by `observer`, built-in or user-defined.
@_disfavoredOverload
public func mixedPrecisionQuantization(_ model: Model, calibration: Dataset, calibrationSamples: Int,
                                       validation: Dataset, budget: Int, candidates: [Int] = [6, 4, 3, 2],
                                       observer: ObserverChoice) throws -> MixedPrecisionOutcome {
    let widths = Array(Set(candidates + [8])).sorted(by: >)
    for b in widths where !(2...8).contains(b) { throw ShrinkError(.value, "weight bits must be in 2…8, got \(b)") }
    let folded = try model.graph.foldingBatchNorm()
    let floatModel = model.with(graph: folded)
    let calibrated = try calibrate(folded, on: calibration, samples: calibrationSamples, observer: observer)
    var edges = [String: QuantizationParameters]()
    for (edge, o) in calibrated.observers { edges[edge] = try o.computeParameters(bits: 8, signed: false, symmetric: false) }
    let layers = folded.weightedLayers.map { ($0.node, $0.weight.value) }
    // Every layer's weights at every width, quantized once.
    var quantized = [String: [Int: IntegerWeightTensor]]()
    for (name, weight) in layers {
        for b in widths { quantized[name, default: [:]][b] = try WeightScheme(bits: b).quantize(weight) }
    }
    /// The model with these widths, its provenance naming them (so the file's size is exactly what is saved).
    func build(_ bits: [String: Int]) throws -> QuantizedModel {
        let stored = Dictionary(uniqueKeysWithValues: layers.map { ($0.0, quantized[$0.0]![bits[$0.0]!]!) })
        let step = ProvenanceStep(pass: "quantize", settings: [
            "mode": "mixed precision", "budget_bytes": "\(budget)", "observer": observer.name,
            "weight_bits": layers.map { "\($0.0):\(bits[$0.0]!)" }.joined(separator: ","), "activation_bits": "8",
        ])
        let float = floatModel.with(graph: folded, provenance: floatModel.provenance + [step])
        return QuantizedModel(float: float, graph: try QuantizedGraph(folded: folded, edges: edges, stored: stored))
    }
    func accuracy(_ m: QuantizedModel) throws -> Double {
        metrics(logits: try m.predict(validation.inputs), labels: validation.labels).top1
    }
    func fileBytes(_ m: QuantizedModel) throws -> Int { try m.safeTensors().encoded().count }

    var bits = Dictionary(uniqueKeysWithValues: layers.map { ($0.0, 8) })
    let lowest = Dictionary(uniqueKeysWithValues: layers.map { ($0.0, widths.last!) })
    let smallest = try fileBytes(try build(lowest))
    guard smallest <= budget else {
        throw ShrinkError(.value, "a size budget of \(budget) bytes is below the smallest this model can take "
            + "(\(smallest) bytes with every layer at \(widths.last!) bits)")
    }
    // Sensitivity: each layer alone at each lower width.
    var sensitivity: [(node: String, bits: Int, accuracy: Double)] = []
    var drop = [String: [Int: Double]]()
    let base = try accuracy(try build(bits))
    for (name, _) in layers {
        for b in widths.dropFirst() {
            var trial = bits
            trial[name] = b
            let a = try accuracy(try build(trial))
            sensitivity.append((name, b, a))
            drop[name, default: [:]][b] = base - a
        }
    }
    // Greedy: the next lower width of some layer, cheapest in accuracy per byte saved, until the file fits.
    var current = try build(bits)
    var size = try fileBytes(current)
    while size > budget {
        var best: (name: String, bits: Int, cost: Double)?
        for (name, _) in layers {
            guard let next = widths.first(where: { $0 < bits[name]! }) else { continue }
            let saved = quantized[name]![bits[name]!]!.storedBytes - quantized[name]![next]!.storedBytes
            guard saved > 0 else { continue }
            let cost = max(drop[name]![next]!, 0) / Double(saved)
            if best == nil || cost < best!.cost { best = (name, next, cost) }
        }
        guard let step = best else { break }
        bits[step.name] = step.bits
        current = try build(bits)
        size = try fileBytes(current)
    }
    let chosen = layers.map { ($0.0, bits[$0.0]!) }
    return MixedPrecisionOutcome(model: current, bits: chosen, sensitivity: sensitivity,
                                 validationAccuracy: try accuracy(current),
                                 floatValidationAccuracy: try evaluate(folded, on: validation).top1, bytes: size)
}
