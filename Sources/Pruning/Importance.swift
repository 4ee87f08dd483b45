// Importance: the extension point for pruning scores. A user-defined `PruningImportance` ranks the weights of each
// prunable layer — and, by default through them, its output channels — in place of the built-in scores, as
// Torch-Pruning's importance callables do. The pass hands it, layer by layer, what the built-ins see: the weights, the
// mask of weights pruned in earlier rounds, the mean gradient magnitudes of the scoring batches when asked for, and a
// seed. Scoring stays apart from masking (Masks.swift) and from grouping coupled channels (ChannelGroups.swift).
import NeuralNetworks
import Tensors

/// What a user-defined importance sees of one prunable layer (a conv or linear node).
public struct PrunableLayer {
    /// The node's name.
    public let node: String
    /// The layer: a `Conv2d` or a `Linear`.
    public let layer: any Layer
    /// The weight's current values, OIHW for a conv and [out, in] for a linear; weights pruned earlier are 0.
    public let weight: Tensor
    /// 1 for a weight still in play, 0 for one pruned in an earlier round; nil when nothing is masked yet (always
    /// nil in filter pruning, which removes channels instead).
    public let mask: Tensor?
    /// The mean over the scoring batches of |∂L/∂w| (cross-entropy, training mode; `PruningSettings.scoreBatches`
    /// batches of the training split), what Taylor scores multiply |w| by; the weight's shape. nil unless the
    /// importance's `needsGradients` is true.
    public let gradient: Tensor?
    /// A seed for random choices: the run's seed mixed with the round (the same as the built-in random score gets).
    public let seed: UInt64
    /// The whole graph being pruned, for importances that look beyond the layer (the BatchNorm after it, say). Read
    /// it only: scores must not change the model.
    public let graph: Graph
}

/// A user-defined pruning score: what `PruningSettings.importance` holds to replace `PruningSettings.score`.
///
/// Unstructured pruning ranks weights by `weightScores` (per layer, or all layers against one threshold); weights
/// pruned in an earlier round rank −∞ whatever is returned, so they stay pruned. Filter pruning ranks output channels
/// by `channelScores`, summed over the producers a channel group couples (both convs of a residual add); by default
/// a channel's score is the sum of its non-negative weight scores (for |w|, the L1 norm of the filter, as the built-in
/// magnitude score). Implement `channelScores` to rank channels directly; an importance that implements only it
/// cannot prune single weights. Higher scores are kept; ties go by position, the earlier first.
///
/// ```swift
/// struct LargestIndexKept: PruningImportance {
///     let name = "index"
///     func weightScores(_ layer: PrunableLayer) throws -> Tensor {
///         Tensor(shape: layer.weight.shape, scalars: (0..<layer.weight.count).map(Float.init))
///     }
/// }
/// settings.importance = LargestIndexKept()
/// ```
public protocol PruningImportance: Sendable {
    /// The name recorded in the settings' JSON (`importance`) and in the model's provenance.
    var name: String { get }
    /// Whether `PrunableLayer.gradient` is wanted; computing it costs a forward and a backward pass per scoring batch.
    /// Defaults to false.
    var needsGradients: Bool { get }
    /// One score per weight, in the weight's shape (or any shape of as many elements); higher is kept.
    func weightScores(_ layer: PrunableLayer) throws -> Tensor
    /// One score per output channel (`weight.shape[0]` of them); higher is kept.
    func channelScores(_ layer: PrunableLayer) throws -> [Float]
}

extension PruningImportance {
    public var needsGradients: Bool { false }

    /// Refuses: this importance ranks channels only.
    public func weightScores(_ layer: PrunableLayer) throws -> Tensor {
        throw ShrinkError(.value, "the pruning importance '\(name)' gives no per-weight scores (weightScores); it can "
            + "rank channels for filter pruning only")
    }

    /// The sum of each output channel's non-negative weight scores.
    public func channelScores(_ layer: PrunableLayer) throws -> [Float] {
        let scores = try checkedWeightScores(self, layer)
        let channels = layer.weight.shape[0], row = scores.count / max(channels, 1)
        return (0..<channels).map { channel in
            scores.scalars[(channel * row)..<((channel + 1) * row)].reduce(0) { $0 + max($1, 0) }
        }
    }
}

/// The layers of `graph` as an importance sees them (every prunable weight, in graph order), with the gradients it
/// asks for computed once from `data`.
func prunableLayers(_ graph: Graph, importance: any PruningImportance, data: ScoringData?,
                    seed: UInt64) throws -> [PrunableLayer] {
    let layers = graph.weightedLayers
    var gradients: [Tensor?] = layers.map { _ in nil }
    if importance.needsGradients {
        guard let data else {
            throw ShrinkError(.value, "the pruning importance '\(importance.name)' needs gradients, which need "
                + "training data")
        }
        gradients = try averagedGradients(graph, data: data, parameters: layers.map(\.weight))
    }
    return zip(layers, gradients).map { entry, gradient in
        PrunableLayer(node: entry.node, layer: entry.layer, weight: entry.weight.value, mask: entry.weight.mask,
                      gradient: gradient, seed: seed, graph: graph)
    }
}

/// `importance.weightScores(layer)` in the weight's shape.
///
/// - Throws: `ShrinkError(.shape)` naming the importance and the node when the count differs from the weight's.
func checkedWeightScores(_ importance: any PruningImportance, _ layer: PrunableLayer) throws -> Tensor {
    let scores = try importance.weightScores(layer)
    guard scores.count == layer.weight.count else {
        throw ShrinkError(.shape, "the pruning importance '\(importance.name)' gave \(scores.count) scores for "
            + "'\(layer.node)', whose weight \(layer.weight.shape) has \(layer.weight.count)")
    }
    return scores.reshaped(layer.weight.shape)
}

/// `importance.channelScores(layer)`, one per output channel.
///
/// - Throws: `ShrinkError(.shape)` naming the importance and the node when the count differs from the channels'.
func checkedChannelScores(_ importance: any PruningImportance, _ layer: PrunableLayer) throws -> [Float] {
    let scores = try importance.channelScores(layer)
    guard scores.count == layer.weight.shape[0] else {
        throw ShrinkError(.shape, "the pruning importance '\(importance.name)' gave \(scores.count) channel scores for "
            + "'\(layer.node)', which has \(layer.weight.shape[0]) output channels")
    }
    return scores
}

/// The per-weight scores of every prunable weight of `graph` by a user-defined `importance`, in graph order, with
/// the weights already pruned (mask 0) at −∞ — the form `pruningMasks` takes.
///
/// - Throws: the importance's errors; `ShrinkError(.shape)` for scores of the wrong count; `ShrinkError(.value)` when
///   it needs gradients and `data` is nil.
public func weightScores(_ graph: Graph, importance: any PruningImportance, data: ScoringData?,
                         seed: UInt64) throws -> [(name: String, scores: Tensor)] {
    try prunableLayers(graph, importance: importance, data: data, seed: seed).map { layer in
        var scores = try checkedWeightScores(importance, layer)
        if let mask = layer.mask {
            scores = Tensor(shape: scores.shape, scalars: zip(scores.scalars, mask.scalars).map { $1 == 0 ? -.infinity : $0 })
        }
        return (layer.node, scores)
    }
}
