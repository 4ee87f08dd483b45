// `shrink train`: TrainPass — a built-in architecture trained on a data spec, saved as one model file.
import ArgumentParser
import Foundation
import Shrink

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a built-in architecture and save it as one .safetensors file.",
        discussion: """
            Defaults (SGD with Nesterov momentum 0.9, learning rate 0.05 with a short warm-up and cosine decay, \
            weight decay 5e-4, batch 128) train fmnist-cnn to about 91% on Fashion-MNIST in 3 epochs. \
            The same --seed and --threads give a byte-identical model file.
            """)

    @Option(help: "Architecture.")
    var arch: Architecture

    @OptionGroup var data: DataOptions
    @OptionGroup var output: OutputOptions

    @Option(help: "Passes over the training set.")
    var epochs: Int = TrainPass(arch: .mlp).epochs

    @Option(help: "Samples per optimizer step.")
    var batchSize: Int = TrainPass(arch: .mlp).batchSize

    @Option(help: "Base learning rate (default: 0.05 for sgd, 0.001 for adam/adamw).")
    var lr: Float?

    @Option(help: "Optimizer.")
    var optimizer: OptimizerKind = TrainPass(arch: .mlp).optimizer

    @Option(help: "Momentum for sgd (0 disables it).")
    var momentum: Float = TrainPass(arch: .mlp).momentum

    @Option(help: "Weight decay (L2 for sgd and adam, decoupled for adamw).")
    var weightDecay: Float = TrainPass(arch: .mlp).weightDecay

    @Option(help: "Learning-rate schedule: cosine, step (×0.1 every --step-epochs) or constant.")
    var schedule: ScheduleKind = TrainPass(arch: .mlp).schedule

    @Option(help: "Epochs between decays of the step schedule.")
    var stepEpochs: Int = TrainPass(arch: .mlp).stepEpochs

    @Option(help: "Seed of every random choice (initialisation, shuffling, dropout).")
    var seed: UInt64 = TrainPass(arch: .mlp).seed

    @Option(help: "Train on the first N training samples only.")
    var trainLimit: Int?

    @Option(help: "Evaluate on the first N test samples only.")
    var testLimit: Int?

    @Option(help: "Input normalisation fitted on the training split: scalar (one mean and std), channel (one per channel, as torchvision's Normalize) or none.")
    var normalize: NormalizeKind = TrainPass(arch: .mlp).normalize

    @Option(help: "Given per-channel means instead of fitting, comma-separated (ImageNet: 0.485,0.456,0.406); with --std.")
    var mean: String?

    @Option(help: "Given per-channel standard deviations, comma-separated (ImageNet: 0.229,0.224,0.225); with --mean.")
    var std: String?

    @OptionGroup var checkpoint: CheckpointOptions

    @OptionGroup var runtime: RuntimeOptions

    var pass: TrainPass {
        var p = TrainPass(arch: arch)
        p.epochs = epochs
        p.batchSize = batchSize
        p.learningRate = lr
        p.optimizer = optimizer
        p.momentum = momentum
        p.weightDecay = weightDecay
        p.schedule = schedule
        p.stepEpochs = stepEpochs
        p.seed = seed
        p.trainLimit = trainLimit
        p.testLimit = testLimit
        p.normalize = normalize
        p.mean = mean.map(numbers)
        p.std = std.map(numbers)
        p.checkpoint = checkpoint.checkpoint
        return p
    }

    /// Comma-separated numbers; an item that is not one becomes NaN, which the pass's check reports.
    private func numbers(_ text: String) -> [Float] {
        text.split(separator: ",").map { Float($0.trimmingCharacters(in: .whitespaces)) ?? .nan }
    }

    func validate() throws { try validating(pass) }

    func run() throws {
        try reporting {
            runtime.apply()
            try output.check()
            let split = try data.load()
            let result = try pass.run(nil, data: split, progress: ProgressPrinter("train \(arch.rawValue)").handler)
            try result.model.save(to: output.out)
            checkpoint.remove(pass.checkpointPath(data: split.name))
            let d = try details(of: result.report, as: TrainPass.Details.self)
            try emit(result.report, out: output.out, json: runtime.json, line: String(
                format: "%@: test accuracy %.2f%% (top-5 %.2f%%) on %d samples; %.1f s, %.0f samples/s; saved %@",
                arch.rawValue, 100 * d.test_accuracy, 100 * d.test_top5, d.test_samples, d.train_seconds,
                d.samples_per_second, output.out))
        }
    }
}
