// Scores: how important each weight (unstructured) is — magnitude |w|; first-order Taylor |w · ∂L/∂w| averaged over
// batches of training data (Molchanov et al. 2017); random, the baseline every paper should report. Pruned weights
// score −∞ so that they stay pruned. Channel scores (filters) build on these in StructuredPruning; the second-order
// option (obs) prunes and updates together and lives in SecondOrderPruning.
import Datasets
import NeuralNetworks
import Tensors

/// How pruning ranks weights or channels.
public enum PruningScore: String, CaseIterable, Codable, Sendable, NamedChoice {
    public static let choiceName = "pruning score"
    /// |w| for a weight; the L1 norm of its weights for a filter or neuron.
    case magnitude
    /// |w · ∂L/∂w| averaged over batches (first-order Taylor expansion of the loss change); summed over a filter.
    case taylor
    /// |γ| of the BatchNorm that normalises a channel (network slimming); channels only.
    case bnScale = "bn-scale"
    /// Seeded uniform scores: the baseline.
    case random
    /// Optimal Brain Surgeon on each layer's reconstruction problem (SparseGPT's form): weights chosen by
    /// w² / [H⁻¹]_qq and the remaining ones updated; unstructured only.
    case obs

}

/// Where the data-driven scores (Taylor) come from: batches of the training split.
public struct ScoringData {
    public var dataset: Dataset
    /// Batches averaged over.
    public var batches: Int
    public var batchSize: Int

    public init(dataset: Dataset, batches: Int = 8, batchSize: Int = 128) {
        self.dataset = dataset
        self.batches = batches
        self.batchSize = batchSize
    }
}

/// The per-weight scores of every prunable weight of `graph` (see `prunableWeights`), in graph order.
///
/// - Throws: `ShrinkError(.value)` when Taylor scores have no data, or for `bn-scale`, which ranks channels, not
///   single weights.
public func weightScores(_ graph: Graph, score: PruningScore, data: ScoringData?, seed: UInt64) throws
    -> [(name: String, scores: Tensor)] {
    let weights = prunableWeights(graph)
    var raw: [Tensor]
    switch score {
    case .magnitude:
        raw = weights.map { Tensor(shape: $0.parameter.value.shape, scalars: $0.parameter.value.scalars.map(abs)) }
    case .random:
        raw = weights.map { entry in
            var generator = SeededGenerator(seed: seed, stream: "prune-random-\(entry.node)")
            return Tensor(shape: entry.parameter.value.shape,
                          scalars: (0..<entry.parameter.value.count).map { _ in generator.nextUniform() })
        }
    case .taylor:
        guard let data else { throw ShrinkError(.value, "Taylor scores need training data") }
        let gradients = try averagedGradients(graph, data: data, parameters: weights.map(\.parameter))
        raw = zip(weights, gradients).map { entry, gradient in
            Tensor(shape: gradient.shape, scalars: zip(entry.parameter.value.scalars, gradient.scalars).map { abs($0 * $1) })
        }
    case .bnScale:
        throw ShrinkError(.value, "bn-scale scores rank channels by their BatchNorm scale; use it with filter pruning")
    case .obs:
        throw ShrinkError(.value, "obs prunes and updates each layer's weights together; it has no per-weight score "
            + "to rank by here (use it with unstructured pruning)")
    }
    // Weights already pruned stay pruned.
    for (i, entry) in weights.enumerated() {
        guard let mask = entry.parameter.mask else { continue }
        raw[i] = Tensor(shape: raw[i].shape, scalars: zip(raw[i].scalars, mask.scalars).map { $1 == 0 ? -.infinity : $0 })
    }
    return zip(weights, raw).map { ($0.node, $1) }
}

/// The mean over batches of |∂L/∂p| for each of `parameters` (Taylor's |w · g_b| averaged over batches is |w| times
/// this, since w is fixed while scoring). The graph runs in training mode, as its gradients need; BatchNorm running
/// statistics and every gradient are restored afterwards.
func averagedGradients(_ graph: Graph, data: ScoringData, parameters: [Parameter]) throws -> [Tensor] {
    guard data.dataset.count >= 1, data.batches >= 1, data.batchSize >= 1 else {
        throw ShrinkError(.value, "Taylor scores need at least one batch of training data")
    }
    let buffers = graph.parameters.map(\.parameter).filter { !$0.isTrainable }
    let savedBuffers = buffers.map(\.value)
    defer {
        for (buffer, value) in zip(buffers, savedBuffers) { buffer.value = value }
        graph.zeroGradients()
    }
    var sums = parameters.map { Tensor(zeros: $0.value.shape) }
    let schedule = BatchSchedule(count: data.dataset.count, batchSize: data.batchSize, seed: 0)
    let batches = Array(schedule.batches(epoch: 0).prefix(data.batches))
    for indices in batches {
        let (inputs, labels) = try data.dataset.batch(indices)
        graph.zeroGradients()
        let logits = graph.forward(inputs, mode: .training)
        try graph.backward(seeds: [graph.outputName: crossEntropy(logits: logits, labels: labels).gradient])
        for (i, p) in parameters.enumerated() {
            sums[i] = Tensor(shape: sums[i].shape, scalars: zip(sums[i].scalars, p.gradient.scalars).map { $0 + abs($1) })
        }
    }
    let n = Float(batches.count)
    return sums.map { Tensor(shape: $0.shape, scalars: $0.scalars.map { $0 / n }) }
}
