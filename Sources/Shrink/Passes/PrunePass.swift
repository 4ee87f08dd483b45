// PrunePass: unstructured, filter or layer pruning of a float model, scored, scheduled and fine-tuned on the training
// split minus the validation samples held out at its end; the test split gives the final figures.
import Datasets
import Foundation
import NeuralNetworks
import Pruning
import Tensors

/// Pruning of a float model (see `PruningSettings` for the structures, scores, scopes and schedules).
public struct PrunePass: RecipePass {
    public static let name = "prune"
    public var settings: PruningSettings
    /// Training samples held out (from the end of the split) to measure each step; at most half the split.
    public var validationSamples = 5000

    public init(settings: PruningSettings) { self.settings = settings }

    public static let optionKeys = ["sparsity", "structure", "score", "scope", "schedule", "rounds", "finetune_epochs",
                                    "lr", "batch_size", "reconstruct", "reestimate_bn", "validation_samples", "seed", "layer_sparsity",
                                    "excluded_layers"]

    public init(options: inout PassOptions) throws {
        guard let sparsity = try options.double("sparsity") else {
            throw ShrinkError(.format, "\(options.location): prune needs 'sparsity', a fraction in [0, 1)")
        }
        var s = PruningSettings(sparsity: sparsity)
        s.structure = try options.choice("structure", PruningStructure.self) ?? s.structure
        s.score = try options.choice("score", PruningScore.self) ?? s.score
        s.scope = try options.choice("scope", PruningScope.self) ?? s.scope
        s.schedule = try options.choice("schedule", PruningSchedule.self) ?? s.schedule
        s.rounds = try options.int("rounds") ?? s.rounds
        s.finetuneEpochs = try options.int("finetune_epochs") ?? s.finetuneEpochs
        s.learningRate = try options.float("lr") ?? s.learningRate
        s.batchSize = try options.int("batch_size") ?? s.batchSize
        s.reconstruct = try options.bool("reconstruct") ?? s.reconstruct
        s.reestimateBatchNorm = try options.bool("reestimate_bn") ?? s.reestimateBatchNorm
        s.seed = try options.uint64("seed") ?? s.seed
        if let entries = options.list("layer_sparsity") {
            s.layerSparsity = try layerSettings(entries, key: "layer_sparsity", at: options.location) { Double($0) }
        }
        s.excludedLayers = options.list("excluded_layers") ?? s.excludedLayers
        settings = s
        validationSamples = try options.int("validation_samples") ?? validationSamples
    }

    public func fast() -> PrunePass {
        var copy = self
        copy.settings.finetuneEpochs = min(settings.finetuneEpochs, 1)
        // Rounds cost time only when the schedule has them (a one-shot schedule keeps its recorded setting).
        if settings.schedule != .oneShot { copy.settings.rounds = min(settings.rounds, 1) }
        return copy
    }

    public func validate() throws {
        try check(validationSamples, in: 0...1_000_000, "validation_samples")
        try settings.validate()
    }

    /// The `shrink prune --json` document's figures of one model.
    public struct Figures: Encodable, Sendable {
        public var test_accuracy: Double, test_top5: Double, parameters: Int, nonzero_parameters: Int, macs: Int
        public var bytes: Int
    }

    /// The `shrink prune --json` document.
    public struct Details: Encodable, Sendable {
        public var steps: [PruningStep]
        public var dense: Figures, pruned: Figures
        public var layer_sparsity: [String: Double]
    }

    public func run(_ model: ShrinkModel?, data: DataSplit?, progress: @escaping ProgressHandler) throws -> PassResult {
        try validate()
        let input = try required(model), split = try required(data)
        let dense = try input.floatModel(advice: "prune the float model it came from, then quantize")
        let train = try dense.prepare(split.train)
        let held = min(validationSamples, train.count / 2)
        let fitting = train.rows(0..<(train.count - held))
        let validation = held > 0 ? train.rows((train.count - held)..<train.count) : nil
        guard fitting.count >= 1 else {
            throw ShrinkError(.value, "the training split of \(split.name) is empty; pruning needs training samples")
        }
        let outcome = try prune(dense, train: fitting, validation: validation, settings: settings) { step in
            let pruned = step.accuracyAfterPruning.map { String(format: ", validation %.2f%% after pruning", 100 * $0) } ?? ""
            let tuned = step.accuracyAfterFinetuning.map { String(format: ", %.2f%% after fine-tuning", 100 * $0) } ?? ""
            progress(PassProgress(pass: Self.name, message: String(
                format: "round %d: target %.3f, sparsity %.3f", step.round, step.targetSparsity, step.sparsity)
                + pruned + tuned))
        }
        // Unstructured zeros are stored as a bitmask and the nonzero values where that is smaller.
        let result = try ShrinkModel(outcome.model, sparse: settings.structure == .unstructured)
        let denseTest = try testMetrics(input, split), prunedTest = try testMetrics(result, split)
        // `cost` counts the zeros of every weight: once per model.
        let denseCost = input.cost, prunedCost = result.cost
        func figures(_ cost: ModelCost, _ test: Metrics?) -> Figures {
            Figures(test_accuracy: test?.top1 ?? 0, test_top5: test?.top5 ?? 0, parameters: cost.parameters,
                    nonzero_parameters: cost.nonzeroParameters, macs: cost.macs, bytes: cost.bytes)
        }
        let details = Details(steps: outcome.steps, dense: figures(denseCost, denseTest), pruned: figures(prunedCost, prunedTest),
                              layer_sparsity: Dictionary(uniqueKeysWithValues: outcome.layerSparsity.map { ($0.name, $0.sparsity) }))
        let validationAccuracy = outcome.steps.last.flatMap { $0.accuracyAfterFinetuning ?? $0.accuracyAfterPruning }
        return PassResult(model: result, report: PassReport(
            pass: Self.name, settings: result.provenance.last?.settings ?? [:],
            before: ModelFigures(denseCost, test: denseTest),
            after: ModelFigures(prunedCost, validationAccuracy: validationAccuracy, test: prunedTest), details: details))
    }
}
