// StructuredPruning: filter pruning with real model surgery. Groups of coupled channels (ChannelGroups) are scored
// (L1 norm of the producers' filters, Taylor, BatchNorm scale, or random), the lowest fraction of each layer's groups
// is removed, and a new, smaller graph is built: convs and linears lose output rows and the matching input columns,
// BatchNorms and depthwise convs lose channels, a linear after a flatten loses the H·W features of each removed
// channel, a channel split or shuffle picks the kept channels at their new positions. No layer is emptied.
import Datasets
import NeuralNetworks
import Tensors

/// Which channel groups to remove from a graph, and the surgery that removes them.
public struct FilterPruningPlan {
    public let groups: ChannelGroups
    /// Root ids of the groups to remove.
    public let removed: Set<Int>

    public init(groups: ChannelGroups, removed: Set<Int>) {
        self.groups = groups
        self.removed = removed
    }

    /// Chooses, for each layer (the set of producers a group spans, named by joining them with "+"), the
    /// lowest-scored groups: `fraction` of them (rounded), or down to `counts[layer]` groups when given. Groups are
    /// ranked by `score`, or by `importance` when given (its channel scores summed over each group's producers).
    ///
    /// - Throws: `ShrinkError(.value)` when `fraction ∉ [0, 1)`, nothing in the graph can be removed, or a layer would
    ///   lose every channel (naming it); the importance's errors.
    public init(_ graph: Graph, removing fraction: Double, score: PruningScore, data: ScoringData?,
                seed: UInt64, keeping counts: [String: Int] = [:], importance: (any PruningImportance)? = nil) throws {
        guard fraction >= 0, fraction < 1, fraction.isFinite else {
            throw ShrinkError(.value, "sparsity must be in [0, 1), got \(fraction)")
        }
        let groups = try ChannelGroups(graph)
        let candidates = groups.removableGroups
        guard !candidates.isEmpty else {
            throw ShrinkError(.value, "the model has no channel that filter pruning could remove (every conv and linear "
                + "output feeds the network's output)")
        }
        let scores = try importance.map {
            try groupScores(graph, groups: groups, candidates: candidates, importance: $0, data: data, seed: seed)
        } ?? groupScores(graph, groups: groups, candidates: candidates, score: score, data: data, seed: seed)
        var byLayer = [[String]: [Int]]()   // layer → indices into candidates
        var layerOrder: [[String]] = []
        for (i, group) in candidates.enumerated() {
            if byLayer[group.layer] == nil { layerOrder.append(group.layer) }
            byLayer[group.layer, default: []].append(i)
        }
        var removed = Set<Int>()
        for layer in layerOrder {
            let members = byLayer[layer]!
            let key = layer.joined(separator: "+")
            let keep = counts[key] ?? Int((Double(members.count) * (1 - fraction)).rounded())
            guard keep >= 1 else {
                throw ShrinkError(.value, "removing \(fraction) of the channels would empty '\(key)' (\(members.count) "
                    + "channels); the most it can lose is \(members.count - 1)")
            }
            let order = members.sorted { (scores[$0], $0) < (scores[$1], $1) }
            for index in order.prefix(max(0, members.count - keep)) { removed.insert(candidates[index].id) }
        }
        self.init(groups: groups, removed: removed)
    }

