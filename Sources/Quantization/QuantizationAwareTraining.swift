// Quantization-aware training: train while simulating the quantization the integer engine will apply. Weights are
// fake-quantized per output channel (symmetric, narrow range, the scheme of `WeightScheme`) on every forward, and
// their gradient passes straight through to the float master weights; activations pass through `FakeQuantize`
// nodes on exactly the edges the integer engine quantizes, with moving-average observers that freeze after the first
// part of training. The result converts to `QuantizedGraph` with the frozen parameters, so the integer model computes
// what was trained.
//
// [1] Jacob et al., "Quantization and Training of Neural Networks for Efficient Integer-Arithmetic-Only Inference",
//     CVPR 2018. [2] Bengio, Léonard & Courville, "Estimating or Propagating Gradients Through Stochastic Neurons",
//     2013 (the straight-through estimator).
import Datasets
import NeuralNetworks
import Tensors

/// Fake quantization of an activation edge: `x̂ = S · (clamp(round(x/S) + Z, qmin, qmax) − Z)` with unsigned
/// per-tensor parameters from a moving-average min/max observer. While not frozen, each training batch updates the
/// observer first. Backward is the straight-through estimator: the gradient passes where x lies inside the
/// representable range and is zero outside it.
public final class FakeQuantize: Layer {
    public let bits: Int
    public private(set) var parameters: QuantizationParameters?
    /// When set, the observer no longer moves (the second part of training, and always at inference).
    public var frozen = false
    private let observer = MovingAverageMinMaxObserver(axis: nil)
    private var passMask = Tensor(zeros: [0])

    /// The learned scale (LSQ), once `makeScaleLearnable()` has switched the node over from its observer.
    public private(set) var learnedScale: Parameter?
    private var scaleFactor = [Float]()  // ∂x̂/∂s per element of the last training forward (LSQ)

    public init(bits: Int) {
        self.bits = bits
    }

    /// Learned step size (LSQ, Esser et al. 2020): from now on the scale is a trainable parameter, starting from the
    /// observer's, with the zero point kept. Returns the parameter (to hand to the optimizer), or nil when the node
    /// was never observed.
    @discardableResult
    public func makeScaleLearnable() -> Parameter? {
        if let learnedScale { return learnedScale }
        guard let p = parameters else { return nil }
        frozen = true
        learnedScale = Parameter(Tensor(shape: [1], scalars: [p.scales[0]]))
        return learnedScale
    }

    /// Puts the learned scale into `parameters` (a no-op without one).
    public func refreshParameters() {
        guard let learnedScale, let p = parameters else { return }
        let s = max(abs(learnedScale.value.scalars[0]), Float.leastNormalMagnitude)
        parameters = try? QuantizationParameters(scales: [s], zeroPoints: p.zeroPoints, bits: p.bits, signed: false)
    }

    public var kind: String { "fakequant" }
    public var spec: LayerSpec { LayerSpec(kind: kind) }

    public func outputShape(for inputShapes: [[Int]]) throws -> [Int] {
        guard inputShapes.count == 1 else {
            throw ShrinkError(.shape, "fakequant takes 1 input, got \(inputShapes.count)")
        }
        return inputShapes[0]
    }

    public func forward(_ inputs: [Tensor], mode: Mode) -> Tensor {
        let x = inputs[0]
        if mode == .training && !frozen, (try? observer.observe(x)) != nil {
            parameters = try? observer.computeParameters(bits: bits, signed: false, symmetric: false)
        }
        // Inference may run on several threads at once (batches split across them): it reads state, never writes it.
        if mode == .training { refreshParameters() }
        guard let p = parameters else {
            if mode == .training { passMask = Tensor(shape: x.shape, repeating: 1) }
            return x
        }
        let s = learnedScale.map { max(abs($0.value.scalars[0]), Float.leastNormalMagnitude) } ?? p.scales[0]
        let z = Float(p.zeroPoints[0]), low = Float(p.qmin), high = Float(p.qmax)
        var mask = [Float](repeating: 1, count: mode == .training ? x.count : 0)
        let learning = mode == .training && learnedScale != nil
        var factor = [Float](repeating: 0, count: learning ? x.count : 0)
        var y = [Float](repeating: 0, count: x.count)
        x.withUnsafeBufferPointer { px in
            for i in 0..<x.count {
                let q = (px[i] / s).rounded(.toNearestOrEven) + z
                let clamped = min(max(q, low), high)
                y[i] = s * (clamped - z)
                if mode == .training && q != clamped { mask[i] = 0 }
                // LSQ: ∂x̂/∂s = round(x/s) − x/s inside the range, (the clamp bound − Z) outside it.
                if learning { factor[i] = q != clamped ? clamped - z : (q - z) - px[i] / s }
            }
        }
        if mode == .training { passMask = Tensor(shape: x.shape, scalars: mask) }
        if learning { scaleFactor = factor }
        return Tensor(shape: x.shape, scalars: y)
    }

