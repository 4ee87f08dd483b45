// Sensitivity analysis: for each prunable layer alone, accuracy against its sparsity — the survey's way to see which
// layers tolerate pruning (and a guide to per-layer targets). Each point prunes one layer by its score without
// fine-tuning, measures, and puts the weights back.
import Datasets
import NeuralNetworks
import Tensors

/// One layer's curve.
public struct LayerSensitivity: Codable, Sendable {
    public var layer: String
    /// The layer's weights (its share of the prunable weights tells how much its curve matters).
    public var weights: Int
    public var points: [Point]

    public struct Point: Codable, Sendable {
        public var sparsity: Double
        public var accuracy: Double
        public var top5: Double
    }
}

/// Accuracy of `model` on `data` with each prunable layer pruned alone to each of `sparsities` (layer scope, no
/// fine-tuning), ranked by `score` or, when given, by a user-defined `importance`. The model is left as it was.
///
/// - Throws: `ShrinkError(.value)` for a sparsity outside [0, 1), no sparsities, empty data, a model without
///   prunable layers, or a score that ranks channels only (bn-scale).
public func sensitivity(of model: Model, on data: Dataset, sparsities: [Double], score: PruningScore = .magnitude,
                        scoring: ScoringData? = nil, seed: UInt64 = 0, importance: (any PruningImportance)? = nil,
                        progress: (String) -> Void = { _ in }) throws -> [LayerSensitivity] {
    guard !sparsities.isEmpty else { throw ShrinkError(.value, "sensitivity needs at least one sparsity") }
    for s in sparsities where !(s >= 0 && s < 1) {
        throw ShrinkError(.value, "sparsity must be in [0, 1), got \(s)")
    }
    guard data.count >= 1 else { throw ShrinkError(.value, "sensitivity needs samples to measure on") }
    let graph = model.graph
    let weights = prunableWeights(graph)
    guard !weights.isEmpty else { throw ShrinkError(.value, "the model has no conv or linear layer to prune") }
    let scores = try importance.map { try weightScores(graph, importance: $0, data: scoring, seed: seed) }
        ?? weightScores(graph, score: score, data: scoring, seed: seed)
    var result: [LayerSensitivity] = []
    for ((node, parameter), (_, layerScores)) in zip(weights, scores) {
        let original = parameter.value
        defer { parameter.value = original }
        var points: [LayerSensitivity.Point] = []
        for s in sparsities {
            let mask = try pruningMasks(scores: [(node, layerScores)], sparsity: s, scope: .layer)[node]!
            parameter.value = Tensor(shape: original.shape, scalars: zip(original.scalars, mask.scalars).map { $0 * $1 })
            let metrics = try evaluate(graph, on: data)
            points.append(.init(sparsity: s, accuracy: metrics.top1, top5: metrics.top5))
        }
        progress(node)
        result.append(LayerSensitivity(layer: node, weights: original.count, points: points))
    }
    return result
}
