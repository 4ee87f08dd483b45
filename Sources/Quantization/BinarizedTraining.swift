// Training binarized networks (Hubara et al. 2016; Rastegari et al. 2016): every conv and linear layer between the
// first and the last is binarized — weights α · sign(W) per output channel, inputs sign(x) — while the first and
// last layers keep 8-bit weights (per channel) and 8-bit input activations, the usual practice. The graph is
// rewritten so that binarization has something to work with:
//
// - a ReLU on the way into a binarized layer (through max pooling, flatten or dropout) is removed: sign(ReLU(x)) is
//   +1 everywhere, so the sign must see the pre-activation;
// - a BatchNorm follows every binarized layer and every layer whose output feeds one, so the sign thresholds a
//   normalised value and the hard-tanh window |x| ≤ 1 of the straight-through estimator means something;
// - a `Sign` node sits right before each binarized layer.
//
// Training keeps float master weights: each batch puts α · sign(W) (and the 8-bit weights) in place for the
// forward and backward, and the update goes to the masters (straight-through). Activation observers of the 8-bit
// edges freeze after a share of the steps, the inserted BatchNorms' statistics near the end. `converted()` gives
// the inference model: `BinaryConv2d`/`BinaryLinear` on the XNOR-popcount kernel, `QuantizeDequantize` for the
// 8-bit edges, 1-bit and 8-bit weights in the file.
import Datasets
import NeuralNetworks
import Tensors

/// A float model rewritten for binarized training (see the file header).
public final class BinaryQATGraph {
    /// The graph that trains.
    public let graph: Graph
    /// The binarized layers, in graph order.
    public let binaryLayers: [String]
    /// The first and last weighted layers, kept at 8 bits.
    public let eightBitLayers: [String]
    /// The 8-bit activation fake-quantizers, keyed by the layer whose input they quantize.
    public let activationNodes: [String: FakeQuantize]
    /// The BatchNorms inserted after binarized layers and their producers.
    public let batchNorms: [BatchNorm]
    /// The ReLUs removed because they fed binarized layers.
    public let removedActivations: [String]
    let architecture: String
    let normalization: Normalization
    let provenance: [ProvenanceStep]
    let classNames: [String]?
    private let weights: [(parameter: Parameter, binary: Bool)]
    private let scheme = try! WeightScheme(bits: 8, granularity: .perChannel)
    private var masters: [Tensor] = []

