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

    public init(bits: Int) {
        self.bits = bits
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
        guard let p = parameters else {
            if mode == .training { passMask = Tensor(shape: x.shape, repeating: 1) }
            return x
        }
        let s = p.scales[0], z = Float(p.zeroPoints[0]), low = Float(p.qmin), high = Float(p.qmax)
        var mask = [Float](repeating: 1, count: mode == .training ? x.count : 0)
        var y = [Float](repeating: 0, count: x.count)
        x.withUnsafeBufferPointer { px in
            for i in 0..<x.count {
                let q = (px[i] / s).rounded(.toNearestOrEven) + z
                let clamped = min(max(q, low), high)
                y[i] = s * (clamped - z)
                if mode == .training && q != clamped { mask[i] = 0 }
            }
        }
        if mode == .training { passMask = Tensor(shape: x.shape, scalars: mask) }
        return Tensor(shape: x.shape, scalars: y)
    }

    public func backward(_ outputGradient: Tensor, needsInputGradient: [Bool]) -> [Tensor?] {
        guard needsInputGradient[0] else { return [nil] }
        return [Tensor(shape: outputGradient.shape,
                       scalars: zip(outputGradient.scalars, passMask.scalars).map { $0 * $1 })]
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
    /// The fake-quantization node on each quantized edge, keyed by the edge (`input` or the node it follows).
    public let activationNodes: [String: FakeQuantize]

    /// Inserts fake quantization into `model`'s graph (BatchNorm folded first).
    ///
    /// - Throws: `ShrinkError(.value)` for bits outside 2…8; graph errors.
    public init(_ model: Model, weightBits: Int, activationBits: Int) throws {
        guard (2...8).contains(activationBits) else {
            throw ShrinkError(.value, "activation bits must be in 2…8, got \(activationBits)")
        }
        weights = try WeightScheme(bits: weightBits, granularity: .perChannel)
        folded = try model.graph.foldingBatchNorm()
        // The edges with their own parameters in QuantizedGraph: the input; a conv or linear (or the ReLU fused after
        // it); add, concat and a ReLU that could not be fused. Pooling, flatten and dropout share their input's.
        var readers = [String: Int]()
        for node in folded.nodes { for input in node.inputs { readers[input, default: 0] += 1 } }
        var quantized: [String] = [Graph.inputName]
        for node in folded.nodes {
            switch node.layer {
            case is Conv2d, is Linear:
                let fusedReLU = folded.nodes.first { $0.layer is ClampedReLU && $0.inputs == [node.name] }
                if fusedReLU == nil || readers[node.name] != 1 || node.name == folded.outputName { quantized.append(node.name) }
            case is ClampedReLU:
                quantized.append(node.name)
            case is Add, is Concat:
                quantized.append(node.name)
            default:
                break
            }
        }
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

    /// Replaces every conv and linear weight by its fake-quantized value, keeping the float master weights.
    public func quantizeWeights() throws {
        let parameters = folded.nodes.compactMap { ($0.layer as? Conv2d)?.weight ?? ($0.layer as? Linear)?.weight }
        masters = parameters.map(\.value)
        for p in parameters { p.value = try weights.quantize(p.value).dequantized() }
    }

    /// Puts the float master weights back (the straight-through estimator: the gradient computed at the
    /// fake-quantized weights updates the masters unchanged).
    public func restoreWeights() {
        let parameters = folded.nodes.compactMap { ($0.layer as? Conv2d)?.weight ?? ($0.layer as? Linear)?.weight }
        for (p, master) in zip(parameters, masters) { p.value = master }
        masters = []
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
            guard let p = node.parameters else {
                throw ShrinkError(.value, "the activation edge '\(edge)' was never observed; train at least one batch")
            }
            edges[edge] = p
        }
        return try QuantizedGraph(folded: folded, edges: edges, scheme: weights)
    }
}

/// Quantization-aware training of `model` for `epochs` epochs of `training`'s schedule on `train`: observers move
/// during the first `observerEpochs` share of the steps (default half), then freeze. Returns the prepared graph, from
/// which `converted()` gives the integer model.
public func quantizationAwareTraining(_ model: Model, train: Dataset, weightBits: Int, activationBits: Int,
                                      training: TrainingConfiguration,
                                      freezeAfter share: Double = 0.5) throws -> QATGraph {
    let qat = try QATGraph(model, weightBits: weightBits, activationBits: activationBits)
    let trainer = Trainer(graph: qat.graph, configuration: training)
    let steps = (train.count + training.batchSize - 1) / training.batchSize * training.epochs
    var step = 0
    var failure: Error?
    trainer.onBatchStart.append {
        do { try qat.quantizeWeights() } catch { failure = error }
    }
    trainer.beforeStep.append { qat.restoreWeights() }
    trainer.onBatchEnd.append { _ in
        step += 1
        if Double(step) >= share * Double(steps) { qat.freezeObservers() }
    }
    _ = trainer.fit(train: train)
    if let failure { throw failure }
    qat.freezeObservers()
    return qat
}
