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
///
/// JSON: the fields below under their snake-case names; `layer_sparsity` and `excluded_layers` only when set, and
/// `importance` (the custom importance's name) only when one is set. A custom importance cannot be decoded.
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
    /// Re-estimate every BatchNorm's running statistics on the calibration batches right after each pruning step,
    /// before fine-tuning (`Graph.reestimateBatchNorm`): the removed weights change the statistics the network was
    /// trained with.
    public var reestimateBatchNorm = false
    public var seed: UInt64 = 0
    /// The sparsity of single layers by node name, overriding `sparsity` for them in unstructured pruning (each such
    /// layer loses that fraction of its own weights, in either scope; with global scope the threshold is shared by
    /// the other layers only) and filter pruning (that fraction of the layer's channels). A filter-pruning layer is a
    /// set of producers whose channels are coupled (by a residual add, say); naming one of them sets it for all.
    public var layerSparsity: [String: Double] = [:]
    /// Conv/linear nodes left alone: not pruned (unstructured), or none of their output channels removed (filter;
    /// with the producers coupled to them).
    public var excludedLayers: [String] = []
    /// A user-defined score replacing `score` for unstructured and filter pruning (see `PruningImportance`); encoded
    /// by its name only.
    public var importance: (any PruningImportance)?

    public init(sparsity: Double) {
        self.sparsity = sparsity
    }

    enum CodingKeys: String, CodingKey {
        case sparsity, structure, score, scope, schedule, rounds, seed
        case finetuneEpochs = "finetune_epochs", learningRate = "learning_rate", batchSize = "batch_size"
        case scoreBatches = "score_batches", reconstruct, reestimateBatchNorm = "reestimate_bn"
        case layerSparsity = "layer_sparsity", excludedLayers = "excluded_layers", importance
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        sparsity = try container.decode(Double.self, forKey: .sparsity)
        structure = try container.decode(PruningStructure.self, forKey: .structure)
        score = try container.decode(PruningScore.self, forKey: .score)
        scope = try container.decode(PruningScope.self, forKey: .scope)
        schedule = try container.decode(PruningSchedule.self, forKey: .schedule)
        rounds = try container.decode(Int.self, forKey: .rounds)
        finetuneEpochs = try container.decode(Int.self, forKey: .finetuneEpochs)
        learningRate = try container.decode(Float.self, forKey: .learningRate)
        batchSize = try container.decode(Int.self, forKey: .batchSize)
        scoreBatches = try container.decode(Int.self, forKey: .scoreBatches)
        reconstruct = try container.decode(Bool.self, forKey: .reconstruct)
        reestimateBatchNorm = try container.decodeIfPresent(Bool.self, forKey: .reestimateBatchNorm) ?? false
        seed = try container.decode(UInt64.self, forKey: .seed)
        layerSparsity = try container.decodeIfPresent([String: Double].self, forKey: .layerSparsity) ?? [:]
        excludedLayers = try container.decodeIfPresent([String].self, forKey: .excludedLayers) ?? []
        if let name = try container.decodeIfPresent(String.self, forKey: .importance) {
            throw DecodingError.dataCorruptedError(forKey: .importance, in: container, debugDescription: "the custom "
                + "pruning importance '\(name)' cannot be read back from its name; set PruningSettings.importance")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(sparsity, forKey: .sparsity)
        try container.encode(structure, forKey: .structure)
        try container.encode(score, forKey: .score)
        try container.encode(scope, forKey: .scope)
        try container.encode(schedule, forKey: .schedule)
        try container.encode(rounds, forKey: .rounds)
        try container.encode(finetuneEpochs, forKey: .finetuneEpochs)
        try container.encode(learningRate, forKey: .learningRate)
        try container.encode(batchSize, forKey: .batchSize)
        try container.encode(scoreBatches, forKey: .scoreBatches)
        try container.encode(reconstruct, forKey: .reconstruct)
        if reestimateBatchNorm { try container.encode(reestimateBatchNorm, forKey: .reestimateBatchNorm) }
        try container.encode(seed, forKey: .seed)
        if !layerSparsity.isEmpty { try container.encode(layerSparsity, forKey: .layerSparsity) }
        if !excludedLayers.isEmpty { try container.encode(excludedLayers, forKey: .excludedLayers) }
        try container.encodeIfPresent(importance?.name, forKey: .importance)
    }

    /// The final target of node `node`: 0 when excluded, its own when it has one, else `sparsity`.
    public func targetSparsity(of node: String) -> Double {
        excludedLayers.contains(node) ? 0 : layerSparsity[node] ?? sparsity
    }

    /// - Throws: `ShrinkError(.value)` for a sparsity outside [0, 1), rounds below 1, negative epochs, a gradual
    ///   schedule without fine-tuning epochs, or a learning rate that is not positive.
    public func validate() throws {
        guard sparsity >= 0, sparsity < 1, sparsity.isFinite else {
            throw ShrinkError(.value, "sparsity must be in [0, 1), got \(sparsity)")
        }
        guard rounds >= 1 else { throw ShrinkError(.value, "rounds must be at least 1, got \(rounds)") }
        guard finetuneEpochs >= 0 else { throw ShrinkError(.value, "fine-tuning epochs must not be negative") }
        guard schedule != .gradual || !reestimateBatchNorm else {
            throw ShrinkError(.value, "BatchNorm re-estimation follows a pruning step; a gradual schedule prunes while "
                + "fine-tuning, which keeps the statistics current — use one-shot or iterative with it")
        }
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
        for (node, target) in layerSparsity.sorted(by: { $0.key < $1.key }) {
            guard target >= 0, target < 1, target.isFinite else {
                throw ShrinkError(.value, "the sparsity of '\(node)' must be in [0, 1), got \(target)")
            }
            guard !excludedLayers.contains(node) else {
                throw ShrinkError(.value, "'\(node)' is both excluded from pruning and given a sparsity of \(target); "
                    + "choose one")
            }
        }
        guard structure != .layer || (layerSparsity.isEmpty && excludedLayers.isEmpty && importance == nil) else {
            throw ShrinkError(.value, "per-layer sparsity, excluded layers and a custom importance apply to "
                + "unstructured and filter pruning; layer pruning removes whole residual blocks")
        }
    }

    /// Checks the node names of `layerSparsity` and `excludedLayers` against the layers this run may prune.
    ///
    /// - Throws: `ShrinkError(.unknownName)` naming the first unknown node and listing the prunable ones.
    func checkLayerNames(prunable: [String], kind: String) throws {
        for node in layerSparsity.keys.sorted() + excludedLayers where !prunable.contains(node) {
            throw ShrinkError(.unknownName, "'\(node)' is not a layer \(kind) can prune; the prunable layers are: "
                + prunable.joined(separator: ", "))
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
              onBatchEnd: ((BatchEvent) throws -> Void)? = nil) throws {
    guard epochs >= 1 else { return }
    var configuration = TrainingConfiguration()
    configuration.epochs = epochs
    configuration.learningRate = settings.learningRate
    configuration.batchSize = settings.batchSize
    configuration.warmupEpochs = 0
    configuration.seed = seed
    let trainer = Trainer(graph: graph, configuration: configuration)
    if let onBatchEnd { trainer.onBatchEnd.append(onBatchEnd) }
    _ = try trainer.fit(train: train)
}

private func pruneUnstructured(_ model: Model, train: Dataset, validation: Dataset?, settings: PruningSettings,
                               log: (PruningStep) -> Void) throws -> PruningOutcome {
    let graph = model.graph
    let weights = prunableWeights(graph)
    try settings.checkLayerNames(prunable: weights.map(\.node), kind: "unstructured pruning")
    let excluded = Set(settings.excludedLayers)
    let data = ScoringData(dataset: train, batches: settings.scoreBatches, batchSize: settings.batchSize)
    func accuracy() throws -> Double? { try validation.map { try evaluate(graph, on: $0).top1 } }
    func currentSparsity() -> Double { sparsity(of: weights.map(\.parameter.value)) }
    /// Scores, masks at the targets `progress` gives for the final ones (the global target and each layer's own),
    /// and applies them (values zeroed, masks kept for fine-tuning); excluded layers are left as they are. OBS
    /// instead prunes each layer to its share (its target per layer, or the shares a global magnitude threshold
    /// gives) and updates the remaining weights.
    func applyMasks(_ progress: (Double) -> Double, seed: UInt64) throws {
        let target = progress(settings.sparsity)
        let layerTargets = settings.layerSparsity.mapValues(progress)
        if settings.score == .obs && settings.importance == nil {
            var targets = [String: Double]()
            if settings.scope == .layer {
                for (node, _) in weights where !excluded.contains(node) { targets[node] = layerTargets[node] ?? target }
            } else {
                let masks = try pruningMasks(scores: try weightScores(graph, score: .magnitude, data: nil, seed: seed),
                                             sparsity: target, scope: .global, layerSparsity: layerTargets,
                                             excluded: excluded)
                for (node, mask) in masks {
                    targets[node] = layerTargets[node] ?? 1 - Double(mask.scalars.reduce(0, +)) / Double(mask.count)
                }
            }
            try secondOrderPruneLayers(graph, targets: targets, data: data)
            return
        }
        let scores = try settings.importance.map { try weightScores(graph, importance: $0, data: data, seed: seed) }
            ?? weightScores(graph, score: settings.score, data: data, seed: seed)
        let masks = try pruningMasks(scores: scores, sparsity: target, scope: settings.scope,
                                     layerSparsity: layerTargets, excluded: excluded)
        for (node, parameter) in weights {
            guard let mask = masks[node] else { continue }
            parameter.mask = mask
            parameter.value = Tensor(shape: mask.shape, scalars: zip(parameter.value.scalars, mask.scalars).map { $0 * $1 })
        }
    }
    var steps: [PruningStep] = []
    switch settings.schedule {
    case .oneShot, .iterative:
        let rounds = settings.schedule == .oneShot ? 1 : settings.rounds
        for round in 1...rounds {
            let progress = { PruningSchedule.iterativeSparsity(round: round, rounds: rounds, final: $0) }
            let target = progress(settings.sparsity)
            try applyMasks(progress, seed: settings.seed &+ UInt64(round))
            if settings.reestimateBatchNorm { try data.reestimateBatchNorm(graph) }
            let pruned = try accuracy()
            try finetune(graph, on: train, epochs: settings.finetuneEpochs, settings: settings,
                         seed: settings.seed &+ UInt64(round))
            let step = PruningStep(round: round, targetSparsity: target, sparsity: currentSparsity(),
                                   accuracyAfterPruning: pruned,
                                   accuracyAfterFinetuning: settings.finetuneEpochs > 0 ? try accuracy() : nil)
            steps.append(step)
            log(step)
        }
    case .gradual:
        guard settings.score != .obs || settings.importance != nil else {
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
        try applyMasks({ _ in 0 }, seed: settings.seed)
        try finetune(graph, on: train, epochs: settings.finetuneEpochs, settings: settings, seed: settings.seed) { _ in
            step += 1
            guard step % interval == 0, step <= pruningSteps else { return }
            update += 1
            let progress = { (final: Double) in
                update >= settings.rounds ? final
                    : PruningSchedule.gradualSparsity(step: step, steps: pruningSteps, final: final)
            }
            try applyMasks(progress, seed: settings.seed &+ UInt64(update))
        }
        if update < settings.rounds {
            // Training ended before the last mask update: prune to the final targets now.
            try applyMasks({ $0 }, seed: settings.seed &+ UInt64(settings.rounds + 1))
        }
        let reached = PruningStep(round: update, targetSparsity: settings.sparsity, sparsity: currentSparsity(),
                                  accuracyAfterPruning: nil, accuracyAfterFinetuning: try accuracy())
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
        var record = ["structure": structure.rawValue, "sparsity": "\(sparsity)", "score": score.rawValue,
                      "scope": scope.rawValue, "schedule": schedule.rawValue, "rounds": "\(rounds)",
                      "finetune_epochs": "\(finetuneEpochs)", "learning_rate": "\(learningRate)", "seed": "\(seed)",
                      "reconstruct": "\(reconstruct)"]
        if !layerSparsity.isEmpty {
            record["layer_sparsity"] = layerSparsity.sorted { $0.key < $1.key }.map { "\($0.key):\($0.value)" }
                .joined(separator: ",")
        }
        if !excludedLayers.isEmpty { record["excluded_layers"] = excludedLayers.joined(separator: ",") }
        if reestimateBatchNorm { record["reestimate_bn"] = "true" }
        if let importance { record["importance"] = importance.name }
        return record
    }
}

extension ScoringData {
    /// Re-estimates `graph`'s BatchNorm statistics on these calibration batches (the first `batches` of a seed-0
    /// shuffle of the training data, `batchSize` each).
    func reestimateBatchNorm(_ graph: Graph) throws {
        let schedule = BatchSchedule(count: dataset.count, batchSize: batchSize, seed: 0)
        try graph.reestimateBatchNorm(try schedule.batches(epoch: 0).prefix(batches).map { try dataset.batch($0).0 })
    }
}
