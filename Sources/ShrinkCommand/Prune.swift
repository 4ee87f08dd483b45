// `shrink prune`: unstructured or filter pruning of a float model, scored, scheduled and fine-tuned on the training
// split, with validation on held-out training samples and the final figures on the test split.
import ArgumentParser
import Foundation
import Shrink

struct Prune: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Prune a float model: single weights, whole filters and neurons, or residual blocks.",
        discussion: """
            Unstructured pruning zeroes the lowest-scored conv and linear weights, over the whole network \
            (--scope global) or layer by layer; filter pruning removes the lowest-scored output channels of every \
            conv and hidden linear layer with the channels coupled to them (BatchNorm, the next layer's inputs, the \
            other branch of a residual add), so the saved model is physically smaller; layer pruning removes whole \
            residual blocks with an identity shortcut (scored by the residual's relative size, bn-scale or random). \
            Schedules: one-shot (prune, \
            then fine-tune), iterative (--rounds rounds of prune then fine-tune, each removing the same share of what \
            is left), gradual (unstructured only: Zhu & Gupta's cubic schedule while fine-tuning). Fine-tuning uses \
            the training split minus the last --validation-samples, which measure each step; the test split is only \
            used for the final figures.
            """)

    @Argument(help: "The float model file (.safetensors).")
    var model: String

    @Option(help: "Data spec: fashion-mnist, a directory of IDX files, or an .npz file.")
    var data: String

    @Option(help: "Output model file (.safetensors); written atomically.")
    var out: String

    @Option(help: "Fraction to remove, in [0, 1): of the prunable weights (unstructured), of each layer's channels (filter), or of the removable residual blocks (layer).")
    var sparsity: Double

    @Option(help: "What to remove: unstructured (single weights), filter (channels and neurons) or layer (residual blocks).")
    var structure: String = "unstructured"

    @Option(help: "Ranking: magnitude, taylor, bn-scale (filter and layer), random, or obs (unstructured: second-order, updates the remaining weights).")
    var score: String = "magnitude"

    @Option(help: "Unstructured only: global (one threshold across layers) or layer (each layer loses the same share).")
    var scope: String = "global"

    @Option(help: "one-shot, iterative or gradual (unstructured only).")
    var schedule: String = "one-shot"

    @Option(help: "Rounds of an iterative schedule, or mask updates of a gradual one.")
    var rounds: Int = 5

    @Option(help: "Fine-tuning epochs: after one-shot pruning, after each iterative round, or in total for gradual.")
    var finetuneEpochs: Int = 1

    @Option(help: "Fine-tuning learning rate (SGD with Nesterov momentum, cosine decay).")
    var lr: Float = 0.01

    @Option(help: "Samples per fine-tuning step.")
    var batchSize: Int = 128

    @Flag(help: "Filter pruning: re-fit the layers that lost input channels by least squares on training batches before fine-tuning.")
    var reconstruct = false

    @Option(help: "Training samples held out (from the end of the split) to measure each step.")
    var validationSamples: Int = 5000

    @Option(help: "Seed of every random choice (random scores, shuffling).")
    var seed: UInt64 = 0

    @OptionGroup var runtime: RuntimeOptions

    func validate() throws {
        guard sparsity >= 0 && sparsity < 1 else { throw ValidationError("--sparsity must be in [0, 1), got \(sparsity)") }
        guard rounds >= 1 && rounds <= 1000 else { throw ValidationError("--rounds must be in 1…1000, got \(rounds)") }
        guard finetuneEpochs >= 0 && finetuneEpochs <= 10_000 else {
            throw ValidationError("--finetune-epochs must be in 0…10000, got \(finetuneEpochs)")
        }
        guard lr > 0 && lr.isFinite else { throw ValidationError("--lr must be positive, got \(lr)") }
        guard batchSize >= 1 && batchSize <= 65_536 else {
            throw ValidationError("--batch-size must be in 1…65536, got \(batchSize)")
        }
        guard validationSamples >= 0 && validationSamples <= 1_000_000 else {
            throw ValidationError("--validation-samples must be in 0…1000000, got \(validationSamples)")
        }
        _ = try PruningStructure(named: structure)
        _ = try PruningScore(named: score)
        _ = try PruningScope(named: scope)
        _ = try PruningSchedule(named: schedule)
    }

    struct Figures: Encodable {
        var test_accuracy: Double, test_top5: Double, parameters: Int, nonzero_parameters: Int, macs: Int, bytes: Int
    }

    struct Output: Encodable {
        var out: String
        var settings: PruningSettings
        var steps: [PruningStep]
        var dense: Figures, pruned: Figures
        var layer_sparsity: [String: Double]
    }

    func run() throws {
        try reporting {
            runtime.apply()
            try checkWritable(out)
            let (dense, denseFile) = try loadFloatModel(model, advice: "prune the float model it came from, then quantize")
            var settings = PruningSettings(sparsity: sparsity)
            settings.structure = try PruningStructure(named: structure)
            settings.score = try PruningScore(named: score)
            settings.scope = try PruningScope(named: scope)
            settings.schedule = try PruningSchedule(named: schedule)
            settings.rounds = rounds
            settings.finetuneEpochs = finetuneEpochs
            settings.learningRate = lr
            settings.batchSize = batchSize
            settings.seed = seed
            settings.reconstruct = reconstruct
            try settings.validate()
            let split = try DataSource.load(data)
            let train = try dense.prepare(split.train), test = try dense.prepare(split.test)
            let held = min(validationSamples, train.count / 2)
            let fitting = train.rows(0..<(train.count - held))
            let validation = held > 0 ? train.rows((train.count - held)..<train.count) : nil
            guard fitting.count >= 1 else {
                throw ShrinkError(.value, "the training split of \(data) is empty; pruning needs training samples")
            }
            let outcome = try prune(dense, train: fitting, validation: validation, settings: settings) { step in
                let pruned = step.accuracyAfterPruning.map { String(format: ", validation %.2f%% after pruning", 100 * $0) } ?? ""
                let tuned = step.accuracyAfterFinetuning.map { String(format: ", %.2f%% after fine-tuning", 100 * $0) } ?? ""
                printError(String(format: "round %d: target %.3f, sparsity %.3f", step.round, step.targetSparsity,
                                  step.sparsity) + pruned + tuned)
            }
            // Unstructured zeros are stored as a bitmask and the nonzero values where that is smaller.
            try outcome.model.save(to: out, sparse: settings.structure == .unstructured)
            func figures(_ model: Model, bytes: Int) -> Figures {
                let metrics = evaluate(model.graph, on: test)
                let cost = model.graph.cost()
                let nonzero = prunableWeights(model.graph).reduce(0) { sum, entry in
                    sum + entry.parameter.value.scalars.reduce(0) { $0 + ($1 == 0 ? 0 : 1) }
                }
                let other = cost.parameters - prunableWeights(model.graph).reduce(0) { $0 + $1.parameter.value.count }
                return Figures(test_accuracy: metrics.top1, test_top5: metrics.top5, parameters: cost.parameters,
                               nonzero_parameters: nonzero + other, macs: cost.macs, bytes: bytes)
            }
            let output = Output(out: out, settings: settings, steps: outcome.steps,
                                dense: figures(dense, bytes: denseFile.count),
                                pruned: figures(outcome.model, bytes: try readFile(out).count),
                                layer_sparsity: Dictionary(uniqueKeysWithValues: outcome.layerSparsity.map { ($0.name, $0.sparsity) }))
            if runtime.json {
                print(try jsonString(output))
            } else {
                print(String(format: "test accuracy %.2f%% (dense %.2f%%); nonzero parameters %@ of %@; MACs %@ → %@; "
                             + "saved %@", 100 * output.pruned.test_accuracy, 100 * output.dense.test_accuracy,
                             groupedThousands(output.pruned.nonzero_parameters), groupedThousands(output.dense.parameters),
                             groupedThousands(output.dense.macs), groupedThousands(output.pruned.macs), out))
            }
        }
    }
}