    /// The graph with the removed channels physically gone; layers keep their names.
    public func apply(to graph: Graph) throws -> Graph {
        var nodes: [Node] = []
        for node in graph.nodes {
            let kept = groups.keptPositions(node.name, removing: removed)
            let keptInput = node.inputs.first.map { groups.keptPositions($0, removing: removed) } ?? []
            let layer: any Layer
            switch node.layer {
            case let conv as Conv2d where conv.groups == 1:
                let weight = select(conv.weight.value, rows: kept, columns: keptInput)
                layer = Conv2d(weight: weight, bias: conv.bias.map { select($0.value, rows: kept) },
                               stride: conv.stride, padding: conv.padding, groups: 1)
            case let conv as Conv2d:  // depthwise: follows its input
                layer = Conv2d(weight: select(conv.weight.value, rows: kept), bias: conv.bias.map { select($0.value, rows: kept) },
                               stride: conv.stride, padding: conv.padding, groups: keptInput.count)
            case let linear as Linear:
                layer = Linear(weight: select(linear.weight.value, rows: kept, columns: keptInput),
                               bias: linear.bias.map { select($0.value, rows: kept) })
            case let bn as BatchNorm:
                layer = BatchNorm(weight: select(bn.weight.value, rows: kept), bias: select(bn.bias.value, rows: kept),
                                  runningMean: select(bn.runningMean.value, rows: kept),
                                  runningVariance: select(bn.runningVariance.value, rows: kept),
                                  epsilon: bn.epsilon, momentum: bn.momentum)
            case let select as ChannelSelect:
                // Each kept output channel copies an input channel that is kept too: its position in the pruned input.
                let position = Dictionary(uniqueKeysWithValues: keptInput.enumerated().map { ($0.element, $0.offset) })
                layer = try ChannelSelect(channels: kept.map { position[select.channels[$0]]! })
            default:
                layer = node.layer  // stateless: shapes follow the inputs
            }
            nodes.append(Node(name: node.name, layer: layer, inputs: node.inputs))
        }
        return try Graph(inputShape: graph.inputShape, nodes: nodes, output: graph.outputName)
    }

    /// A copy of the dense graph in which the removed channels are silenced instead of removed: the producers'
    /// rows and biases and the per-channel BatchNorm scale and shift of those channels are zero, so every removed
    /// channel carries 0 — what `apply` computes, at the dense size (for checking the surgery).
    public func masking(_ graph: Graph) throws -> Graph {
        var nodes: [Node] = []
        for node in graph.nodes {
            let ids = groups.edgeIDs[node.name]!
            let silenced = ids.indices.filter { removed.contains(groups.root(ids[$0])) }
            let layer: any Layer
            switch node.layer {
            case let conv as Conv2d:
                layer = Conv2d(weight: zeroRows(conv.weight.value, silenced), bias: conv.bias.map { zeroRows($0.value, silenced) },
                               stride: conv.stride, padding: conv.padding, groups: conv.groups)
            case let linear as Linear:
                layer = Linear(weight: zeroRows(linear.weight.value, silenced),
                               bias: linear.bias.map { zeroRows($0.value, silenced) })
            case let bn as BatchNorm:
                layer = BatchNorm(weight: zeroRows(bn.weight.value, silenced), bias: zeroRows(bn.bias.value, silenced),
                                  runningMean: bn.runningMean.value, runningVariance: bn.runningVariance.value,
                                  epsilon: bn.epsilon, momentum: bn.momentum)
            default:
                layer = node.layer
            }
            nodes.append(Node(name: node.name, layer: layer, inputs: node.inputs))
        }
        return try Graph(inputShape: graph.inputShape, nodes: nodes, output: graph.outputName)
    }

    /// The fraction of removable channels removed.
    public var removedFraction: Double {
        let total = groups.removableGroups.count
        return total == 0 ? 0 : Double(removed.count) / Double(total)
    }
}

/// Keeps `rows` of axis 0 and, when given, `columns` of axis 1 (the input channels of a conv weight [O, C, k, k], or
/// the input features of a linear weight [O, I]).
func select(_ tensor: Tensor, rows: [Int], columns: [Int]? = nil) -> Tensor {
    let shape = tensor.shape
    let inner = shape.count > 2 ? shape[2...].reduce(1, *) : 1
    let width = shape.count > 1 ? shape[1] : 1
    let cols = columns ?? Array(0..<width)
    var scalars = [Float]()
    scalars.reserveCapacity(rows.count * cols.count * inner)
    tensor.scalars.withUnsafeBufferPointer { p in
        for r in rows {
            for c in cols {
                let base = (r * width + c) * inner
                scalars.append(contentsOf: p[base..<(base + inner)])
            }
        }
    }
    var newShape = shape
    newShape[0] = rows.count
    if shape.count > 1 { newShape[1] = cols.count }
    return Tensor(shape: newShape, scalars: scalars)
}

