// Trainer: epochs of seeded mini-batches, a pluggable loss, hooks at batch and epoch end, train/test metrics. The loss
// and the hooks may throw; the first error ends `fit` at once and reaches its caller.
import Datasets
import Foundation
import Tensors

/// The optimizers the CLI and recipes name.
public enum OptimizerKind: String, CaseIterable, Sendable, Codable {
    case sgd, adam, adamw
}

/// Settings of a training run. The defaults are the ones that train `fmnist-cnn` to ≥ 91% in 3 epochs.
public struct TrainingConfiguration: Sendable, Equatable {
    public var epochs = 3
    public var batchSize = 128
    public var optimizer = OptimizerKind.sgd
    /// Base learning rate; nil picks the optimizer's default (SGD 0.05, Adam/AdamW 0.001).
    public var learningRate: Float?
    public var momentum: Float = 0.9
    public var nesterov = true
    public var weightDecay: Float = 5e-4
    public var schedule = LearningRateSchedule.cosine(minimum: 0)
    /// Linear warm-up over this fraction of the first epoch.
    public var warmupEpochs: Double = 0.3
    public var seed: UInt64 = 0

    public init() {}

    /// The learning rate actually used.
    public var effectiveLearningRate: Float {
        learningRate ?? (optimizer == .sgd ? 0.05 : 0.001)
    }

    /// A fresh optimizer for these settings.
    public func makeOptimizer() -> any Optimizer {
        switch optimizer {
        case .sgd:
            return SGD(learningRate: effectiveLearningRate, momentum: momentum, weightDecay: weightDecay,
                       nesterov: nesterov && momentum > 0)
        case .adam:
            return Adam(learningRate: effectiveLearningRate, weightDecay: weightDecay)
        case .adamw:
            return Adam(learningRate: effectiveLearningRate, weightDecay: weightDecay, decoupled: true)
        }
    }
}

/// What a loss sees of one training batch.
public struct TrainingBatch {
    /// The graph's output for the batch (training mode).
    public var logits: Tensor
    public var labels: [Int32]
    public var inputs: Tensor
    /// The batch's positions in the training set, for per-sample targets computed once (a teacher's outputs).
    public var indices: ArraySlice<Int>
    /// The values of the nodes named in `Trainer.keeping` (feature hooks).
    public var values: [String: Tensor]
}

/// What the batch-end hooks see.
public struct BatchEvent {
    public var epoch: Int, batch: Int, batchesPerEpoch: Int
    public var loss: Double
    public var learningRate: Float
    public var samplesSeen: Int
}

/// What the epoch-end hooks see.
public struct EpochEvent {
    public var epoch: Int
    public var train: Metrics
    public var test: Metrics?
    public var seconds: Double
}

/// The result of `fit`.
public struct TrainingHistory {
    public var epochs: [EpochEvent] = []
    /// Wall time spent in training steps (evaluation excluded).
    public var trainSeconds: Double = 0
    public var samplesSeen = 0
    public var samplesPerSecond: Double { trainSeconds > 0 ? Double(samplesSeen) / trainSeconds : 0 }
}

/// Trains a graph with mini-batch gradient descent.
///
/// Each epoch visits the training set in the order `BatchSchedule(seed:)` gives, so the same seed gives the same
/// run. The loss defaults to cross-entropy on the output; distillation and QAT replace `loss` or hook in.
public final class Trainer {
    public let graph: Graph
    public let configuration: TrainingConfiguration
    public let optimizer: any Optimizer
    /// Computes the loss and the gradient seeds (by node name) for a batch; an error it throws ends `fit`.
    public var loss: (TrainingBatch) throws -> (loss: Double, seeds: [String: Tensor])
    /// Nodes whose values the loss needs (`TrainingBatch.values`), e.g. features for distillation.
    public var keeping: Set<String> = []
    /// Parameters outside the graph that train with it (a distillation regressor): zeroed and stepped alike.
    public var extraParameters: [Parameter] = []
    /// Called before every forward pass (e.g. to fake-quantize weights for quantization-aware training).
    ///
    /// Every hook may throw: the first error ends `fit` at once (no later hook, step or epoch runs) and `fit` rethrows it.
    public var onBatchStart: [() throws -> Void] = []
    /// Called after the backward pass and before the optimizer step (e.g. to put master weights back).
    public var beforeStep: [() throws -> Void] = []
    /// Called after every optimizer step.
    public var onBatchEnd: [(BatchEvent) throws -> Void] = []
    /// Called after every epoch with its metrics.
    public var onEpochEnd: [(EpochEvent) throws -> Void] = []
    /// Set (by an epoch-end hook) to end `fit` after the current epoch — an early stop; the learning-rate schedule is
    /// still the one of the full run.
    public var stopRequested = false
    /// When set, `fit` writes a checkpoint after every epoch and, finding one of the same key, resumes after its
    /// last epoch: the graph, optimizer and history are restored and the run ends with the bytes an uninterrupted
    /// run gives. Hooks must keep no state of their own across epochs for that to hold.
    public var checkpoint: TrainingCheckpoint?

