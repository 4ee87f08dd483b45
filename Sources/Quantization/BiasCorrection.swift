// BiasCorrection: quantizing a layer's weights by ΔW = W̃ − W shifts the mean of its outputs by ΔW · E[x], the same
// amount on every input in expectation; subtracting it from the bias removes the bias the rounding introduced
// (Nagel et al. 2019, section 4.3). Empirically, layer by layer on calibration data: each layer's output mean in the
// model with quantized weights (its earlier layers already corrected) against the float model's, which also takes in
// what earlier layers' rounding passed on (Nagel et al. 2021, section 4.2). Analytically, with E[x] from the
// BatchNorm before the layer: for a pre-activation N(β, γ²) clamped to [0, cap] by its ReLU or ReLU6,
// E[x] = μ(Φ(b) − Φ(a)) + σ(φ(a) − φ(b)) + cap(1 − Φ(b)), a = −μ/σ, b = (cap − μ)/σ. `correctingBiases` applies
// `ΔW · E[x]` for given means (the mean of each unfolded input row, or the analytic ones).
//
// [1] Nagel, van Baalen, Blankevoort & Welling, "Data-Free Quantization Through Weight Equalization and Bias
//     Correction", ICCV 2019, section 4.3 and appendix C.
// [2] Nagel, Fournarakis, Amjad, Bondarenko, van Baalen & Blankevoort, "A White Paper on Neural Network
//     Quantization", 2021, section 4.2.
import Foundation
import NeuralNetworks
import Tensors

/// How a quantized layer's bias is corrected for the mean shift its weight rounding causes.
public enum BiasCorrection: String, CaseIterable, Codable, Sendable, NamedChoice {
    public static let choiceName = "bias correction"
    case none
    /// Layer by layer on calibration data: each layer's output mean with the weights quantized against the float
    /// model's (`correctingBiasesLayerByLayer`).
    case empirical
    /// E[x] from the BatchNorm statistics before each layer; layers without them keep their bias.
    case analytic
}

/// `graph` with the bias of every layer named in `quantized` corrected by `b −= (W̃ − W) · E[x]`, W̃ its integer
/// weight dequantized and E[x] from `means` (per group, one value per unfolded input row: in/groups · k · k for a
/// conv). Layers without means are left alone; a layer without a bias gets one.
///
/// - Throws: `ShrinkError(.shape)` when a weight or means do not fit the layer.
public func correctingBiases(_ graph: Graph, quantized: [String: IntegerWeightTensor],
                             means: [String: [[Float]]]) throws -> Graph {
    var replacements = [String: any Layer]()
    for layer in graph.weightedLayers {
        guard let q = quantized[layer.node], let groupMeans = means[layer.node] else { continue }
        let w = layer.weight.value, out = w.shape[0], depth = w.count / out, groups = groupMeans.count
        guard q.shape == w.shape, groups >= 1, out % groups == 0, groupMeans.allSatisfy({ $0.count == depth }) else {
            throw ShrinkError(.shape, "bias correction of '\(layer.node)': the quantized weight \(q.shape) or the means "
                + "(\(groups) group(s) of \(groupMeans.first?.count ?? 0)) do not fit the weight \(w.shape)")
        }
        let dequantized = q.dequantized().scalars
        var bias = layer.bias?.value.scalars ?? [Float](repeating: 0, count: out)
        let rowsPerGroup = out / groups
        for o in 0..<out {
            let mean = groupMeans[o / rowsPerGroup]
            var shift: Double = 0
            for j in 0..<depth { shift += Double(dequantized[o * depth + j] - w.scalars[o * depth + j]) * Double(mean[j]) }
            bias[o] -= Float(shift)
        }
        replacements[layer.node] = layer.replacing(weight: w, bias: Tensor(shape: [out], scalars: bias))
    }
    return try graph.replacingLayers(replacements)
}

/// E[clamp(X, 0, cap)] for X ~ N(μ, σ²); cap may be +∞.
func clampedNormalMean(mean mu: Double, deviation sigma: Double, cap: Double) -> Double {
    guard sigma > 0 else { return min(max(mu, 0), cap) }
    func cdf(_ x: Double) -> Double { 0.5 * erfc(-x / 2.0.squareRoot()) }
    func pdf(_ x: Double) -> Double { exp(-0.5 * x * x) / (2 * Double.pi).squareRoot() }
    let a = -mu / sigma
    if cap.isInfinite { return mu * (1 - cdf(a)) + sigma * pdf(a) }
    let b = (cap - mu) / sigma
    return mu * (cdf(b) - cdf(a)) + sigma * (pdf(a) - pdf(b)) + cap * (1 - cdf(b))
}