    /// - Throws: `ShrinkError(.unsupported)` when the model has fewer than three conv/linear layers, its output is
    ///   not its last one, a layer to binarize is a grouped convolution, or a ReLU to remove feeds other nodes too.
    public init(_ model: Model) throws {
        let folded = try model.graph.foldingBatchNorm()
        let weighted = folded.weightedLayers
        guard weighted.count >= 3 else {
            throw ShrinkError(.unsupported, "binarization keeps the first and last conv/linear layers at 8 bits and "
                + "binarizes those between; this model has \(weighted.count) such layers, it needs at least 3")
        }
        guard let first = weighted.first?.node, let last = weighted.last?.node, last == folded.outputName else {
            throw ShrinkError(.unsupported, "binarization needs the graph output to be its last conv/linear layer; "
                + "the output is '\(folded.outputName)'")
        }
        let binary = weighted.dropFirst().dropLast().map(\.node)
        for name in binary {
            if let conv = folded.node(named: name)?.layer as? Conv2d, conv.groups != 1 {
                throw ShrinkError(.unsupported, "node '\(name)' is a grouped convolution (groups \(conv.groups)); "
                    + "binarized convolutions need groups 1")
            }
        }
        let readers = folded.readers
        var removed = Set<String>(), normalizeAfter = Set<String>(binary)
        for name in binary {
            var edge = folded.node(named: name)!.inputs[0]
            walk: while let producer = folded.node(named: edge) {
                switch producer.layer {
                case is ClampedReLU, is MaxPool2d, is Flatten, is Dropout:
                    guard readers[edge]?.count == 1 else {
                        throw ShrinkError(.unsupported, "node '\(edge)' feeds the binarized layer '\(name)' and "
                            + "\((readers[edge]?.count ?? 1) - 1) other node(s); binarization needs the path into a "
                            + "binarized layer to be its own")
                    }
                    if producer.layer is ClampedReLU { removed.insert(edge) }
                    edge = producer.inputs[0]
                case is Conv2d, is Linear:
                    normalizeAfter.insert(edge)
                    break walk
                default:
                    break walk
                }
            }
        }
        var nodes: [Node] = [], renamed = [String: String](), fakeQuantizers = [String: FakeQuantize]()
        var norms: [BatchNorm] = []
        for node in folded.nodes {
            if removed.contains(node.name) { renamed[node.name] = renamed[node.inputs[0]] ?? node.inputs[0]; continue }
            var inputs = node.inputs.map { renamed[$0] ?? $0 }
            if node.name == first || node.name == last {
                let quantizer = FakeQuantize(bits: 8)
                fakeQuantizers[node.name] = quantizer
                nodes.append(Node(name: "\(node.name)_input_fakequant", layer: quantizer, inputs: inputs))
                inputs = ["\(node.name)_input_fakequant"]
            }
            if binary.contains(node.name) {
                nodes.append(Node(name: "\(node.name)_sign", layer: Sign(), inputs: inputs))
                inputs = ["\(node.name)_sign"]
            }
            nodes.append(Node(name: node.name, layer: node.layer, inputs: inputs))
            if normalizeAfter.contains(node.name), let layer = WeightedLayer(node) {
                let norm = BatchNorm(features: layer.weight.value.shape[0])
                norms.append(norm)
                nodes.append(Node(name: "\(node.name)_bn", layer: norm, inputs: [node.name]))
                renamed[node.name] = "\(node.name)_bn"
            }
        }
        graph = try Graph(inputShape: folded.inputShape, nodes: nodes, output: renamed[last] ?? last)
        binaryLayers = binary
        eightBitLayers = [first, last]
        activationNodes = fakeQuantizers
        batchNorms = norms
        removedActivations = folded.nodes.map(\.name).filter(removed.contains)
        weights = weighted.map { ($0.weight, binary.contains($0.node)) }
        architecture = model.architecture
        normalization = model.normalization
        provenance = model.provenance
        classNames = model.classNames
    }

    /// Puts the binarized (α · sign) and 8-bit weights in place of the float masters, which are kept. On an error (a
    /// weight that is not finite) the masters are back in place.
    public func quantizeWeights() throws {
        masters = weights.map(\.parameter.value)
        do {
            for (p, isBinary) in weights {
                p.value = isBinary ? try binarized(p.value) : try scheme.quantize(p.value).dequantized()
            }
        } catch {
            restoreWeights()
            throw error
        }
    }

    /// Puts the float master weights back (the gradient computed at the quantized weights updates them unchanged).
    public func restoreWeights() {
        for ((p, _), master) in zip(weights, masters) { p.value = master }
        masters = []
    }

    /// The trained graph's logits, with the quantized weights in place for the call.
    public func predict(_ inputs: Tensor) throws -> Tensor {
        try quantizeWeights()
        defer { restoreWeights() }
        return NeuralNetworks.predict(graph, inputs, batchSize: 256)
    }

