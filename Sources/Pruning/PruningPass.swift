// PruningPass: the pruning pass — score, mask, fine-tune, on a schedule: one-shot; iterative (the survey's
// Algorithm 2: N rounds of prune → fine-tune, each round removing the same fraction of what is left); gradual (Zhu &
// Gupta 2017: the sparsity follows s_t = s_f · (1 − (1 − t/T)³) while training, masks refreshed every ΔT steps).
// Masks live on the parameters while fine-tuning, so gradients and optimizer updates leave pruned weights at zero;
// making them permanent (dropping the masks, zeros in the values) is the last step. Filter pruning removes whole
// channels with real surgery (StructuredPruning.swift); layer pruning removes residual blocks (BlockPruning.swift).
import Datasets
import Foundation
import NeuralNetworks
import Tensors

/// What pruning removes.
public enum PruningStructure: String, CaseIterable, Codable, Sendable, NamedChoice {
    public static let choiceName = "pruning structure"
    /// Single weights of conv and linear layers.
    case unstructured
    /// Whole output channels of convs and neurons of hidden linear layers, with the layers that read them resized.
    case filter
    /// Whole residual blocks with an identity shortcut (the branch goes, the shortcut stays).
    case layer

}

/// When pruning happens relative to fine-tuning.
public enum PruningSchedule: String, CaseIterable, Codable, Sendable, NamedChoice {
    public static let choiceName = "pruning schedule"
    /// Prune to the target once, then fine-tune.
    case oneShot = "one-shot"
    /// `rounds` rounds of prune → fine-tune; round r prunes to 1 − (1 − s)^(r/rounds).
    case iterative
    /// Prune while fine-tuning, following Zhu & Gupta's cubic schedule over the first 75% of the steps, with
    /// `rounds` mask updates.
    case gradual

    /// Zhu & Gupta's target at step `t` of a pruning phase of `steps` steps: `s_f · (1 − (1 − t/steps)³)`.
    public static func gradualSparsity(step t: Int, steps: Int, final: Double) -> Double {
        guard steps > 0 else { return final }
        let progress = min(max(Double(t) / Double(steps), 0), 1)
        return final * (1 - pow(1 - progress, 3))
    }

    /// The target of round `r` (1…rounds) of an iterative schedule: each round keeps the same fraction of what is left.
    public static func iterativeSparsity(round r: Int, rounds: Int, final: Double) -> Double {
        1 - pow(1 - final, Double(r) / Double(max(rounds, 1)))
    }
}

/// The settings of one pruning run.
public struct PruningSettings: Codable, Sendable {
    /// The fraction to remove, in [0, 1): of the prunable weights (unstructured), of each layer's channels (filter),
    /// or of the removable residual blocks (layer).
    public var sparsity: Double
    public var structure: PruningStructure = .unstructured
    public var score: PruningScore = .magnitude
    public var scope: PruningScope = .global
    public var schedule: PruningSchedule = .oneShot
    /// Rounds of an iterative schedule, or mask updates of a gradual one.
    public var rounds: Int = 5
    /// Epochs of fine-tuning: after one-shot pruning, after each iterative round, or in total for gradual.
    public var finetuneEpochs: Int = 1
    /// The fine-tuning learning rate (cosine-decayed to 0 over each fine-tuning run).
    public var learningRate: Float = 0.01
    public var batchSize: Int = 128
    /// Batches of training data averaged for Taylor scores (and used as calibration data by obs and reconstruction).
    public var scoreBatches: Int = 8
    /// Filter pruning: re-fit the layers that lost input channels by least squares on calibration data before
    /// fine-tuning (see `reconstructAfterFilterPruning`).
    public var reconstruct = false
    public var seed: UInt64 = 0

    public init(sparsity: Double) {
        self.sparsity = sparsity
    }

    enum CodingKeys: String, CodingKey {
        case sparsity, structure, score, scope, schedule, rounds, seed
        case finetuneEpochs = "finetune_epochs", learningRate = "learning_rate", batchSize = "batch_size"
        case scoreBatches = "score_batches", reconstruct
    }

