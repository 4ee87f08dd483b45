// Importance: user-defined pruning scores plugged into the pass — exactly the weights and channels they rank lowest
// go, weights pruned in an earlier round stay pruned, gradients arrive when asked for (Taylor rebuilt from them gives
// the built-in's bytes), and the settings record the importance by name.
import Datasets
import Foundation
import NeuralNetworks
import Pruning
import Tensors
import Testing

/// Ranks each weight by its position in the layer: the largest indices are kept.
private struct IndexImportance: PruningImportance {
    let name = "index"
    func weightScores(_ layer: PrunableLayer) throws -> Tensor {
        Tensor(shape: layer.weight.shape, scalars: (0..<layer.weight.count).map(Float.init))
    }
}

/// Ranks output channels directly, the lowest-numbered kept; it has no per-weight scores.
private struct FirstChannelsKept: PruningImportance {
    let name = "first-channels"
    func channelScores(_ layer: PrunableLayer) throws -> [Float] {
        (0..<layer.weight.shape[0]).map { -Float($0) }
    }
}

/// Taylor's |w| · mean |∂L/∂w|, computed from what the pass hands over.
private struct TaylorAgain: PruningImportance {
    let name = "taylor-again"
    var needsGradients: Bool { true }
    func weightScores(_ layer: PrunableLayer) throws -> Tensor {
        guard let gradient = layer.gradient else { throw ShrinkError(.value, "no gradient for '\(layer.node)'") }
        return Tensor(shape: layer.weight.shape, scalars: zip(layer.weight.scalars, gradient.scalars).map { abs($0) * $1 })
    }
}

/// Gives one score too few.
private struct ShortImportance: PruningImportance {
    let name = "short"
    func weightScores(_ layer: PrunableLayer) throws -> Tensor {
        Tensor(shape: [layer.weight.count - 1], scalars: [Float](repeating: 1, count: layer.weight.count - 1))
    }
}

private func weight(_ graph: Graph, _ node: String) -> Tensor {
    graph.weightedLayer(named: node)!.weight.value
}

@Suite(.serialized) struct ImportanceTests {
    @Test func theLowestIndicesGoInEveryLayer() throws {
        let dense = try model(.fmnistSmall)
        let train = try images(32, shape: [1, 12, 12], classes: 4, seed: 20)
        var settings = PruningSettings(sparsity: 0.5)
        settings.scope = .layer
        settings.finetuneEpochs = 0
        settings.importance = IndexImportance()
        let outcome = try prune(dense, train: train, validation: nil, settings: settings)
        for node in ["conv1", "conv2", "fc1", "fc2"] {
            let before = weight(dense.graph, node).scalars, after = weight(outcome.model.graph, node).scalars
            // 72, 1152, 4608 and 128 weights: the first half of each goes, the second half is untouched.
            let removed = Int((Double(before.count) * 0.5).rounded())
            #expect(after[..<removed].allSatisfy { $0 == 0 }, "\(node)")
            #expect(Array(after[removed...]) == Array(before[removed...]), "\(node)")
        }
        #expect(outcome.model.provenance.last?.settings["importance"] == "index")
    }

    @Test func weightsPrunedInEarlierRoundsStayPruned() throws {
        /// Round 1 (nothing masked yet) keeps the low indices; later rounds prefer the high ones, which round 1 pruned.
        struct ChangesItsMind: PruningImportance {
            let name = "changes-its-mind"
            func weightScores(_ layer: PrunableLayer) throws -> Tensor {
                let sign: Float = layer.mask == nil ? -1 : 1
                return Tensor(shape: layer.weight.shape, scalars: (0..<layer.weight.count).map { sign * Float($0) })
            }
        }
        let dense = try model(.fmnistSmall)
        let train = try images(32, shape: [1, 12, 12], classes: 4, seed: 21)
        var settings = PruningSettings(sparsity: 0.75)
        settings.scope = .layer
        settings.schedule = .iterative
        settings.rounds = 2
        settings.finetuneEpochs = 0
        settings.importance = ChangesItsMind()
        let outcome = try prune(dense, train: train, validation: nil, settings: settings)
        // Round 1 (target 1 − 0.25^½ = 0.5) removes conv2's 576 highest indices; round 2 (0.75, 864 in all) ranks
        // those −∞ whatever the importance says and removes the 288 lowest of the rest, so 288…575 remain.
        let after = weight(outcome.model.graph, "conv2").scalars, before = weight(dense.graph, "conv2").scalars
        #expect(after[..<288].allSatisfy { $0 == 0 })
        #expect(Array(after[288..<576]) == Array(before[288..<576]))
        #expect(after[576...].allSatisfy { $0 == 0 })
        #expect(outcome.steps.map(\.round) == [1, 2])
    }