    public init(graph: Graph, configuration: TrainingConfiguration) {
        self.graph = graph
        self.configuration = configuration
        self.optimizer = configuration.makeOptimizer()
        let output = graph.outputName
        self.loss = { batch in
            let result = crossEntropy(logits: batch.logits, labels: batch.labels)
            return (result.loss, [output: result.gradient])
        }
    }

    /// Runs `configuration.epochs` epochs over `train`, evaluating on `test` after each when given.
    /// The train metrics of an epoch are the running means over its batches (computed in training mode).
    ///
    /// - Throws: `ShrinkError(.value)` for fewer than 0 epochs or a batch size below 1; `ShrinkError(.shape)` when a
    ///   dataset's samples are not the graph's input shape or its labels are not all below the graph's output size
    ///   (all checked before training starts); the first error of the loss, a hook or the backward pass, which
    ///   stops training where it happened (the graph keeps the updates made so far).
    public func fit(train: Dataset, test: Dataset? = nil) throws -> TrainingHistory {
        let c = configuration
        guard c.epochs >= 0, c.batchSize >= 1 else {
            throw ShrinkError(.value, "training needs at least 0 epochs and a batch size of at least 1; got \(c.epochs) "
                + "epochs and batch size \(c.batchSize)")
        }
        try checkFits(train, "training")
        if let test { try checkFits(test, "test") }
        let schedule = BatchSchedule(count: train.count, batchSize: c.batchSize, seed: c.seed)
        let batchesPerEpoch = schedule.batches(epoch: 0).count
        let totalSteps = batchesPerEpoch * c.epochs
        let warmup = Int(c.warmupEpochs * Double(batchesPerEpoch))
        var history = TrainingHistory()
        var step = 0
        var firstEpoch = 0
        if let checkpoint, let resumed = try checkpoint.restore(graph: graph, extra: extraParameters, optimizer: optimizer) {
            (firstEpoch, step, history) = (resumed.epochsDone, resumed.step, resumed.history)
            if resumed.stopRequested { return history }
        }
        for epoch in firstEpoch..<max(c.epochs, firstEpoch) {
            let epochStart = Date()
            var lossTotal = 0.0, correct1 = 0, correct5 = 0, seen = 0
            let loader = BatchLoader(train, batches: schedule.batches(epoch: epoch), epoch: epoch, seed: c.seed)
            var b = -1
            while let batch = try loader.next() {
                b += 1
                let (inputs, labels, indices) = (batch.inputs, batch.labels, batch.indices)
                optimizer.learningRate = c.schedule.rate(base: c.effectiveLearningRate, step: step, totalSteps: totalSteps,
                                                         stepsPerEpoch: batchesPerEpoch, warmupSteps: warmup)
                for hook in onBatchStart { try hook() }
                graph.zeroGradients()
                for p in extraParameters { p.zeroGradient() }
                var values = graph.forward(inputs, mode: .training, keeping: keeping)
                let logits = values.removeValue(forKey: graph.outputName) ?? graph.forward(inputs, mode: .training)
                if keeping.contains(graph.outputName) { values[graph.outputName] = logits }
                let (loss, seeds) = try self.loss(TrainingBatch(logits: logits, labels: labels, inputs: inputs,
                                                            indices: indices, values: values))
                try graph.backward(seeds: seeds)
                for hook in beforeStep { try hook() }
                optimizer.step(graph.trainableParameters + extraParameters)
                let correct = topKCorrect(logits: logits, labels: labels)
                lossTotal += loss * Double(labels.count)
                correct1 += correct.top1; correct5 += correct.topK; seen += labels.count
                step += 1
                history.samplesSeen += labels.count
                let event = BatchEvent(epoch: epoch, batch: b, batchesPerEpoch: batchesPerEpoch, loss: loss,
                                       learningRate: optimizer.learningRate, samplesSeen: history.samplesSeen)
                for hook in onBatchEnd { try hook(event) }
            }
            history.trainSeconds += Date().timeIntervalSince(epochStart)
            let n = Double(max(seen, 1))
            let trainMetrics = Metrics(loss: lossTotal / n, top1: Double(correct1) / n, top5: Double(correct5) / n,
                                       samples: seen)
            let event = EpochEvent(epoch: epoch, train: trainMetrics, test: try test.map { try evaluate(graph, on: $0) },
                                   seconds: Date().timeIntervalSince(epochStart))
            history.epochs.append(event)
            for hook in onEpochEnd { try hook(event) }
            try checkpoint?.save(graph: graph, extra: extraParameters, optimizer: optimizer, step: step,
                                 stopRequested: stopRequested, history: history)
            if stopRequested { break }
        }
        return history
    }

    /// Throws unless `dataset`'s samples have the graph's input shape and its labels index the graph's output, which
    /// the accuracy counts read.
    private func checkFits(_ dataset: Dataset, _ role: String) throws {
        guard dataset.sampleShape == graph.inputShape else {
            throw ShrinkError(.shape, "the \(role) samples have shape \(dataset.sampleShape); the graph takes \(graph.inputShape)")
        }
        let classes = graph.outputShape.reduce(1, *)
        if let label = dataset.labels.max(), Int(label) >= classes {
            throw ShrinkError(.shape, "the \(role) set has label \(label); the graph's output \(graph.outputShape) has "
                + "\(classes) classes")
        }
    }
}