    /// - Throws: `ShrinkError(.value)` for a sparsity outside [0, 1), rounds below 1, negative epochs, a gradual
    ///   schedule without fine-tuning epochs, or a learning rate that is not positive.
    public func validate() throws {
        guard sparsity >= 0, sparsity < 1, sparsity.isFinite else {
            throw ShrinkError(.value, "sparsity must be in [0, 1), got \(sparsity)")
        }
        guard rounds >= 1 else { throw ShrinkError(.value, "rounds must be at least 1, got \(rounds)") }
        guard finetuneEpochs >= 0 else { throw ShrinkError(.value, "fine-tuning epochs must not be negative") }
        guard schedule != .gradual || finetuneEpochs >= 1 else {
            throw ShrinkError(.value, "a gradual schedule prunes while fine-tuning; give at least 1 fine-tuning epoch")
        }
        guard learningRate > 0, learningRate.isFinite else {
            throw ShrinkError(.value, "the fine-tuning learning rate must be positive, got \(learningRate)")
        }
        guard !reconstruct || structure == .filter else {
            throw ShrinkError(.value, "reconstruction re-fits the layers after removed channels; use it with filter "
                + "pruning")
        }
        guard batchSize >= 1, scoreBatches >= 1 else {
            throw ShrinkError(.value, "batch size and score batches must be at least 1")
        }
    }
}

/// One step of the run, for reports: the target, what was reached, and validation accuracy around fine-tuning.
public struct PruningStep: Codable, Sendable {
    public var round: Int
    public var targetSparsity: Double
    /// The fraction of prunable weights that are zero (unstructured) or of channels removed (filter).
    public var sparsity: Double
    public var accuracyAfterPruning: Double?
    public var accuracyAfterFinetuning: Double?

    enum CodingKeys: String, CodingKey {
        case round, sparsity
        case targetSparsity = "target_sparsity"
        case accuracyAfterPruning = "accuracy_after_pruning", accuracyAfterFinetuning = "accuracy_after_finetuning"
    }
}

/// The result of `prune`.
public struct PruningOutcome {
    /// The pruned model: zeros in place (unstructured) or smaller layers (filter); masks dropped.
    public var model: Model
    public var steps: [PruningStep]
    /// The fraction of zero weights of each prunable layer, by node name.
    public var layerSparsity: [(name: String, sparsity: Double)]
}

/// Prunes a copy of `model` (the original is left as it is).
///
/// `train` fine-tunes and supplies Taylor scores; `validation` (held out from the training split, never the test
/// split) measures each step. `log` hears of each step as it ends.
///
/// - Throws: `ShrinkError(.value)` for invalid settings or a model without prunable layers; errors from scoring.
public func prune(_ model: Model, train: Dataset, validation: Dataset?, settings: PruningSettings,
                  log: (PruningStep) -> Void = { _ in }) throws -> PruningOutcome {
    try settings.validate()
    let copy = try Model.load(try model.safeTensors(), file: "model being pruned")
    guard !prunableWeights(copy.graph).isEmpty else {
        throw ShrinkError(.value, "the model has no conv or linear layer to prune")
    }
    switch settings.structure {
    case .unstructured:
        return try pruneUnstructured(copy, train: train, validation: validation, settings: settings, log: log)
    case .filter:
        return try pruneFilters(copy, train: train, validation: validation, settings: settings, log: log)
    case .layer:
        return try pruneBlocks(copy, train: train, validation: validation, settings: settings, log: log)
    }
}

/// Fine-tunes `graph` for `epochs` epochs at `settings.learningRate` (cosine, no warm-up), masks respected.
func finetune(_ graph: Graph, on train: Dataset, epochs: Int, settings: PruningSettings, seed: UInt64,
              onBatchEnd: ((BatchEvent) -> Void)? = nil) {
    guard epochs >= 1 else { return }
    var configuration = TrainingConfiguration()
    configuration.epochs = epochs
    configuration.learningRate = settings.learningRate
    configuration.batchSize = settings.batchSize
    configuration.warmupEpochs = 0
    configuration.seed = seed
    let trainer = Trainer(graph: graph, configuration: configuration)
    if let onBatchEnd { trainer.onBatchEnd.append(onBatchEnd) }
    _ = trainer.fit(train: train)
}