    @Test func gradientsArriveWhenAskedAndRebuildTaylor() throws {
        let dense = try model(.fmnistSmall)
        let train = try images(48, shape: [1, 12, 12], classes: 4, seed: 22)
        var settings = PruningSettings(sparsity: 0.6)
        settings.finetuneEpochs = 0
        settings.batchSize = 16
        settings.scoreBatches = 2
        settings.score = .taylor
        let builtIn = try prune(dense, train: train, validation: nil, settings: settings)
        settings.score = .magnitude
        settings.importance = TaylorAgain()
        let custom = try prune(dense, train: train, validation: nil, settings: settings)
        #expect(custom.model.graph.parameters.map(\.parameter.value)
            == builtIn.model.graph.parameters.map(\.parameter.value))
        #expect(sparsity(of: prunableWeights(custom.model.graph).map(\.parameter.value)) > 0.59)
    }

    @Test func filterPruningRanksChannelsByTheImportance() throws {
        let dense = try model(.fmnistCNN)
        let train = try images(16, shape: [1, 12, 12], classes: 4, seed: 23)
        var settings = PruningSettings(sparsity: 0.5)
        settings.structure = .filter
        settings.finetuneEpochs = 0
        // Per-weight scores summed per channel: a later channel sums larger indices, so the last half is kept.
        settings.importance = IndexImportance()
        let last = try prune(dense, train: train, validation: nil, settings: settings).model.graph
        let conv1 = weight(dense.graph, "conv1"), conv2 = weight(dense.graph, "conv2")
        #expect(weight(last, "conv1") == conv1.slice(rows: 16..<32))
        // conv2 keeps its channels 32…63 and reads conv1's channels 16…31.
        let keptConv2 = weight(last, "conv2")
        #expect(keptConv2.shape == [32, 16, 3, 3])
        #expect(Array(keptConv2.scalars[0..<(16 * 9)]) == Array(conv2.scalars[(32 * 32 * 9 + 16 * 9)..<(32 * 32 * 9 + 32 * 9)]))
        // Channel scores given directly: the first half is kept.
        settings.importance = FirstChannelsKept()
        let first = try prune(dense, train: train, validation: nil, settings: settings).model.graph
        #expect(weight(first, "conv1") == conv1.slice(rows: 0..<16))
        #expect((first.weightedLayer(named: "fc1")!.layer as! Linear).outputFeatures == 64)
        // An importance with channel scores only cannot prune single weights.
        settings.structure = .unstructured
        expectError(["'first-channels'", "no per-weight scores"]) {
            _ = try prune(dense, train: train, validation: nil, settings: settings)
        }
    }

    @Test func badScoresAreRefusedAndTheNameIsRecorded() throws {
        let dense = try model(.fmnistSmall)
        let train = try images(16, shape: [1, 12, 12], classes: 4, seed: 24)
        var settings = PruningSettings(sparsity: 0.5)
        settings.finetuneEpochs = 0
        settings.importance = ShortImportance()
        expectError(["'short'", "71 scores", "'conv1'", "72"]) {
            _ = try prune(dense, train: train, validation: nil, settings: settings)
        }
        settings.importance = IndexImportance()
        settings.structure = .layer
        expectError(["custom importance", "layer pruning"]) { try settings.validate() }
        // JSON: the name only, and no decoding of it.
        settings.structure = .unstructured
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let json = String(decoding: try encoder.encode(settings), as: UTF8.self)
        #expect(json.contains(#""importance":"index""#))
        #expect(throws: DecodingError.self) { _ = try JSONDecoder().decode(PruningSettings.self, from: Data(json.utf8)) }
    }
}