    public func backward(_ outputGradient: Tensor, needsInputGradient: [Bool]) -> [Tensor?] {
        if let learnedScale, scaleFactor.count == outputGradient.count, let p = parameters {
            // The gradient scale g = 1/√(features · Qp) of LSQ keeps the step size's update in proportion.
            let features = outputGradient.count / max(outputGradient.shape.first ?? 1, 1)
            let g = 1 / (Float(features) * Float(p.qmax)).squareRoot()
            var total: Float = 0
            outputGradient.withUnsafeBufferPointer { pdy in
                for i in 0..<pdy.count { total += pdy[i] * scaleFactor[i] }
            }
            learnedScale.gradient.scalars[0] += g * total
        }
        guard needsInputGradient[0] else { return [nil] }
        return [Tensor(shape: outputGradient.shape,
                       scalars: zip(outputGradient.scalars, passMask.scalars).map { $0 * $1 })]
    }
}

/// How quantization-aware training quantizes weights (per output channel, symmetric, narrow range).
public enum WeightQuantizer: Sendable, Equatable {
    /// The PTQ scheme: the scale from each channel's min/max at every step.
    case uniform(bits: Int)
    /// Ternary weights {−α, 0, +α} per channel (Li & Liu 2016, TWN): Δ = 0.7 · mean |W|, α = mean |w| over
    /// |w| > Δ. Stored and run as 2-bit codes (−1, 0, 1) with scale α.
    case ternary

    /// The bits of the stored codes.
    public var bits: Int {
        switch self {
        case .uniform(let bits): bits
        case .ternary: 2
        }
    }

    /// The name the CLI and reports use.
    public var name: String {
        switch self {
        case .uniform(let bits): "int\(bits)"
        case .ternary: "ternary"
        }
    }

    /// Quantizes a weight [out, …].
    public func quantize(_ weight: Tensor) throws -> IntegerWeightTensor {
        switch self {
        case .uniform(let bits):
            return try WeightScheme(bits: bits, granularity: .perChannel).quantize(weight)
        case .ternary:
            let out = weight.shape[0], per = weight.count / max(out, 1)
            var codes = [Int8](repeating: 0, count: weight.count), scales = [Float](repeating: 1, count: out)
            for c in 0..<out {
                let channel = weight.scalars[(c * per)..<((c + 1) * per)]
                guard channel.allSatisfy(\.isFinite) else {
                    throw ShrinkError(.value, "a weight of output channel \(c) is not finite")
                }
                let delta = 0.7 * channel.reduce(0) { $0 + abs($1) } / Float(per)
                let kept = channel.filter { abs($0) > delta }
                if !kept.isEmpty { scales[c] = max(kept.reduce(0) { $0 + abs($1) } / Float(kept.count), .leastNormalMagnitude) }
                for (i, w) in zip((c * per)..<((c + 1) * per), channel) where abs(w) > delta { codes[i] = w > 0 ? 1 : -1 }
            }
            return try IntegerWeightTensor(shape: weight.shape, values: codes, scales: scales, bits: 2, perChannel: true)
        }
    }
}

/// A graph prepared for quantization-aware training: the folded float graph with `FakeQuantize` nodes on the edges
/// the integer engine quantizes, and the weight scheme applied on each forward.
public final class QATGraph {
    /// The graph that trains: the folded layers (shared with `folded`) and the fake-quantization nodes.
    public let graph: Graph
    /// The folded float graph (the same layer objects; no fake-quantization nodes): what converts.
    public let folded: Graph
    public let weights: WeightScheme
    /// How the weights are quantized on the forward pass (uniform at `weights.bits`, or ternary).
    public let weightQuantizer: WeightQuantizer
    /// The fake-quantization node on each quantized edge, keyed by the edge (`input` or the node it follows).
    public let activationNodes: [String: FakeQuantize]
    /// The learned per-channel weight scales (LSQ), one [out] parameter per conv/linear weight, once
    /// `makeScalesLearnable()` has run.
    public private(set) var learnedWeightScales: [Parameter] = []