private func pruneUnstructured(_ model: Model, train: Dataset, validation: Dataset?, settings: PruningSettings,
                               log: (PruningStep) -> Void) throws -> PruningOutcome {
    let graph = model.graph
    let weights = prunableWeights(graph)
    let data = ScoringData(dataset: train, batches: settings.scoreBatches, batchSize: settings.batchSize)
    func accuracy() -> Double? { validation.map { evaluate(graph, on: $0).top1 } }
    func currentSparsity() -> Double { sparsity(of: weights.map(\.parameter.value)) }
    /// Scores, masks at `target`, and applies them (values zeroed, masks kept for fine-tuning). OBS instead prunes
    /// each layer to its share (all at `target` per layer, or the shares a global magnitude threshold gives) and
    /// updates the remaining weights.
    func applyMasks(_ target: Double, seed: UInt64) throws {
        if settings.score == .obs {
            var targets = [String: Double]()
            if settings.scope == .layer {
                for (node, _) in weights { targets[node] = target }
            } else {
                let masks = try pruningMasks(scores: try weightScores(graph, score: .magnitude, data: nil, seed: seed),
                                             sparsity: target, scope: .global)
                for (node, mask) in masks { targets[node] = 1 - Double(mask.scalars.reduce(0, +)) / Double(mask.count) }
            }
            try secondOrderPruneLayers(graph, targets: targets, data: data)
            return
        }
        let scores = try weightScores(graph, score: settings.score, data: data, seed: seed)
        let masks = try pruningMasks(scores: scores, sparsity: target, scope: settings.scope)
        for (node, parameter) in weights {
            let mask = masks[node]!
            parameter.mask = mask
            parameter.value = Tensor(shape: mask.shape, scalars: zip(parameter.value.scalars, mask.scalars).map { $0 * $1 })
        }
    }
    var steps: [PruningStep] = []
    switch settings.schedule {
    case .oneShot, .iterative:
        let rounds = settings.schedule == .oneShot ? 1 : settings.rounds
        for round in 1...rounds {
            let target = PruningSchedule.iterativeSparsity(round: round, rounds: rounds, final: settings.sparsity)
            try applyMasks(target, seed: settings.seed &+ UInt64(round))
            let pruned = accuracy()
            finetune(graph, on: train, epochs: settings.finetuneEpochs, settings: settings,
                     seed: settings.seed &+ UInt64(round))
            let step = PruningStep(round: round, targetSparsity: target, sparsity: currentSparsity(),
                                   accuracyAfterPruning: pruned,
                                   accuracyAfterFinetuning: settings.finetuneEpochs > 0 ? accuracy() : nil)
            steps.append(step)
            log(step)
        }
    case .gradual:
        guard settings.score != .obs else {
            throw ShrinkError(.value, "obs solves each layer's reconstruction once per round; use it one-shot or "
                + "iterative, not gradual")
        }
        // Zhu & Gupta: prune from 0 to the target over the first 75% of the steps, `rounds` mask updates, then
        // train on with the final masks.
        let batchesPerEpoch = (train.count + settings.batchSize - 1) / settings.batchSize
        let totalSteps = batchesPerEpoch * settings.finetuneEpochs
        let pruningSteps = max(1, Int(0.75 * Double(totalSteps)))
        let interval = max(1, pruningSteps / settings.rounds)
        var step = 0, update = 0
        var failure: Error?
        try applyMasks(0, seed: settings.seed)
        finetune(graph, on: train, epochs: settings.finetuneEpochs, settings: settings, seed: settings.seed) { _ in
            step += 1
            guard failure == nil, step % interval == 0, step <= pruningSteps else { return }
            update += 1
            let target = update >= settings.rounds ? settings.sparsity
                : PruningSchedule.gradualSparsity(step: step, steps: pruningSteps, final: settings.sparsity)
            do { try applyMasks(target, seed: settings.seed &+ UInt64(update)) } catch { failure = error }
        }
        if let failure { throw failure }
        if currentSparsity() + 1e-9 < settings.sparsity * 0.999 {
            try applyMasks(settings.sparsity, seed: settings.seed &+ UInt64(settings.rounds + 1))
        }
        let reached = PruningStep(round: update, targetSparsity: settings.sparsity, sparsity: currentSparsity(),
                                  accuracyAfterPruning: nil, accuracyAfterFinetuning: accuracy())
        steps.append(reached)
        log(reached)
    }
    // Make permanent: the zeros stay in the values, the masks go.
    for (_, parameter) in weights { parameter.mask = nil }
    model.provenance.append(ProvenanceStep(pass: "prune", settings: settings.provenance))
    return PruningOutcome(model: model, steps: steps,
                          layerSparsity: weights.map { ($0.node, sparsity(of: [$0.parameter.value])) })
}

extension PruningSettings {
    /// The settings as provenance strings.
    var provenance: [String: String] {
        ["structure": structure.rawValue, "sparsity": "\(sparsity)", "score": score.rawValue, "scope": scope.rawValue,
         "schedule": schedule.rawValue, "rounds": "\(rounds)", "finetune_epochs": "\(finetuneEpochs)",
         "learning_rate": "\(learningRate)", "seed": "\(seed)", "reconstruct": "\(reconstruct)"]
    }
}
