// `shrink train`: trains a built-in architecture on a data spec and writes the model file.
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

    @Option(help: "Architecture: \(Architecture.names).")
    var arch: String

    @Option(help: "Data spec: fashion-mnist, a directory of IDX files, or an .npz file.")
    var data: String

    @Option(help: "Output model file (.safetensors); written atomically.")
    var out: String

    @Option(help: "Passes over the training set.")
    var epochs: Int = 3

    @Option(help: "Samples per optimizer step.")
    var batchSize: Int = 128

    @Option(help: "Base learning rate (default: 0.05 for sgd, 0.001 for adam/adamw).")
    var lr: Float?

    @Option(help: "Optimizer: \(OptimizerKind.allCases.map(\.rawValue).joined(separator: ", ")).")
    var optimizer: String = "sgd"

    @Option(help: "Momentum for sgd (0 disables it).")
    var momentum: Float = 0.9

    @Option(help: "Weight decay (L2 for sgd and adam, decoupled for adamw).")
    var weightDecay: Float = 5e-4

    @Option(help: "Learning-rate schedule: cosine, step (×0.1 every --step-epochs) or constant.")
    var schedule: String = "cosine"

    @Option(help: "Epochs between decays of the step schedule.")
    var stepEpochs: Int = 1

    @Option(help: "Seed of every random choice (initialisation, shuffling, dropout).")
    var seed: UInt64 = 0

    @Option(help: "Train on the first N training samples only.")
    var trainLimit: Int?

    @Option(help: "Evaluate on the first N test samples only.")
    var testLimit: Int?

    @OptionGroup var runtime: RuntimeOptions

    func validate() throws {
        guard epochs >= 1 && epochs <= 100_000 else { throw ValidationError("--epochs must be in 1…100000, got \(epochs)") }
        guard batchSize >= 1 && batchSize <= 1 << 20 else {
            throw ValidationError("--batch-size must be in 1…1048576, got \(batchSize)")
        }
        if let lr, !(lr > 0 && lr.isFinite) { throw ValidationError("--lr must be a positive number, got \(lr)") }
        guard OptimizerKind(rawValue: optimizer) != nil else {
            throw ValidationError("--optimizer must be one of \(OptimizerKind.allCases.map(\.rawValue).joined(separator: ", ")), got '\(optimizer)'")
        }
        guard ["cosine", "step", "constant"].contains(schedule) else {
            throw ValidationError("--schedule must be cosine, step or constant, got '\(schedule)'")
        }
        guard momentum >= 0 && momentum < 1 else { throw ValidationError("--momentum must be in [0, 1), got \(momentum)") }
        guard weightDecay >= 0 else { throw ValidationError("--weight-decay must be ≥ 0, got \(weightDecay)") }
        if let trainLimit, trainLimit < 1 { throw ValidationError("--train-limit must be at least 1") }
        if let testLimit, testLimit < 1 { throw ValidationError("--test-limit must be at least 1") }
    }

    struct Output: Encodable {
        var arch: String, out: String
        var test_accuracy: Double, test_top5: Double, test_loss: Double, test_samples: Int
        var train_seconds: Double, samples_per_second: Double, train_samples: Int
        var parameters: Int, macs: Int, bytes: Int
        var epochs: [EpochOutput]
    }

    struct EpochOutput: Encodable {
        var epoch: Int, train_loss: Double, train_accuracy: Double, test_accuracy: Double?, seconds: Double
    }

    func configuration() -> TrainingConfiguration {
        var c = TrainingConfiguration()
        c.epochs = epochs
        c.batchSize = batchSize
        c.optimizer = OptimizerKind(rawValue: optimizer)!
        c.learningRate = lr
        c.momentum = momentum
        c.weightDecay = weightDecay
        c.seed = seed
        switch schedule {
        case "step": c.schedule = .step(everyEpochs: stepEpochs, gamma: 0.1)
        case "constant": c.schedule = .constant
        default: c.schedule = .cosine(minimum: 0)
        }
        return c
    }

    func run() throws {
        try reporting {
            runtime.apply()
            let architecture = try Architecture(named: arch)
            try checkWritable(out)
            var split = try DataSource.load(data)
            if let trainLimit { split.train = split.train.prefix(trainLimit) }
            if let testLimit { split.test = split.test.prefix(testLimit) }
            let graph = try architecture.makeGraph(inputShape: split.train.sampleShape, classes: split.train.classCount,
                                                   seed: seed)
            let c = configuration()
            let model = Model(architecture: arch, graph: graph, normalization: Normalization.fit(split.train.inputs),
                              provenance: [ProvenanceStep(pass: "train", settings: [
                                  "arch": arch, "data": data, "epochs": "\(epochs)", "batch_size": "\(batchSize)",
                                  "optimizer": optimizer, "lr": "\(c.effectiveLearningRate)", "momentum": "\(momentum)",
                                  "weight_decay": "\(weightDecay)", "schedule": schedule, "seed": "\(seed)",
                                  "train_samples": "\(split.train.count)",
                              ])])
            let train = try model.prepare(split.train), test = try model.prepare(split.test)
            let trainer = Trainer(graph: graph, configuration: c)
            let progress = ProgressBar(title: "train \(arch)", total: epochs * ((train.count + batchSize - 1) / batchSize))
            var step = 0
            trainer.onBatchEnd.append { event in
                step += 1
                progress.update(step, status: String(format: "epoch %d loss %.4f", event.epoch + 1, event.loss))
            }
            trainer.onEpochEnd.append { event in
                progress.finish(String(format: "epoch %d/%d: train loss %.4f acc %.2f%%, test acc %.2f%% (%.1f s)",
                                       event.epoch + 1, epochs, event.train.loss, 100 * event.train.top1,
                                       100 * (event.test?.top1 ?? 0), event.seconds))
            }
            let history = trainer.fit(train: train, test: test)
            try model.save(to: out)
            let metrics = history.epochs.last?.test ?? evaluate(graph, on: test)
            let cost = graph.cost()
            if runtime.json {
                print(try jsonString(Output(
                    arch: arch, out: out, test_accuracy: metrics.top1, test_top5: metrics.top5, test_loss: metrics.loss,
                    test_samples: metrics.samples, train_seconds: history.trainSeconds,
                    samples_per_second: history.samplesPerSecond, train_samples: train.count,
                    parameters: cost.parameters, macs: cost.macs, bytes: cost.bytes,
                    epochs: history.epochs.map {
                        EpochOutput(epoch: $0.epoch + 1, train_loss: $0.train.loss, train_accuracy: $0.train.top1,
                                    test_accuracy: $0.test?.top1, seconds: $0.seconds)
                    })))
            } else {
                print(String(format: "%@: test accuracy %.2f%% (top-5 %.2f%%) on %d samples; %.1f s, %.0f samples/s; saved %@",
                             arch, 100 * metrics.top1, 100 * metrics.top5, metrics.samples, history.trainSeconds,
                             history.samplesPerSecond, out))
            }
        }
    }
}

/// Fails early, before any work, when `path`'s directory does not exist or is not writable.
func checkWritable(_ path: String) throws {
    let directory = (path as NSString).deletingLastPathComponent
    let dir = directory.isEmpty ? "." : directory
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDirectory), isDirectory.boolValue else {
        throw ShrinkError(.io, "cannot write \(path): directory \(dir) does not exist")
    }
    guard FileManager.default.isWritableFile(atPath: dir) else {
        throw ShrinkError(.io, "cannot write \(path): directory \(dir) is not writable")
    }
}