    /// Inserts fake quantization into `model`'s graph (BatchNorm folded first). `ternary` quantizes weights to
    /// {−α, 0, +α} (2-bit codes) instead of `weightBits` uniform levels.
    ///
    /// - Throws: `ShrinkError(.value)` for bits outside 2…8; graph errors.
    public init(_ model: Model, weightBits: Int, activationBits: Int, ternary: Bool = false) throws {
        guard (2...8).contains(activationBits) else {
            throw ShrinkError(.value, "activation bits must be in 2…8, got \(activationBits)")
        }
        weights = try WeightScheme(bits: ternary ? 2 : weightBits, granularity: .perChannel)
        weightQuantizer = ternary ? .ternary : .uniform(bits: weightBits)
        folded = try model.graph.foldingBatchNorm()
        // The edges with their own parameters in QuantizedGraph (pooling, flatten and dropout share their input's).
        let quantized = Set(QuantizedEdges(folded: folded).edges)
        var nodes: [Node] = []
        var renamed = [String: String]()
        var fakeQuantizers = [String: FakeQuantize]()
        // The logits keep 8 bits whatever the other edges use (the usual practice for the last layer): at 4 bits
        // their 15 levels make ties that decide predictions.
        let outputEdge = folded.outputName
        func fakeQuantizer(after edge: String) -> Node {
            let layer = FakeQuantize(bits: edge == outputEdge ? max(activationBits, 8) : activationBits)
            fakeQuantizers[edge] = layer
            renamed[edge] = "\(edge)_fakequant"
            return Node(name: "\(edge)_fakequant", layer: layer, inputs: [edge])
        }
        nodes.append(fakeQuantizer(after: Graph.inputName))
        for node in folded.nodes {
            nodes.append(Node(name: node.name, layer: node.layer, inputs: node.inputs.map { renamed[$0] ?? $0 }))
            if quantized.contains(node.name) { nodes.append(fakeQuantizer(after: node.name)) }
        }
        graph = try Graph(inputShape: folded.inputShape, nodes: nodes,
                          output: renamed[folded.outputName] ?? folded.outputName)
        activationNodes = fakeQuantizers
    }

    private var masters: [Tensor] = []
    private var weightFactors: [[Float]] = []   // LSQ: ∂ŵ/∂s per weight element, NaN where the weight is clipped

    private var weightParameters: [Parameter] { folded.weightedLayers.map(\.weight) }

    /// Learned step sizes (LSQ, Esser et al. 2020): from now on each conv/linear weight has trainable per-channel
    /// scales (starting from the current quantizer's) and each activation node a trainable scale (starting from its
    /// observer's, which stops). Returns the new parameters, for the optimizer.
    public func makeScalesLearnable() throws -> [Parameter] {
        if learnedWeightScales.isEmpty {
            learnedWeightScales = try weightParameters.map { p in
                let q = try weightQuantizer.quantize(p.value)
                return Parameter(Tensor(shape: [q.scales.count], scalars: q.scales))
            }
        }
        return learnedWeightScales + activationNodes.keys.sorted().compactMap { activationNodes[$0]?.makeScaleLearnable() }
    }

    /// The integer weights the forward pass uses now: the quantizer's, or with learned scales
    /// `clamp(round(w/s), ±Qp)` at the learned `s` of each channel.
    public func integerWeights() throws -> [String: IntegerWeightTensor] {
        var result = [String: IntegerWeightTensor]()
        for (i, layer) in folded.weightedLayers.enumerated() {
            let (name, p) = (layer.node, layer.weight)
            let master = masters.isEmpty ? p.value : masters[i]
            result[name] = learnedWeightScales.isEmpty ? try weightQuantizer.quantize(master)
                                                       : try learnedQuantization(master, scales: learnedWeightScales[i]).weight
        }
        return result
    }

    private var qmax: Int { (1 << (weights.bits - 1)) - 1 }

    private func learnedQuantization(_ w: Tensor, scales: Parameter) throws -> (weight: IntegerWeightTensor, factors: [Float]) {
        let out = w.shape[0], per = w.count / max(out, 1), limit = Float(qmax)
        var codes = [Int8](repeating: 0, count: w.count), factors = [Float](repeating: 0, count: w.count)
        let s = scales.value.scalars.map { max(abs($0), Float.leastNormalMagnitude) }
        for i in 0..<w.count {
            let v = w.scalars[i] / s[i / per]
            let q = v.rounded(.toNearestOrEven), clamped = min(max(q, -limit), limit)
            codes[i] = Int8(clamped)
            // ∂ŵ/∂s = round(w/s) − w/s inside, ±Qp where clipped (marked NaN-free: the sign says which bound).
            factors[i] = q != clamped ? .nan : q - v
        }
        return (try IntegerWeightTensor(shape: w.shape, values: codes, scales: s, bits: weights.bits, perChannel: true),
                factors)
    }

