// TrainPass: a built-in architecture trained from its seed on a data spec's training split.
import Datasets
import Foundation
import NeuralNetworks
import Tensors

/// Loads a data spec ('fashion-mnist', a directory of IDX files, an .npz file); the split is named by the spec,
/// which is what passes record in provenance.
public func loadData(_ spec: String) throws -> DataSplit {
    var split = try DataSource.load(spec)
    split.name = spec
    return split
}

/// The learning-rate schedules a training can follow.
public enum ScheduleKind: String, CaseIterable, Sendable, Codable, NamedChoice {
    public static let choiceName = "schedule"
    case cosine, step, constant
}

extension OptimizerKind: NamedChoice {
    public static let choiceName = "optimizer"
}

/// How training fits the normalisation a model keeps.
public enum NormalizeKind: String, CaseIterable, Sendable, Codable, NamedChoice {
    public static let choiceName = "normalization"
    /// One mean and standard deviation over every input element (the default).
    case scalar
    /// A mean and standard deviation per channel (per feature for vectors), as torchvision's Normalize.
    case channel
    /// None: inputs as the data gives them.
    case none
}

/// Trains a built-in architecture (`arch`) and returns it as a float model.
///
/// Defaults (SGD with Nesterov momentum 0.9, learning rate 0.05 with a short warm-up and cosine decay, weight decay
/// 5e-4, batch 128) train fmnist-cnn to about 91% on Fashion-MNIST in 3 epochs. The same seed and thread count give
/// the same bytes. The input model is ignored (pass nil).
public struct TrainPass: RecipePass {
    public static let name = "train"
    public var arch: Architecture
    public var epochs = 3
    public var batchSize = 128
    /// Base learning rate; nil: 0.05 for sgd, 0.001 for adam/adamw.
    public var learningRate: Float?
    public var optimizer = OptimizerKind.sgd
    public var momentum: Float = 0.9
    public var weightDecay: Float = 5e-4
    public var schedule = ScheduleKind.cosine
    /// Epochs between decays of the step schedule (×0.1).
    public var stepEpochs = 1
    public var seed: UInt64 = 0
    /// Train on the first N training samples only.
    public var trainLimit: Int?
    /// Evaluate on the first N test samples only.
    public var testLimit: Int?
    /// The normalisation fitted on the training split, when `mean` and `std` are not given.
    public var normalize = NormalizeKind.scalar
    /// Given per-channel means (with `std`), used instead of fitting: ImageNet's are 0.485, 0.456, 0.406.
    public var mean: [Float]?
    /// Given per-channel standard deviations (with `mean`): ImageNet's are 0.229, 0.224, 0.225.
    public var std: [Float]?
    /// A directory for a checkpoint after every epoch (`checkpointPath(data:)`): a run killed at any point and run
    /// again with the same settings resumes after its last whole epoch and gives the same bytes.
    public var checkpoint: String?

    public init(arch: Architecture) { self.arch = arch }

    public static let optionKeys = ["arch", "epochs", "batch_size", "lr", "optimizer", "momentum", "weight_decay",
                                    "schedule", "step_epochs", "seed", "train_limit", "test_limit", "normalize",
                                    "mean", "std"]

    public init(options: inout PassOptions) throws {
        guard let arch = try options.choice("arch", Architecture.self) else {
            throw ShrinkError(.format, "\(options.location): train needs 'arch', one of \(Architecture.names)")
        }
        self.arch = arch
        epochs = try options.int("epochs") ?? epochs
        batchSize = try options.int("batch_size") ?? batchSize
        learningRate = try options.float("lr")
        optimizer = try options.choice("optimizer", OptimizerKind.self) ?? optimizer
        momentum = try options.float("momentum") ?? momentum
        weightDecay = try options.float("weight_decay") ?? weightDecay
        schedule = try options.choice("schedule", ScheduleKind.self) ?? schedule
        stepEpochs = try options.int("step_epochs") ?? stepEpochs
        seed = try options.uint64("seed") ?? seed
        trainLimit = try options.int("train_limit")
        testLimit = try options.int("test_limit")
        normalize = try options.choice("normalize", NormalizeKind.self) ?? normalize
        func floats(_ key: String) throws -> [Float]? {
            try options.list(key).map { items in
                try items.map { item in
                    guard let value = Float(item.trimmingCharacters(in: .whitespaces)) else {
                        throw ShrinkError(.value, "\(options.location): \(key) holds '\(item)'; expected numbers, one "
                            + "per channel")
                    }
                    return value
                }
            }
        }
        mean = try floats("mean")
        std = try floats("std")
    }