/// Per conv/linear node of `folded` (the BatchNorm-folded form of `original`): the expected value of each unfolded
/// input row (per group), from the BatchNorm statistics of `original` — where the node reads a ReLU or ReLU6 of a
/// BatchNorm, or a folded conv/linear + BatchNorm directly. `equalization`, when given, maps the means through the
/// per-channel scales and absorbed constants it applied (x' = x / s − c). Other nodes are absent.
public func analyticInputMeans(original: Graph, folded: Graph,
                               equalization: CrossLayerEqualization? = nil) -> [String: [[Float]]] {
    let readers = original.readers
    /// E[x] per channel of edge `edge` of the folded graph, if BatchNorm statistics describe it.
    func channelMeans(_ edge: String) -> [Double]? {
        guard let node = original.node(named: edge) else { return nil }
        var bn: BatchNorm?, cap = Double.infinity, clamped = false
        if let relu = node.layer as? ClampedReLU, let source = original.node(named: node.inputs[0]),
           let norm = source.layer as? BatchNorm {
            bn = norm
            cap = Double(relu.cap)
            clamped = true
        } else if node.layer is Conv2d || node.layer is Linear, let names = readers[edge], names.count == 1,
                  let norm = original.node(named: names[0])?.layer as? BatchNorm {
            bn = norm  // folded into `edge`: its output is the BatchNorm's
        }
        guard let bn else { return nil }
        let beta = bn.bias.value.scalars, gamma = bn.weight.value.scalars
        return (0..<bn.features).map { c in
            clamped ? clampedNormalMean(mean: Double(beta[c]), deviation: Double(abs(gamma[c])), cap: cap) : Double(beta[c])
        }
    }
    var result = [String: [[Float]]]()
    for layer in folded.weightedLayers {
        guard let node = folded.node(named: layer.node), var means = channelMeans(node.inputs[0]) else { continue }
        if let equalization {
            let edge = node.inputs[0]
            if let s = equalization.scales[edge], s.count == means.count { means = zip(means, s).map { $0 / Double($1) } }
            if let c = equalization.absorbed[edge], c.count == means.count { means = zip(means, c).map { $0 - Double($1) } }
        }
        let taps: Int, groups: Int
        switch layer.layer {
        case let conv as Conv2d:
            guard conv.inputChannels == means.count else { continue }
            taps = conv.kernelSize * conv.kernelSize
            groups = conv.groups
        case let linear as Linear:
            guard linear.inputFeatures == means.count else { continue }
            taps = 1
            groups = 1
        default:
            continue
        }
        let perGroup = means.count / groups
        result[layer.node] = (0..<groups).map { g in
            (0..<perGroup).flatMap { c in [Float](repeating: Float(means[g * perGroup + c]), count: taps) }
        }
    }
    return result
}

/// Empirical bias correction, layer by layer as the quantization white paper describes it: with every quantized
/// layer's weight dequantized into a copy of `graph`, each layer in graph order gets `b −= E_q[y] − E_f[y]`, the
/// difference of its output's mean per channel (before any activation) in that copy — its earlier layers already
/// corrected — and in `graph`, over `calibration` (prepared inputs). The correction thus also covers the shift that
/// the earlier layers' rounding passes on. The result is `graph` with its float weights and the corrected biases
/// (a layer without a bias gets one). Activations stay float: what this corrects is the weights' rounding.
///
/// - Throws: `ShrinkError(.value)` for no calibration samples; `ShrinkError(.shape)` for a weight that does not fit.
public func correctingBiasesLayerByLayer(_ graph: Graph, quantized: [String: IntegerWeightTensor],
                                         calibration: Tensor) throws -> Graph {
    guard calibration.shape.first ?? 0 >= 1 else {
        throw ShrinkError(.value, "bias correction needs calibration samples")
    }
    let layers = graph.weightedLayers.filter { quantized[$0.node] != nil }
    for layer in layers where quantized[layer.node]!.shape != layer.weight.value.shape {
        throw ShrinkError(.shape, "bias correction of '\(layer.node)': the quantized weight \(quantized[layer.node]!.shape) "
            + "does not fit the weight \(layer.weight.value.shape)")
    }
    func channelMeans(_ value: Tensor) throws -> [Double] {
        let layout = try ChannelLayout(shape: value.shape, axis: 1)
        var sums = [Double](repeating: 0, count: layout.channels)
        value.withUnsafeBufferPointer { p in
            layout.forEachRun { channel, start in
                var s: Double = 0
                for i in start..<(start + layout.inner) { s += Double(p[i]) }
                sums[channel] += s
            }
        }
        return sums.map { $0 / Double(layout.outer * layout.inner) }
    }
    func layer(_ source: WeightedLayer, weight: Tensor, bias: [Float]) -> any Layer {
        source.replacing(weight: weight, bias: Tensor(shape: [bias.count], scalars: bias))
    }
    let names = Set(layers.map(\.node))
    let reference = try graph.forward(calibration, mode: .inference, keeping: names).mapValues(channelMeans)
    var biases = [String: [Float]]()
    var replacements = [String: any Layer]()
    for l in layers {
        let bias = l.bias?.value.scalars ?? [Float](repeating: 0, count: l.weight.value.shape[0])
        biases[l.node] = bias
        replacements[l.node] = layer(l, weight: quantized[l.node]!.dequantized(), bias: bias)
    }
    for l in layers {
        let current = try graph.replacingLayers(replacements)
        guard let output = current.forward(calibration, mode: .inference, keeping: [l.node])[l.node] else { continue }
        let shifted = try channelMeans(output), target = reference[l.node]!
        biases[l.node] = zip(biases[l.node]!, zip(shifted, target)).map { b, m in b - Float(m.0 - m.1) }
        replacements[l.node] = layer(l, weight: quantized[l.node]!.dequantized(), bias: biases[l.node]!)
    }
    var corrected = [String: any Layer]()
    for l in layers { corrected[l.node] = layer(l, weight: l.weight.value, bias: biases[l.node]!) }
    return try graph.replacingLayers(corrected)
}
