// Masks: which weights pruning keeps, as pure functions of scores — per layer (every layer loses the same fraction)
// or global (one threshold across the network) — and the prunable weights of a graph (conv and linear weights;
// biases and BatchNorm parameters stay dense, as in torch.nn.utils.prune's usual use).
import NeuralNetworks
import Tensors

/// Where one sparsity target applies.
public enum PruningScope: String, CaseIterable, Codable, Sendable, NamedChoice {
    public static let choiceName = "pruning scope"
    /// Each prunable layer loses `sparsity` of its weights.
    case layer
    /// One threshold across all prunable layers: `sparsity` of all their weights go, wherever the scores are lowest.
    case global

}

/// The weights pruning may remove: every conv and linear weight (`Graph.weightedLayers`), keyed by node name, in
/// graph order.
public func prunableWeights(_ graph: Graph) -> [(node: String, parameter: Parameter)] {
    graph.weightedLayers.map { ($0.node, $0.weight) }
}

/// Masks (1 keep, 0 prune) that remove the lowest-scored fraction `sparsity` of the weights, per layer or globally.
///
/// Ties break by position (the earlier weight goes first), so the result is a pure function of the scores.
/// Weights already pruned should carry a score of `-infinity` so that they count towards the target first.
///
/// Per-layer settings by name: a layer in `layerSparsity` loses that fraction of its own weights, whatever the scope;
/// a layer in `excluded` gets no mask (it is not pruned); the others share `sparsity` as `scope` says — with global
/// scope, one threshold over their weights only.
///
/// - Throws: `ShrinkError(.value)` when a sparsity is outside [0, 1) (naming the layer for its own), a score is NaN,
///   or a target would remove every weight of a layer (naming it); `ShrinkError(.unknownName)` for a name in
///   `layerSparsity` or `excluded` that no scores carry.
public func pruningMasks(scores: [(name: String, scores: Tensor)], sparsity: Double, scope: PruningScope,
                         layerSparsity: [String: Double] = [:], excluded: Set<String> = []) throws -> [String: Tensor] {
    guard sparsity >= 0, sparsity < 1, sparsity.isFinite else {
        throw ShrinkError(.value, "sparsity must be in [0, 1), got \(sparsity)")
    }
    for (name, tensor) in scores where tensor.scalars.contains(where: \.isNaN) {
        throw ShrinkError(.value, "the scores of '\(name)' hold a NaN")
    }
    let names = scores.map(\.name)
    for name in layerSparsity.keys.sorted() + excluded.sorted() where !names.contains(name) {
        throw ShrinkError(.unknownName, "no scores for a layer named '\(name)'; the layers are: "
            + names.joined(separator: ", "))
    }
    for (name, target) in layerSparsity.sorted(by: { $0.key < $1.key }) where !(target >= 0 && target < 1) {
        throw ShrinkError(.value, "the sparsity of '\(name)' must be in [0, 1), got \(target)")
    }
    if !layerSparsity.isEmpty || !excluded.isEmpty {
        let shared = scores.filter { layerSparsity[$0.name] == nil && !excluded.contains($0.name) }
        var masks = try pruningMasks(scores: shared, sparsity: sparsity, scope: scope)
        for (name, tensor) in scores where !excluded.contains(name) {
            guard let target = layerSparsity[name] else { continue }
            masks[name] = try pruningMasks(scores: [(name, tensor)], sparsity: target, scope: .layer)[name]
        }
        return masks
    }
    var masks = [String: Tensor]()
    switch scope {
    case .layer:
        for (name, tensor) in scores {
            let count = tensor.count
            let remove = Int((Double(count) * sparsity).rounded())
            guard remove < count || count == 0 else {
                throw ShrinkError(.value, "sparsity \(sparsity) would remove all \(count) weights of '\(name)'; a "
                    + "layer keeps at least one")
            }
            var mask = [Float](repeating: 1, count: count)
            let order = (0..<count).sorted { (tensor.scalars[$0], $0) < (tensor.scalars[$1], $1) }
            for index in order.prefix(remove) { mask[index] = 0 }
            masks[name] = Tensor(shape: tensor.shape, scalars: mask)
        }
    case .global:
        var entries: [(score: Float, layer: Int, index: Int)] = []
        for (layer, (_, tensor)) in scores.enumerated() {
            for (index, score) in tensor.scalars.enumerated() { entries.append((score, layer, index)) }
        }
        entries.sort { ($0.score, $0.layer, $0.index) < ($1.score, $1.layer, $1.index) }
        let remove = Int((Double(entries.count) * sparsity).rounded())
        var kept = scores.map(\.scores.count)
        var masks1 = scores.map { [Float](repeating: 1, count: $0.scores.count) }
        for entry in entries.prefix(remove) {
            masks1[entry.layer][entry.index] = 0
            kept[entry.layer] -= 1
        }
        if let emptied = kept.indices.first(where: { kept[$0] == 0 && scores[$0].scores.count > 0 }) {
            throw ShrinkError(.value, "sparsity \(sparsity) with one global threshold would remove every weight of '"
                + "\(scores[emptied].name)'; lower the sparsity or prune with --scope layer")
        }
        for (layer, (name, tensor)) in scores.enumerated() {
            masks[name] = Tensor(shape: tensor.shape, scalars: masks1[layer])
        }
    }
    return masks
}

/// The fraction of zeros in a set of weights (how sparse a model's prunable weights are).
public func sparsity(of weights: [Tensor]) -> Double {
    let total = weights.reduce(0) { $0 + $1.count }
    guard total > 0 else { return 0 }
    let zeros = weights.reduce(0) { sum, tensor in sum + tensor.scalars.reduce(0) { $0 + ($1 == 0 ? 1 : 0) } }
    return Double(zeros) / Double(total)
}