    public func fast() -> TrainPass {
        var copy = self
        copy.epochs = min(epochs, 1)
        return copy
    }

    public func validate() throws {
        try check(epochs, in: 1...100_000, "epochs")
        try check(batchSize, in: 1...(1 << 20), "batch_size")
        if let learningRate { try checkPositive(learningRate, "lr") }
        guard momentum >= 0 && momentum < 1 else { throw ShrinkError(.value, "momentum must be in [0, 1), got \(momentum)") }
        guard weightDecay >= 0 && weightDecay.isFinite else {
            throw ShrinkError(.value, "weight_decay must be ≥ 0, got \(weightDecay)")
        }
        try check(stepEpochs, in: 1...100_000, "step_epochs")
        if let trainLimit { try check(trainLimit, in: 1...Int.max, "train_limit") }
        if let testLimit { try check(testLimit, in: 1...Int.max, "test_limit") }
        guard (mean == nil) == (std == nil) else {
            throw ShrinkError(.value, "mean and std go together: give one number per channel for each")
        }
        if let mean, let std { try Normalization(channelMeans: mean, channelStds: std).check() }
    }

    /// The normalisation the model keeps: the given means and standard deviations, or fitted on `train` as
    /// `normalize` says (read a batch at a time, without augmentation).
    public func normalization(for train: Dataset) throws -> Normalization {
        if let mean, let std {
            let given = try Normalization(channelMeans: mean, channelStds: std)
            try DataSource.withContext("mean and std") { try given.check(sampleShape: train.sampleShape) }
            return given
        }
        switch normalize {
        case .scalar: return try Normalization.fit(train)
        case .channel: return try Normalization.fit(train, perChannel: true)
        case .none: return .identity
        }
    }

    /// The checkpoint file of a run on data `data` (a split's name) in `checkpoint`: keyed by every setting, the
    /// data and the thread count, so a run with other settings never resumes it.
    public func checkpointPath(data: String) -> String? {
        guard let checkpoint else { return nil }
        return "\(checkpoint)/train-\(checkpointKey(data: data)).checkpoint"
    }

    private func checkpointKey(data: String) -> String {
        var settings = self
        settings.checkpoint = nil
        return fnv1a(Array("\(fingerprint(settings))\u{1}\(data)\u{1}threads \(BLAS.threads)".utf8))
    }

    /// The trainer's configuration.
    public var configuration: TrainingConfiguration {
        var c = TrainingConfiguration()
        c.epochs = epochs
        c.batchSize = batchSize
        c.optimizer = optimizer
        c.learningRate = learningRate
        c.momentum = momentum
        c.weightDecay = weightDecay
        c.seed = seed
        switch schedule {
        case .step: c.schedule = .step(everyEpochs: stepEpochs, gamma: 0.1)
        case .constant: c.schedule = .constant
        case .cosine: c.schedule = .cosine(minimum: 0)
        }
        return c
    }

    /// Per-epoch figures.
    public struct Epoch: Encodable, Sendable {
        public var epoch: Int, train_loss: Double, train_accuracy: Double, test_accuracy: Double?, seconds: Double
    }

