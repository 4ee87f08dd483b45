// CrossLayerEqualization: rescales the channels between two consecutive weighted layers so that each channel's weight
// range is the same in both (Nagel et al. 2019), which is what per-tensor weight quantization needs: a depthwise conv
// whose channels span ranges of 1:100 loses the small ones on one shared grid. ReLU is positively homogeneous,
// ReLU(x / s) = ReLU(x) / s for s > 0, so dividing channel i of the first layer by s_i and multiplying the second
// layer's input channel i by s_i leaves the network's function unchanged; a ReLU6 stays exact by moving its cap with
// the channel (a `ChannelClamp` at 6 / s_i). Bias absorption then moves what the first layer's bias always adds
// through the activation into the second layer's bias, so the activation edge's range shrinks.
//
// [1] Nagel, van Baalen, Blankevoort & Welling, "Data-Free Quantization Through Weight Equalization and Bias
//     Correction", ICCV 2019, sections 4.1 (equalization) and 4.2 (absorbing high biases).
import Datasets
import NeuralNetworks
import Tensors

/// One pair of layers equalization rescales: `producer` → (`activation`) → `consumer`.
public struct EqualizedPair: Sendable, Equatable, Codable {
    public var producer: String
    /// The ReLU, ReLU6 or per-channel clamp between the two; nil when the producer feeds the consumer directly.
    public var activation: String?
    public var consumer: String

    public init(producer: String, activation: String?, consumer: String) {
        self.producer = producer
        self.activation = activation
        self.consumer = consumer
    }
}

/// The outcome of `equalizeCrossLayer`: the equalized graph and what it changed.
public struct CrossLayerEqualization {
    /// The equalized graph: new layers for every node it changed, the others shared with the input graph.
    public let graph: Graph
    /// The pairs that were rescaled, in graph order.
    public let pairs: [EqualizedPair]
    /// Per edge between a pair (the activation, else the producer): the factor s each channel was divided by, over
    /// all rounds — values on that edge are the original ones / s (before any absorbed bias).
    public let scales: [String: [Float]]
    /// Per edge: the constant c absorbed from each channel (values on the edge are the equalized ones − c); empty
    /// until `absorbingBiases` runs.
    public let absorbed: [String: [Float]]
    /// How many rounds over all pairs ran before the scales settled.
    public let rounds: Int
}

/// The pairs of `graph` that cross-layer equalization can rescale exactly: a conv (ungrouped or depthwise) or linear
/// whose only reader is a ReLU, ReLU6 or per-channel clamp (or the next layer itself), read only by an ungrouped or
/// depthwise conv — or a linear, after a linear — that reads nothing else. Neither may be the graph output.
public func equalizablePairs(_ graph: Graph) -> [EqualizedPair] {
    let readers = graph.readers
    func only(_ name: String) -> Node? {
        guard name != graph.outputName, let names = readers[name], names.count == 1 else { return nil }
        return graph.node(named: names[0])
    }
    func channelsRescalable(_ layer: any Layer) -> Bool {
        if let conv = layer as? Conv2d { return conv.groups == 1 || conv.groups == conv.inputChannels && conv.groups == conv.outputChannels }
        return layer is Linear
    }
    var pairs: [EqualizedPair] = []
    for node in graph.nodes where channelsRescalable(node.layer) {
        guard var next = only(node.name) else { continue }
        var activation: String?
        if next.layer is ChannelClamp || (next.layer as? ClampedReLU) != nil {
            activation = next.name
            guard let after = only(next.name) else { continue }
            next = after
        }
        guard next.inputs.count == 1, channelsRescalable(next.layer),
              (node.layer is Linear) == (next.layer is Linear) else { continue }
        pairs.append(EqualizedPair(producer: node.name, activation: activation, consumer: next.name))
    }
    return pairs
}