/// `tensor` with the rows (axis 0) `rows` set to zero.
func zeroRows(_ tensor: Tensor, _ rows: [Int]) -> Tensor {
    guard !rows.isEmpty else { return tensor }
    var scalars = tensor.scalars
    let inner = tensor.count / max(tensor.shape[0], 1)
    for r in rows { for i in 0..<inner { scalars[r * inner + i] = 0 } }
    return Tensor(shape: tensor.shape, scalars: scalars)
}

/// The score of each candidate group: the sum over its producers of the channel's score.
func groupScores(_ graph: Graph, groups: ChannelGroups, candidates: [ChannelGroups.Group], score: PruningScore,
                 data: ScoringData?, seed: UInt64) throws -> [Float] {
    switch score {
    case .random:
        var generator = SeededGenerator(seed: seed, stream: "prune-random-channels")
        return candidates.map { _ in generator.nextUniform() }
    case .magnitude, .taylor:
        var perWeight = [String: Tensor]()
        for (name, scores) in try weightScores(graph, score: score, data: data, seed: seed) {
            perWeight[name] = scores
        }
        return candidates.map { group in
            group.members.reduce(Float(0)) { sum, member in
                guard let scores = perWeight[member.node] else { return sum }
                let row = scores.count / scores.shape[0]
                return sum + scores.scalars[(member.channel * row)..<((member.channel + 1) * row)]
                    .reduce(0) { $0 + max($1, 0) }
            }
        }
    case .obs:
        throw ShrinkError(.value, "obs prunes single weights (unstructured); rank channels by magnitude, taylor, "
            + "bn-scale or random")
    case .bnScale:
        var channelScore = [Int: Float]()
        var sawBatchNorm = false
        for node in graph.nodes {
            guard let bn = node.layer as? BatchNorm else { continue }
            sawBatchNorm = true
            for (i, id) in groups.edgeIDs[node.name]!.enumerated() {
                channelScore[groups.root(id), default: 0] += abs(bn.weight.value.scalars[i])
            }
        }
        guard sawBatchNorm else {
            throw ShrinkError(.value, "bn-scale scores need BatchNorm layers; this model has none (use magnitude, "
                + "taylor or random)")
        }
        return candidates.map { channelScore[$0.id] ?? 0 }
    }
}

/// The score of each candidate group by a user-defined importance: the sum over its producers of the channel's score.
func groupScores(_ graph: Graph, groups: ChannelGroups, candidates: [ChannelGroups.Group],
                 importance: any PruningImportance, data: ScoringData?, seed: UInt64) throws -> [Float] {
    let producers = Set(candidates.flatMap { $0.members.map(\.node) })
    var channelScores = [String: [Float]]()
    for layer in try prunableLayers(graph, importance: importance, data: data, seed: seed)
    where producers.contains(layer.node) {
        channelScores[layer.node] = try checkedChannelScores(importance, layer)
    }
    return candidates.map { group in
        group.members.reduce(Float(0)) { $0 + channelScores[$1.node]![$1.channel] }
    }
}