    /// The `shrink train --json` document.
    public struct Details: Encodable, Sendable {
        public var arch: String
        public var test_accuracy: Double, test_top5: Double, test_loss: Double, test_samples: Int
        public var train_seconds: Double, samples_per_second: Double, train_samples: Int
        public var parameters: Int, macs: Int, bytes: Int
        public var epochs: [Epoch]
    }

    public func run(_ model: ShrinkModel?, data: DataSplit?, progress: @escaping ProgressHandler) throws -> PassResult {
        try validate()
        var split = try required(data)
        if let trainLimit { split.train = split.train.prefix(trainLimit) }
        if let testLimit { split.test = split.test.prefix(testLimit) }
        guard split.train.count >= 1 else { throw ShrinkError(.value, "the training split of \(split.name) is empty") }
        let graph = try arch.makeGraph(inputShape: split.train.sampleShape, classes: split.train.classCount, seed: seed)
        let c = configuration
        let settings = [
            "arch": arch.rawValue, "data": split.name, "epochs": "\(epochs)", "batch_size": "\(batchSize)",
            "optimizer": optimizer.rawValue, "lr": "\(c.effectiveLearningRate)", "momentum": "\(momentum)",
            "weight_decay": "\(weightDecay)", "schedule": schedule.rawValue, "seed": "\(seed)",
            "train_samples": "\(split.train.count)",
        ]
        let trained = Model(architecture: arch.rawValue, graph: graph,
                            normalization: try normalization(for: split.train),
                            provenance: [ProvenanceStep(pass: Self.name, settings: settings)],
                            classNames: split.classNames)
        let train = try trained.prepare(split.train), test = try trained.prepare(split.test)
        let trainer = Trainer(graph: graph, configuration: c)
        if let path = checkpointPath(data: split.name), let directory = checkpoint {
            do { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) } catch {
                throw ShrinkError(.io, "cannot create the checkpoint directory \(directory): \(error.localizedDescription)")
            }
            trainer.checkpoint = TrainingCheckpoint(path: path, key: checkpointKey(data: split.name))
            if FileManager.default.fileExists(atPath: path) {
                progress(PassProgress(pass: Self.name, message: "resuming from the checkpoint \(path)"))
            }
        }
        let total = epochs * ((train.count + batchSize - 1) / batchSize)
        var step = 0
        trainer.onBatchEnd.append { event in
            step += 1
            progress(PassProgress(pass: Self.name, message: String(format: "epoch %d loss %.4f", event.epoch + 1, event.loss),
                                  completed: step, total: total))
        }
        trainer.onEpochEnd.append { [epochs] event in
            progress(PassProgress(pass: Self.name, message: String(
                format: "epoch %d/%d: train loss %.4f acc %.2f%%, test acc %.2f%% (%.1f s)", event.epoch + 1, epochs,
                event.train.loss, 100 * event.train.top1, 100 * (event.test?.top1 ?? 0), event.seconds)))
        }
        let history = try trainer.fit(train: train, test: test)
        let result = try ShrinkModel(trained)
        let metrics = try history.epochs.last?.test ?? evaluate(graph, on: test)
        let cost = graph.cost()
        let details = Details(
            arch: arch.rawValue, test_accuracy: metrics.top1, test_top5: metrics.top5, test_loss: metrics.loss,
            test_samples: metrics.samples, train_seconds: history.trainSeconds,
            samples_per_second: history.samplesPerSecond, train_samples: train.count, parameters: cost.parameters,
            macs: cost.macs, bytes: cost.bytes,
            epochs: history.epochs.map {
                Epoch(epoch: $0.epoch + 1, train_loss: $0.train.loss, train_accuracy: $0.train.top1,
                      test_accuracy: $0.test?.top1, seconds: $0.seconds)
            })
        return PassResult(model: result, report: PassReport(
            pass: Self.name, settings: settings, before: nil,
            after: ModelFigures(result.cost, test: test.count > 0 ? metrics : nil), details: details))
    }
}