/// Equalizes every pair of `equalizablePairs(graph)` (BatchNorm folded first): `s_i = √(r1_i / r2_i)`, where `r1_i`
/// is the largest |w| of the producer's output channel i and `r2_i` that of the consumer's input channel i, then
/// `W1[i] /= s_i`, `b1[i] /= s_i`, `W2[:, i] *= s_i`; a ReLU6 becomes a per-channel clamp at `6 / s_i`. Pairs sharing a
/// layer (a depthwise conv between two pointwise ones) are revisited, round after round, until no scale moves by more
/// than `tolerance` (relative) or `maximumRounds` have run. The result computes the same function in float, up to
/// rounding.
///
/// - Throws: errors from rebuilding the graph (none for a valid graph).
public func equalizeCrossLayer(_ graph: Graph, maximumRounds: Int = 50,
                               tolerance: Float = 1e-4) throws -> CrossLayerEqualization {
    let pairs = equalizablePairs(graph)
    var weights = WeightEditor(graph)
    var scales = [String: [Float]]()
    var rounds = 0
    while rounds < maximumRounds && !pairs.isEmpty {
        rounds += 1
        var largestMove: Float = 0
        for pair in pairs {
            let r1 = weights.outputRanges(pair.producer), r2 = weights.inputRanges(pair.consumer)
            let s = zip(r1, r2).map { a, b -> Float in a > 0 && b > 0 ? (a / b).squareRoot() : 1 }
            weights.scaleOutputs(pair.producer, by: s.map { 1 / $0 })
            weights.scaleInputs(pair.consumer, by: s)
            let edge = pair.activation ?? pair.producer
            scales[edge] = zip(scales[edge] ?? [Float](repeating: 1, count: s.count), s).map { $0 * $1 }
            if let activation = pair.activation { weights.divideCaps(activation, by: s) }
            largestMove = max(largestMove, s.map { abs($0 - 1) }.max() ?? 0)
        }
        if largestMove <= tolerance { break }
    }
    return CrossLayerEqualization(graph: try weights.graph(), pairs: pairs, scales: scales, absorbed: [:], rounds: rounds)
}

extension CrossLayerEqualization {
    /// Absorbs high biases (Nagel et al. 2019, section 4.2): for each pair whose consumer has no padding, with `c_i`
    /// the smallest value (≥ 0) the producer's channel i takes over `calibration` (already prepared inputs), sets
    /// `b1[i] −= c_i` and `b2 += W2 · c`, and lowers a per-channel clamp's cap by `c_i`. Wherever the producer's output
    /// stays at or above `c` — on every calibration sample, by construction — the function is unchanged:
    /// `clamp(x − c, 0, cap − c) = clamp(x, 0, cap) − c` for `x ≥ c`. A consumer with padding is left alone (its
    /// border would read zeros where the shifted values are −c), and so is a pair without an activation.
    ///
    /// - Throws: `ShrinkError(.value)` for an empty calibration set, or a NaN or infinite value at a producer.
    public func absorbingBiases(calibration: Tensor, batchSize: Int = 256) throws -> CrossLayerEqualization {
        guard calibration.shape[0] >= 1 else { throw ShrinkError(.value, "bias absorption needs calibration samples") }
        let candidates = pairs.filter { pair in
            guard pair.activation != nil, let consumer = graph.node(named: pair.consumer)?.layer else { return false }
            return (consumer as? Conv2d).map { $0.padding == 0 } ?? true
        }
        guard !candidates.isEmpty else { return self }
        let producers = Set(candidates.map(\.producer))
        var minimums = [String: [Float]]()
        var start = 0
        while start < calibration.shape[0] {
            let end = min(start + batchSize, calibration.shape[0])
            let values = graph.forward(calibration.slice(rows: start..<end), mode: .inference, keeping: producers)
            for (name, value) in values where producers.contains(name) {
                let low = try channelExtrema(of: value, axis: 1, context: "bias absorption at node '\(name)'").minimums
                minimums[name] = zip(minimums[name] ?? low, low).map { min($0, $1) }
            }
            start = end
        }
        var weights = WeightEditor(graph)
        var absorbed = self.absorbed
        for pair in candidates {
            guard let activation = pair.activation, let low = minimums[pair.producer] else { continue }
            var c = low.map { max($0, 0) }
            if let caps = weights.caps(activation) { c = zip(c, caps).map { min($0, $1) } }
            guard c.contains(where: { $0 > 0 }) else { continue }
            weights.shiftBias(pair.producer, by: c.map { -$0 })
            weights.addInputConstant(pair.consumer, c)
            weights.lowerCaps(activation, by: c)
            absorbed[activation] = zip(absorbed[activation] ?? [Float](repeating: 0, count: c.count), c).map { $0 + $1 }
        }
        return CrossLayerEqualization(graph: try weights.graph(), pairs: pairs, scales: scales, absorbed: absorbed,
                                      rounds: rounds)
    }
}

/// Working copies of a graph's conv/linear weights and biases and its clamps' caps, edited channel by channel and
/// turned back into a graph with new layers for what changed.
struct WeightEditor {
    let source: Graph
    private var weights = [String: [Float]]()
    private var biases = [String: [Float]]()
    private var capsByNode = [String: [Float]]()
    private var changed = Set<String>()

    init(_ graph: Graph) {
        source = graph
        for layer in graph.weightedLayers {
            weights[layer.node] = layer.weight.value.scalars
            biases[layer.node] = layer.bias?.value.scalars ?? [Float](repeating: 0, count: layer.weight.value.shape[0])
        }
        for (node, shape) in zip(graph.nodes, graph.outputShapes) {
            if let relu = node.layer as? ClampedReLU {
                capsByNode[node.name] = [Float](repeating: relu.cap, count: shape[0])
            } else if let clamp = node.layer as? ChannelClamp {
                capsByNode[node.name] = clamp.caps.value.scalars
            }
        }
    }

