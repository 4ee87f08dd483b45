// QuantizationReport: the quantization debugger — where a quantized model loses what it loses. Per edge, the
// signal-to-quantization-noise ratio of what the integer engine holds there against the float model's values on the
// same samples; per conv/linear layer, the SQNR of its integer weights and the validation accuracy of the float model
// with only that layer's weights quantized. Low edge SQNR points at a range to override (`edgeRanges`), a low layer
// accuracy at a layer to keep in float or round better.
import Datasets
import Foundation
import NeuralNetworks
import Tensors

/// 10 · log10(Σ x² / Σ (x − x̂)²) in dB; +∞ when the two are equal, and 0 dB for a zero signal with noise.
public func signalToQuantizationNoise(_ reference: [Float], _ quantized: [Float]) -> Double {
    var signal: Double = 0, noise: Double = 0
    for (x, y) in zip(reference, quantized) {
        signal += Double(x) * Double(x)
        noise += (Double(x) - Double(y)) * (Double(x) - Double(y))
    }
    if noise == 0 { return .infinity }
    return signal == 0 ? 0 : 10 * log10(signal / noise)
}

/// What the debugger found. JSON: `{"samples", "float_validation_accuracy", "quantized_validation_accuracy",
/// "edges": [{"node", "kind", "sqnr_db", "float_min", "float_max", "scale", "zero_point", "bits", "clipped"}],
/// "layers": [{"node", "weight_bits", "per_channel", "weight_sqnr_db", "validation_accuracy"}]}`; an SQNR of +∞ (no
/// error) is written as null. A conv or linear whose ReLU the engine fuses has no edge of its own: the ReLU's is it.
public struct QuantizationReport: Codable, Sendable {
    public struct Edge: Codable, Sendable {
        public var node: String
        public var kind: String
        public var sqnr_db: Double?
        /// The float values' range on the samples.
        public var float_min: Float, float_max: Float
        public var scale: Float, zero_point: Int, bits: Int
        /// The share of float values outside the edge's representable range.
        public var clipped: Double
    }

    public struct Layer: Codable, Sendable {
        public var node: String
        public var weight_bits: Int
        public var per_channel: Bool
        public var weight_sqnr_db: Double?
        /// Validation accuracy of the float model with only this layer's weights quantized.
        public var validation_accuracy: Double
    }

    public var samples: Int
    public var float_validation_accuracy: Double
    public var quantized_validation_accuracy: Double
    /// In graph order (`input` first); empty for a weight-only model.
    public var edges: [Edge]
    public var layers: [Layer]
}

/// The debugger's report on `product` (the float model it came from is inside it): edge SQNRs on the first `samples`
/// of `calibration`, and per-layer figures on `validation` (both prepared, from the training split).
///
/// - Throws: `ShrinkError(.value)` for empty data; errors from running the engine.
public func quantizationReport(_ product: QuantizationProduct, calibration: Tensor, samples: Int = 256,
                               validation: Dataset) throws -> QuantizationReport {
    guard calibration.shape[0] >= 1, validation.count >= 1 else {
        throw ShrinkError(.value, "the quantization report needs calibration and validation samples")
    }
    let float: Graph, weights: [String: IntegerWeightTensor]
    switch product {
    case .integer(let model):
        float = model.float.graph
        weights = model.graph.integerWeights
    case .weightOnly(let model):
        float = model.source.graph
        weights = model.weights
    }
    let batch = calibration.slice(rows: 0..<min(max(samples, 1), calibration.shape[0]))
    var edges: [QuantizationReport.Edge] = []
    if case .integer(let model) = product {
        let engine = try model.graph.edgeValues(batch)
        let reference = float.forward(batch, mode: .inference, keeping: Set(float.nodes.map(\.name)))
        let fused = model.graph.quantizedEdges.fusedReLU
        let parameters = model.graph.edges
        // A conv or linear with a fused ReLU holds the ReLU's values: its edge is the ReLU's, listed once.
        for name in [Graph.inputName] + float.nodes.map(\.name) where fused[name] == nil {
            guard let p = parameters[name] else { continue }
            let x = name == Graph.inputName ? batch : reference[name]
            let y = name == Graph.inputName ? batch : engine[name]
            guard let x, var y else { continue }
            if name == Graph.inputName { y = dequantize(try quantize(batch, with: p)) }
            let z = Int(p.zeroPoints[0])
            let low = p.scales[0] * Float(p.qmin - z), high = p.scales[0] * Float(p.qmax - z)
            let outside = x.scalars.reduce(0) { $0 + ($1 < low - p.scales[0] / 2 || $1 > high + p.scales[0] / 2 ? 1 : 0) }
            let sqnr = signalToQuantizationNoise(x.scalars, y.scalars)
            edges.append(QuantizationReport.Edge(
                node: name, kind: name == Graph.inputName ? "input" : float.node(named: name)!.layer.kind,
                sqnr_db: sqnr.isFinite ? sqnr : nil, float_min: x.scalars.min() ?? 0, float_max: x.scalars.max() ?? 0,
                scale: p.scales[0], zero_point: z, bits: p.bits,
                clipped: Double(outside) / Double(max(x.count, 1))))
        }
    }
    var layers: [QuantizationReport.Layer] = []
    for layer in float.weightedLayers {
        guard let q = weights[layer.node] else { continue }
        let dequantized = q.dequantized()
        let one = try float.replacingLayers([layer.node: layer.replacing(weight: dequantized, bias: layer.bias?.value)])
        let sqnr = signalToQuantizationNoise(layer.weight.value.scalars, dequantized.scalars)
        layers.append(QuantizationReport.Layer(node: layer.node, weight_bits: q.bits, per_channel: q.isPerChannel,
                                               weight_sqnr_db: sqnr.isFinite ? sqnr : nil,
                                               validation_accuracy: try evaluate(one, on: validation).top1))
    }
    let quantizedAccuracy = metrics(logits: try product.predict(validation.inputs), labels: validation.labels).top1
    return QuantizationReport(samples: batch.shape[0], float_validation_accuracy: try evaluate(float, on: validation).top1,
                              quantized_validation_accuracy: quantizedAccuracy, edges: edges, layers: layers)
}