/// Filter pruning as a pass: one-shot or iterative rounds of remove → fine-tune (gradual applies to weights only).
func pruneFilters(_ model: Model, train: Dataset, validation: Dataset?, settings: PruningSettings,
                  log: (PruningStep) -> Void) throws -> PruningOutcome {
    guard settings.schedule != .gradual else {
        throw ShrinkError(.value, "a gradual schedule prunes single weights while training; use one-shot or "
            + "iterative with filter pruning")
    }
    let data = ScoringData(dataset: train, batches: settings.scoreBatches, batchSize: settings.batchSize)
    let original = try ChannelGroups(model.graph)
    var originalCounts = [String: Int]()
    var layerNodes = [String: [String]]()   // layer key → its producers
    for group in original.removableGroups {
        originalCounts[group.layer.joined(separator: "+"), default: 0] += 1
        layerNodes[group.layer.joined(separator: "+")] = group.layer
    }
    let producers = Set(layerNodes.values.joined())
    try settings.checkLayerNames(prunable: model.graph.nodes.map(\.name).filter(producers.contains),
                                 kind: "filter pruning")
    let finalTargets = try filterTargets(layers: layerNodes, settings: settings)
    var graph = model.graph
    var steps: [PruningStep] = []
    let rounds = settings.schedule == .oneShot ? 1 : settings.rounds
    for round in 1...rounds {
        let target = PruningSchedule.iterativeSparsity(round: round, rounds: rounds, final: settings.sparsity)
        // Each layer keeps round(original × (1 − its target)) of its groups, whatever earlier rounds left.
        var keep = [String: Int]()
        for (layer, count) in originalCounts.sorted(by: { $0.key < $1.key }) {
            let layerTarget = PruningSchedule.iterativeSparsity(round: round, rounds: rounds, final: finalTargets[layer]!)
            keep[layer] = Int((Double(count) * (1 - layerTarget)).rounded())
            guard keep[layer]! >= 1 else {
                throw ShrinkError(.value, "removing \(layerTarget) of the channels would empty '\(layer)' (\(count) "
                    + "channels); the most it can lose is \(count - 1)")
            }
        }
        let plan = try FilterPruningPlan(graph, removing: target, score: settings.score, data: data,
                                         seed: settings.seed &+ UInt64(round), keeping: keep,
                                         importance: settings.importance)
        let before = graph
        graph = try plan.apply(to: graph)
        if settings.reconstruct {
            try reconstructAfterFilterPruning(dense: before, pruned: graph, plan: plan, data: data)
        }
        if settings.reestimateBatchNorm { try data.reestimateBatchNorm(graph) }
        let pruned = try validation.map { try evaluate(graph, on: $0).top1 }
        try finetune(graph, on: train, epochs: settings.finetuneEpochs, settings: settings, seed: settings.seed &+ UInt64(round))
        let remaining = try ChannelGroups(graph).removableGroups.count
        let step = PruningStep(round: round, targetSparsity: target,
                               sparsity: 1 - Double(remaining) / Double(max(original.removableGroups.count, 1)),
                               accuracyAfterPruning: pruned,
                               accuracyAfterFinetuning: settings.finetuneEpochs > 0
                                   ? try validation.map { try evaluate(graph, on: $0).top1 } : nil)
        steps.append(step)
        log(step)
    }
    let result = model.with(graph: graph,
                            provenance: model.provenance + [ProvenanceStep(pass: "prune", settings: settings.provenance)])
    return PruningOutcome(model: result, steps: steps,
                          layerSparsity: prunableWeights(graph).map { ($0.node, sparsity(of: [$0.parameter.value])) })
}

/// The final fraction of channels each filter-pruning layer (its key → its producers) loses: 0 when one of its
/// producers is excluded, the producers' own sparsity when one has it, else `settings.sparsity`.
///
/// - Throws: `ShrinkError(.value)` when coupled producers are given different settings (naming them).
private func filterTargets(layers: [String: [String]], settings: PruningSettings) throws -> [String: Double] {
    var targets = [String: Double]()
    for (layer, nodes) in layers.sorted(by: { $0.key < $1.key }) {
        let named = nodes.filter { settings.excludedLayers.contains($0) || settings.layerSparsity[$0] != nil }
        let values = Set(named.map(settings.targetSparsity(of:)))
        guard values.count <= 1 else {
            throw ShrinkError(.value, "the output channels of " + named.map { "'\($0)'" }.joined(separator: " and ")
                + " are coupled (they go together, across a residual add) and must be pruned alike; they were given "
                + named.map { settings.excludedLayers.contains($0) ? "excluded" : "\(settings.layerSparsity[$0]!)" }
                    .joined(separator: " and "))
        }
        targets[layer] = values.first ?? settings.sparsity
    }
    return targets
}