    private func shape(_ node: String) -> [Int] { source.weightedLayer(named: node)!.weight.value.shape }
    private func isDepthwise(_ node: String) -> Bool {
        (source.node(named: node)?.layer as? Conv2d).map { $0.groups > 1 } ?? false
    }

    /// max |w| of each output channel (row of [out, …]).
    func outputRanges(_ node: String) -> [Float] {
        let w = weights[node]!, out = shape(node)[0], row = w.count / out
        return (0..<out).map { o in w[(o * row)..<((o + 1) * row)].reduce(0) { max($0, abs($1)) } }
    }

    /// max |w| of each input channel: column block i of [out, in, k, k], or row i of a depthwise [C, 1, k, k].
    func inputRanges(_ node: String) -> [Float] {
        if isDepthwise(node) { return outputRanges(node) }
        let w = weights[node]!, s = shape(node), out = s[0], inputs = s[1], taps = w.count / (out * inputs)
        var r = [Float](repeating: 0, count: inputs)
        for o in 0..<out {
            for i in 0..<inputs {
                let base = (o * inputs + i) * taps
                for t in 0..<taps { r[i] = max(r[i], abs(w[base + t])) }
            }
        }
        return r
    }

    mutating func scaleOutputs(_ node: String, by factors: [Float]) {
        let out = shape(node)[0], row = weights[node]!.count / out
        for o in 0..<out {
            for j in 0..<row { weights[node]![o * row + j] *= factors[o] }
            biases[node]![o] *= factors[o]
        }
        changed.insert(node)
    }

    mutating func scaleInputs(_ node: String, by factors: [Float]) {
        if isDepthwise(node) {
            // A depthwise conv's input channel i is its output channel i: its taps scale, not its bias.
            let out = shape(node)[0], row = weights[node]!.count / out
            for o in 0..<out { for j in 0..<row { weights[node]![o * row + j] *= factors[o] } }
        } else {
            let s = shape(node), out = s[0], inputs = s[1], taps = weights[node]!.count / (out * inputs)
            for o in 0..<out {
                for i in 0..<inputs {
                    let base = (o * inputs + i) * taps
                    for t in 0..<taps { weights[node]![base + t] *= factors[i] }
                }
            }
        }
        changed.insert(node)
    }

    mutating func shiftBias(_ node: String, by delta: [Float]) {
        for o in delta.indices { biases[node]![o] += delta[o] }
        changed.insert(node)
    }

    /// `b += W · c` for an input that became `x − c` per channel (no padding: every tap reads a shifted value).
    mutating func addInputConstant(_ node: String, _ c: [Float]) {
        let w = weights[node]!, s = shape(node), out = s[0]
        if isDepthwise(node) {
            let taps = w.count / out
            for o in 0..<out { biases[node]![o] += c[o] * w[(o * taps)..<((o + 1) * taps)].reduce(0, +) }
        } else {
            let inputs = s[1], taps = w.count / (out * inputs)
            for o in 0..<out {
                var sum: Float = 0
                for i in 0..<inputs {
                    let base = (o * inputs + i) * taps
                    sum += c[i] * w[base..<(base + taps)].reduce(0, +)
                }
                biases[node]![o] += sum
            }
        }
        changed.insert(node)
    }

    func caps(_ node: String) -> [Float]? { capsByNode[node] }

    mutating func divideCaps(_ node: String, by s: [Float]) {
        guard let caps = capsByNode[node] else { return }
        capsByNode[node] = zip(caps, s).map { $0 / $1 }
        changed.insert(node)
    }

    mutating func lowerCaps(_ node: String, by c: [Float]) {
        guard let caps = capsByNode[node] else { return }
        capsByNode[node] = zip(caps, c).map { $0 - $1 }
        changed.insert(node)
    }

    /// The graph with a new layer for every node edited; a clamp whose caps are all infinite stays a ReLU.
    func graph() throws -> Graph {
        var nodes: [Node] = []
        for node in source.nodes {
            guard changed.contains(node.name) else { nodes.append(node); continue }
            let layer: any Layer
            if let weighted = WeightedLayer(node) {
                let bias = biases[node.name]!
                layer = weighted.replacing(weight: Tensor(shape: weighted.weight.value.shape, scalars: weights[node.name]!),
                                           bias: Tensor(shape: [bias.count], scalars: bias))
            } else {
                let caps = capsByNode[node.name]!
                layer = caps.allSatisfy(\.isInfinite) ? ReLU()
                    : try ChannelClamp(caps: Tensor(shape: [caps.count], scalars: caps))
            }
            nodes.append(Node(name: node.name, layer: layer, inputs: node.inputs))
        }
        return try Graph(inputShape: source.inputShape, nodes: nodes, output: source.outputName)
    }
}