    /// Replaces every conv and linear weight by its fake-quantized value, keeping the float master weights.
    /// On an error (a weight that is not finite) the master weights are back in place.
    public func quantizeWeights() throws {
        let parameters = weightParameters
        masters = parameters.map(\.value)
        weightFactors = []
        do {
            for (i, p) in parameters.enumerated() {
                if learnedWeightScales.isEmpty {
                    p.value = try weightQuantizer.quantize(p.value).dequantized()
                } else {
                    let (weight, factors) = try learnedQuantization(p.value, scales: learnedWeightScales[i])
                    p.value = weight.dequantized()
                    weightFactors.append(factors)
                }
            }
        } catch {
            restoreWeights()
            throw error
        }
    }

    /// With learned scales: adds each channel's scale gradient (LSQ, scaled by g = 1/√(weights per channel · Qp)) and
    /// zeroes the master gradient of clipped weights. Call after backward, before `restoreWeights()`.
    public func accumulateScaleGradients() {
        guard !learnedWeightScales.isEmpty, weightFactors.count == learnedWeightScales.count else { return }
        let limit = Float(qmax)
        for ((p, scales), (master, factors)) in zip(zip(weightParameters, learnedWeightScales), zip(masters, weightFactors)) {
            let out = scales.value.count, per = factors.count / max(out, 1)
            let g = 1 / (Float(per) * limit).squareRoot()
            for c in 0..<out {
                var total: Float = 0
                for i in (c * per)..<((c + 1) * per) {
                    if factors[i].isNaN {
                        total += p.gradient.scalars[i] * (master.scalars[i] > 0 ? limit : -limit)
                        p.gradient.scalars[i] = 0
                    } else {
                        total += p.gradient.scalars[i] * factors[i]
                    }
                }
                scales.gradient.scalars[c] += g * total
            }
        }
    }

    /// Puts the float master weights back (the straight-through estimator: the gradient computed at the
    /// fake-quantized weights updates the masters unchanged).
    public func restoreWeights() {
        for (p, master) in zip(weightParameters, masters) { p.value = master }
        masters = []
        weightFactors = []
    }

    /// Freezes (or unfreezes) every activation observer.
    public func freezeObservers(_ frozen: Bool = true) {
        for node in activationNodes.values { node.frozen = frozen }
    }

    /// The fake-quantized graph's logits (weights fake-quantized for the call).
    public func predict(_ inputs: Tensor) throws -> Tensor {
        try quantizeWeights()
        defer { restoreWeights() }
        return NeuralNetworks.predict(graph, inputs, batchSize: 256)
    }

    /// The integer engine's version of the trained graph, with the frozen activation parameters.
    ///
    /// - Throws: `ShrinkError(.value)` when an edge was never observed.
    public func converted() throws -> QuantizedGraph {
        var edges = [String: QuantizationParameters]()
        for (edge, node) in activationNodes {
            node.refreshParameters()
            guard let p = node.parameters else {
                throw ShrinkError(.value, "the activation edge '\(edge)' was never observed; train at least one batch")
            }
            edges[edge] = p
        }
        return try QuantizedGraph(folded: folded, edges: edges, stored: try integerWeights(), scheme: weights)
    }
}

/// Quantization-aware training of `model` for `epochs` epochs of `training`'s schedule on `train`: observers move
/// during the first `observerEpochs` share of the steps (default half), then freeze. Returns the prepared graph, from
/// which `converted()` gives the integer model.
///
/// With `learnableScales`, the scales become trainable when the observers freeze (LSQ, started from the observed
/// ranges): activation scales and per-channel weight scales then move with the loss. `ternary` trains {−α, 0, +α}
/// weights (TWN) in place of `weightBits` uniform levels.
public func quantizationAwareTraining(_ model: Model, train: Dataset, weightBits: Int, activationBits: Int,
                                      training: TrainingConfiguration,
                                      freezeAfter share: Double = 0.5, learnableScales: Bool = false,
                                      ternary: Bool = false) throws -> QATGraph {
    let qat = try QATGraph(model, weightBits: weightBits, activationBits: activationBits, ternary: ternary)
    let trainer = Trainer(graph: qat.graph, configuration: training)
    let steps = (train.count + training.batchSize - 1) / training.batchSize * training.epochs
    var step = 0
    trainer.onBatchStart.append { try qat.quantizeWeights() }
    trainer.beforeStep.append {
        qat.accumulateScaleGradients()
        qat.restoreWeights()
    }
    trainer.onBatchEnd.append { [unowned trainer] _ in
        step += 1
        guard Double(step) >= share * Double(steps), !qat.activationNodes.values.allSatisfy(\.frozen) else { return }
        qat.freezeObservers()
        if learnableScales { trainer.extraParameters += try qat.makeScalesLearnable() }
    }
    _ = try trainer.fit(train: train)
    qat.freezeObservers()
    return qat
}
