// BlockPruning: layer pruning — whole residual blocks removed. A block is the branch of an add whose other input is
// the branch's own input (an identity shortcut): y = x + F(x). Removing it leaves y = x, so the branch's nodes go
// and the add's readers read x. Blocks with a projection shortcut (a strided or widening conv) change the shape and
// stay. Scores: magnitude, the relative size of the residual ‖F(x)‖ / ‖x‖ on training batches (a block that adds
// little goes first); bn-scale, the mean |γ| of the branch's last BatchNorm; random.
import Datasets
import NeuralNetworks
import Tensors

/// A residual block that can be removed.
public struct ResidualBlock: Sendable {
    /// The add node that joins the branch and the shortcut.
    public let add: String
    /// The shortcut: the branch's input edge, which the add's readers read once the block is gone.
    public let input: String
    /// The branch's nodes, in graph order.
    public let branch: [String]
}

/// The residual blocks of `graph` with an identity shortcut whose branch nodes are read only inside the block.
public func residualBlocks(_ graph: Graph) -> [ResidualBlock] {
    let readers = graph.readers
    var blocks: [ResidualBlock] = []
    for node in graph.nodes where node.layer is Add && node.inputs.count == 2 {
        for (shortcut, branchEnd) in [(node.inputs[0], node.inputs[1]), (node.inputs[1], node.inputs[0])] {
            // Walk back from the branch's end to the shortcut edge; every node on the way must read one input.
            var branch: [String] = [], current = branchEnd, valid = true
            while current != shortcut {
                guard current != Graph.inputName, let n = graph.node(named: current), n.inputs.count == 1,
                      readers[current] == [branch.last ?? node.name] else { valid = false; break }
                branch.append(current)
                current = n.inputs[0]
            }
            if valid && !branch.isEmpty {
                blocks.append(ResidualBlock(add: node.name, input: shortcut, branch: branch.reversed()))
                break
            }
        }
    }
    return blocks
}

/// Scores of `blocks` (higher = more important).
func blockScores(_ graph: Graph, blocks: [ResidualBlock], score: PruningScore, data: ScoringData?,
                 seed: UInt64) throws -> [Float] {
    switch score {
    case .random:
        var generator = SeededGenerator(seed: seed, stream: "prune-random-blocks")
        return blocks.map { _ in generator.nextUniform() }
    case .bnScale:
        return try blocks.map { block in
            guard let bn = block.branch.reversed().compactMap({ graph.node(named: $0)?.layer as? BatchNorm }).first else {
                throw ShrinkError(.value, "block '\(block.add)' has no BatchNorm for bn-scale scores")
            }
            return bn.weight.value.scalars.reduce(0) { $0 + abs($1) } / Float(bn.features)
        }
    case .magnitude:
        guard let data, data.dataset.count >= 1 else {
            throw ShrinkError(.value, "block magnitude scores (‖F(x)‖ / ‖x‖) need training data")
        }
        let batch = try data.dataset.prefix(min(data.dataset.count, data.batchSize * data.batches)).inputs
        let keep = Set(blocks.flatMap { [$0.input, $0.branch.last!] })
        let values = graph.forward(batch, mode: .inference, keeping: keep)
        func norm(_ t: Tensor) -> Float { t.scalars.reduce(0) { $0 + $1 * $1 }.squareRoot() }
        return blocks.map { block in
            let x = values[block.input] ?? batch
            return norm(values[block.branch.last!]!) / max(norm(x), 1e-12)
        }
    case .taylor, .obs:
        throw ShrinkError(.value, "layer pruning scores blocks by magnitude, bn-scale or random, not \(score.rawValue)")
    }
}

/// `graph` without `blocks`: their branch nodes gone, their adds replaced by the shortcut.
public func removing(_ blocks: [ResidualBlock], from graph: Graph) throws -> Graph {
    let gone = Set(blocks.flatMap { $0.branch + [$0.add] })
    var renamed = [String: String]()
    for block in blocks { renamed[block.add] = block.input }
    func resolve(_ name: String) -> String {
        var name = name
        while let next = renamed[name] { name = next }
        return name
    }
    let nodes = graph.nodes.filter { !gone.contains($0.name) }.map {
        Node(name: $0.name, layer: $0.layer, inputs: $0.inputs.map(resolve))
    }
    return try Graph(inputShape: graph.inputShape, nodes: nodes, output: resolve(graph.outputName))
}

/// Layer pruning as a pass: the lowest-scored `sparsity` of the removable blocks go at once, then fine-tuning.
func pruneBlocks(_ model: Model, train: Dataset, validation: Dataset?, settings: PruningSettings,
                 log: (PruningStep) -> Void) throws -> PruningOutcome {
    guard settings.schedule == .oneShot else {
        throw ShrinkError(.value, "layer pruning removes blocks in one shot; use --schedule one-shot")
    }
    let blocks = residualBlocks(model.graph)
    guard !blocks.isEmpty else {
        throw ShrinkError(.value, "the model has no residual block with an identity shortcut to remove")
    }
    let data = ScoringData(dataset: train, batches: settings.scoreBatches, batchSize: settings.batchSize)
    let scores = try blockScores(model.graph, blocks: blocks, score: settings.score, data: data, seed: settings.seed)
    let count = Int((Double(blocks.count) * settings.sparsity).rounded())
    let order = blocks.indices.sorted { (scores[$0], $0) < (scores[$1], $1) }
    let chosen = order.prefix(count).map { blocks[$0] }
    let graph = try removing(chosen, from: model.graph)
    if settings.reestimateBatchNorm { try data.reestimateBatchNorm(graph) }
    let pruned = try validation.map { try evaluate(graph, on: $0).top1 }
    try finetune(graph, on: train, epochs: settings.finetuneEpochs, settings: settings, seed: settings.seed)
    let step = PruningStep(round: 1, targetSparsity: settings.sparsity,
                           sparsity: Double(chosen.count) / Double(blocks.count), accuracyAfterPruning: pruned,
                           accuracyAfterFinetuning: settings.finetuneEpochs > 0
                               ? try validation.map { try evaluate(graph, on: $0).top1 } : nil)
    log(step)
    var provenance = settings.provenance
    provenance["removed_blocks"] = chosen.map(\.add).joined(separator: ",")
    let result = model.with(graph: graph,
                            provenance: model.provenance + [ProvenanceStep(pass: "prune", settings: provenance)])
    return PruningOutcome(model: result, steps: [step],
                          layerSparsity: prunableWeights(graph).map { ($0.node, sparsity(of: [$0.parameter.value])) })
}
