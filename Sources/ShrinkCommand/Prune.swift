// `shrink prune`: PrunePass — unstructured, filter or layer pruning of a float model, scored, scheduled and
// fine-tuned on the training split, with validation on held-out training samples and the final figures on the test
// split.
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
            Schedules: one-shot (prune, then fine-tune), iterative (--rounds rounds of prune then fine-tune, each \
            removing the same share of what is left), gradual (unstructured only: Zhu & Gupta's cubic schedule \
            while fine-tuning). Fine-tuning uses the training split minus the last --validation-samples, which \
            measure each step; the test split is only used for the final figures.
            """)

    @Argument(help: "The float model file (.safetensors).")
    var model: String

    @OptionGroup var data: DataOptions
    @OptionGroup var output: OutputOptions

    @Option(help: "Fraction to remove, in [0, 1): of the prunable weights (unstructured), of each layer's channels (filter), or of the removable residual blocks (layer).")
    var sparsity: Double

    @Option(help: "What to remove: unstructured (single weights), filter (channels and neurons) or layer (residual blocks).")
    var structure: PruningStructure = .unstructured

    @Option(help: "Ranking: magnitude, taylor, bn-scale (filter and layer), random, or obs (unstructured: second-order, updates the remaining weights).")
    var score: PruningScore = .magnitude

    @Option(help: "Unstructured: global (one threshold across layers) or layer (each layer loses the same share).")
    var scope: PruningScope = .global

    @Option(help: "one-shot, iterative or gradual (unstructured only).")
    var schedule: PruningSchedule = .oneShot

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

    var pass: PrunePass {
        var s = PruningSettings(sparsity: sparsity)
        s.structure = structure
        s.score = score
        s.scope = scope
        s.schedule = schedule
        s.rounds = rounds
        s.finetuneEpochs = finetuneEpochs
        s.learningRate = lr
        s.batchSize = batchSize
        s.seed = seed
        s.reconstruct = reconstruct
        var p = PrunePass(settings: s)
        p.validationSamples = validationSamples
        return p
    }

    func validate() throws { try validating(pass) }

    func run() throws {
        try reporting {
            runtime.apply()
            try output.check()
            let input = try ShrinkModel.load(from: model)
            let result = try pass.run(input, data: try data.load(), progress: ProgressPrinter("prune").handler)
            try result.model.save(to: output.out)
            let d = try details(of: result.report, as: PrunePass.Details.self)
            try emit(result.report, out: output.out, json: runtime.json, line: String(
                format: "test accuracy %.2f%% (dense %.2f%%); nonzero parameters %@ of %@; MACs %@ → %@; saved %@",
                100 * d.pruned.test_accuracy, 100 * d.dense.test_accuracy, groupedThousands(d.pruned.nonzero_parameters),
                groupedThousands(d.dense.parameters), groupedThousands(d.dense.macs), groupedThousands(d.pruned.macs),
                output.out))
        }
    }
}
