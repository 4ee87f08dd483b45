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
    var structure: PruningStructure = PruningSettings(sparsity: 0).structure

    @Option(help: "Ranking: magnitude, taylor, bn-scale (filter and layer), random, or obs (unstructured: second-order, updates the remaining weights).")
    var score: PruningScore = PruningSettings(sparsity: 0).score

    @Option(help: "Unstructured: global (one threshold across layers) or layer (each layer loses the same share).")
    var scope: PruningScope = PruningSettings(sparsity: 0).scope

    @Option(help: "one-shot, iterative or gradual (unstructured only).")
    var schedule: PruningSchedule = PruningSettings(sparsity: 0).schedule

    @Option(help: "Rounds of an iterative schedule, or mask updates of a gradual one.")
    var rounds: Int = PruningSettings(sparsity: 0).rounds

    @Option(help: "Fine-tuning epochs: after one-shot pruning, after each iterative round, or in total for gradual.")
    var finetuneEpochs: Int = PruningSettings(sparsity: 0).finetuneEpochs

    @Option(help: "Fine-tuning learning rate (SGD with Nesterov momentum, cosine decay).")
    var lr: Float = PruningSettings(sparsity: 0).learningRate

    @Option(help: "Samples per fine-tuning step.")
    var batchSize: Int = PruningSettings(sparsity: 0).batchSize

    @Flag(help: "Filter pruning: re-fit the layers that lost input channels by least squares on training batches before fine-tuning.")
    var reconstruct = false

    @Flag(name: .customLong("reestimate-bn"), help: "Re-estimate every BatchNorm's running statistics right after each pruning step, before fine-tuning, on the training batches the scores use (8 × --batch-size samples).")
    var reestimateBatchNorm = false

    @Option(help: "Training samples held out (from the end of the split) to measure each step.")
    var validationSamples: Int = PrunePass(settings: PruningSettings(sparsity: 0)).validationSamples

    @Option(help: "Seed of every random choice (random scores, shuffling).")
    var seed: UInt64 = PruningSettings(sparsity: 0).seed

    @Option(help: "Per-layer sparsity by node name, overriding --sparsity for those nodes: node=fraction, comma-separated (conv1=0.3,fc1=0.9).")
    var layerSparsity: String?

    @Option(help: "Conv/linear nodes left alone (never pruned), comma-separated.")
    var excludedLayers: String?

    @OptionGroup var runtime: RuntimeOptions

    func pass() throws -> PrunePass {
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
        s.reestimateBatchNorm = reestimateBatchNorm
        s.excludedLayers = (excludedLayers ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        if let layerSparsity {
            s.layerSparsity = try Shrink.layerSettings(layerSparsity.split(separator: ",").map(String.init),
                                                       key: "--layer-sparsity", at: "") { Double($0) }
        }
        var p = PrunePass(settings: s)
        p.validationSamples = validationSamples
        return p
    }

    func validate() throws { try validating { try pass() } }

    func run() throws {
        try reporting {
            runtime.apply()
            try output.check()
            let input = try ShrinkModel.load(from: model)
            let result = try pass().run(input, data: try data.load(), progress: ProgressPrinter("prune").handler)
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