    /// The inference model: binarized layers on the XNOR-popcount kernel, 8-bit first and last weights, the frozen
    /// 8-bit activation quantizers; saved with 1-bit and 8-bit weights. Each inserted BatchNorm is folded into the
    /// layer before it, exactly in the stored form: per channel, the factor a = γ/√(σ² + ε) multiplies the scale
    /// (α, or the int8 scale) by |a| and flips the channel's codes where a < 0, and the bias becomes a·b + β − a·μ.
    ///
    /// - Throws: `ShrinkError(.value)` when an 8-bit edge was never observed (no training batch ran).
    public func converted(settings: [String: String] = [:]) throws -> WeightOnlyModel {
        let binary = Set(binaryLayers)
        // Each layer's weight as codes and per-channel scales: α · sign for binarized ones, int8 for the others.
        var integer = [String: IntegerWeightTensor]()
        var biases = [String: Tensor]()
        for layer in graph.weightedLayers {
            let weight = layer.weight.value
            integer[layer.node] = binary.contains(layer.node) ? try binaryWeight(of: weight) : try scheme.quantize(weight)
            biases[layer.node] = layer.bias?.value ?? Tensor(zeros: [weight.shape[0]])
        }
        // Fold each inserted BatchNorm into its producer.
        var folded = Set<String>(), renamed = [String: String]()
        for node in graph.nodes {
            guard let norm = node.layer as? BatchNorm, let producer = node.inputs.first,
                  let weight = integer[producer] else { continue }
            let out = weight.shape[0], per = weight.values.count / out
            var scales = weight.scales, values = weight.values, bias = biases[producer]!.scalars
            for c in 0..<out {
                let a = norm.weight.value.scalars[c] / (norm.runningVariance.value.scalars[c] + norm.epsilon).squareRoot()
                let shift = norm.bias.value.scalars[c] - a * norm.runningMean.value.scalars[c]
                scales[c] = max(abs(a) * scales[c], .leastNormalMagnitude)
                if a < 0 { for i in (c * per)..<((c + 1) * per) { values[i] = -values[i] } }
                bias[c] = a * bias[c] + shift
            }
            integer[producer] = try IntegerWeightTensor(shape: weight.shape, values: values, scales: scales,
                                                        bits: weight.bits, perChannel: true)
            biases[producer] = Tensor(shape: [out], scalars: bias)
            folded.insert(node.name)
            renamed[node.name] = producer
        }
        var nodes: [Node] = []
        for node in graph.nodes where !folded.contains(node.name) {
            let layer: any Layer
            let inputs = node.inputs.map { renamed[$0] ?? $0 }
            switch node.layer {
            case let quantizer as FakeQuantize:
                guard let p = quantizer.parameters else {
                    throw ShrinkError(.value, "the activation edge '\(node.name)' was never observed; train at least one batch")
                }
                layer = QuantizeDequantize(bits: p.bits, scale: p.scales[0], zeroPoint: Int(p.zeroPoints[0]))
            case let conv as Conv2d:
                let weight = integer[node.name]!.dequantized(), bias = biases[node.name]!
                layer = try binary.contains(node.name)
                    ? BinaryConv2d(weight: weight, bias: bias, stride: conv.stride, padding: conv.padding)
                    : Conv2d(weight: weight, bias: bias, stride: conv.stride, padding: conv.padding, groups: conv.groups)
            case is Linear:
                let weight = integer[node.name]!.dequantized(), bias = biases[node.name]!
                layer = try binary.contains(node.name) ? BinaryLinear(weight: weight, bias: bias)
                                                       : Linear(weight: weight, bias: bias)
            default:
                layer = node.layer
            }
            nodes.append(Node(name: node.name, layer: layer, inputs: inputs))
        }
        let model = Model(architecture: architecture,
                          graph: try Graph(inputShape: graph.inputShape, nodes: nodes,
                                           output: renamed[graph.outputName] ?? graph.outputName),
                          normalization: normalization,
                          provenance: provenance + [ProvenanceStep(pass: "binarize", settings: settings)],
                          classNames: classNames)
        return try WeightOnlyModel(model, weights: integer.filter { !binary.contains($0.key) })
    }
}

/// Trains a binarized version of `model` (see `BinaryQATGraph`) for `training.epochs` on `train`. The 8-bit
/// activation observers freeze after `freezeAfter` of the steps, the inserted BatchNorms' statistics after
/// `freezeBatchNormAfter`. Binarized networks train best with Adam and no weight decay (the weight decay would pull
/// the latent weights towards zero, where their signs flip); `training` is used as given.
public func binarizedTraining(_ model: Model, train: Dataset, training: TrainingConfiguration,
                              freezeAfter share: Double = 0.5,
                              freezeBatchNormAfter batchNormShare: Double = 0.9) throws -> BinaryQATGraph {
    let binary = try BinaryQATGraph(model)
    let trainer = Trainer(graph: binary.graph, configuration: training)
    let steps = (train.count + training.batchSize - 1) / training.batchSize * training.epochs
    var step = 0
    trainer.onBatchStart.append { try binary.quantizeWeights() }
    trainer.beforeStep.append { binary.restoreWeights() }
    trainer.onBatchEnd.append { _ in
        step += 1
        if Double(step) >= share * Double(steps) { for node in binary.activationNodes.values { node.frozen = true } }
        if Double(step) >= batchNormShare * Double(steps) { for norm in binary.batchNorms { norm.frozen = true } }
    }
    _ = try trainer.fit(train: train)
    for node in binary.activationNodes.values { node.frozen = true }
    return binary
}
