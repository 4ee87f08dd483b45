// Performance estimation: how good a candidate is, at a fraction of the cost of training it fully. Each estimator
// trains the candidate with the seed derived from the search seed and the candidate itself, so the same candidate
// gets the same estimate in any strategy, any order and after a resume, and reports the work it did.
import Datasets
import Foundation
import NeuralNetworks
import Tensors

/// What an estimator sees: the space, the training and validation parts of the data, and the best estimate so far
/// (for early stopping).
public struct EstimationContext {
    public var space: SearchSpace
    public var train: Dataset
    public var validation: Dataset
    public var bestSoFar: Double?
    /// Whether a candidate satisfies the search's constraints (weight sharing trains only feasible paths).
    public var feasible: (Candidate) -> Bool

    public init(space: SearchSpace, train: Dataset, validation: Dataset, bestSoFar: Double? = nil,
                feasible: @escaping (Candidate) -> Bool = { _ in true }) {
        self.space = space
        self.train = train
        self.validation = validation
        self.bestSoFar = bestSoFar
        self.feasible = feasible
    }
}

/// An estimate and what it cost.
public struct Estimate {
    public var accuracy: Double
    public var epochs: Double
    public var trainSamples: Int
    public var curve: [Double]?
    public var stopped: Bool?
    /// The trained graph (for weight inheritance and saving); nil when nothing was trained.
    public var graph: Graph?
}

/// Estimates a candidate's accuracy.
public protocol PerformanceEstimator {
    /// The name the CLI and the journal use.
    var name: String { get }
    func estimate(_ candidate: Candidate, context: EstimationContext, seed: UInt64) throws -> Estimate
}

/// The estimators the CLI names.
public enum EstimatorKind: String, CaseIterable, Sendable, NamedChoice {
    public static let choiceName = "estimator"
    case full, lowFidelity = "low-fidelity", weightSharing = "weight-sharing", curve
}

/// The training settings estimators use: SGD with Nesterov momentum, cosine decay (the defaults that train the
/// built-in architectures).
func trainingSettings(epochs: Int, seed: UInt64, batchSize: Int) -> TrainingConfiguration {
    var c = TrainingConfiguration()
    c.epochs = epochs
    c.seed = seed
    c.batchSize = batchSize
    return c
}

/// Full training: `epochs` epochs on the whole training part, then the validation accuracy (the expensive
/// reference).
public struct FullTraining: PerformanceEstimator {
    public var epochs: Int
    public var batchSize: Int
    public init(epochs: Int = 3, batchSize: Int = 128) {
        self.epochs = max(1, epochs)
        self.batchSize = batchSize
    }
    public var name: String { "full" }

    public func estimate(_ candidate: Candidate, context: EstimationContext, seed: UInt64) throws -> Estimate {
        let graph = try context.space.graph(for: candidate, inputShape: context.train.sampleShape,
                                            classes: context.train.classCount, seed: seed)
        let trainer = Trainer(graph: graph, configuration: trainingSettings(epochs: epochs, seed: seed, batchSize: batchSize))
        let history = try trainer.fit(train: context.train)
        return Estimate(accuracy: try evaluate(graph, on: context.validation).top1, epochs: Double(epochs),
                        trainSamples: history.samplesSeen, graph: graph)
    }
}

/// Lower fidelity: fewer epochs, a seeded `subset` share of the training part, and the widths scaled by
/// `widthFactor` (on top of the candidate's own multiplier).
public struct LowFidelity: PerformanceEstimator {
    public var epochs: Int
    public var subset: Double
    public var widthFactor: Double
    public var batchSize: Int
    public init(epochs: Int = 1, subset: Double = 0.2, widthFactor: Double = 1, batchSize: Int = 128) {
        self.epochs = max(1, epochs)
        self.subset = min(max(subset, 0.001), 1)
        self.widthFactor = widthFactor
        self.batchSize = batchSize
    }
    public var name: String { "low-fidelity" }

    public func estimate(_ candidate: Candidate, context: EstimationContext, seed: UInt64) throws -> Estimate {
        var space = context.space
        space.widthMultipliers = space.widthMultipliers.map { $0 * widthFactor }
        let graph = try space.graph(for: candidate, inputShape: context.train.sampleShape,
                                    classes: context.train.classCount, seed: seed)
        let train = try subsetOf(context.train, share: subset)
        let trainer = Trainer(graph: graph, configuration: trainingSettings(epochs: epochs, seed: seed, batchSize: batchSize))
        let history = try trainer.fit(train: train)
        return Estimate(accuracy: try evaluate(graph, on: context.validation).top1, epochs: Double(epochs) * subset,
                        trainSamples: history.samplesSeen, graph: graph)
    }
}

/// The first ⌈share · count⌉ samples of a fixed permutation (seed 0: every candidate sees the same subset).
func subsetOf(_ data: Dataset, share: Double) throws -> Dataset {
    guard share < 1 else { return data }
    var g = SeededGenerator(seed: 0, stream: "nas-subset")
    let count = max(1, Int((share * Double(data.count)).rounded(.up)))
    let (inputs, labels) = try data.batch(g.permutation(data.count).prefix(count))
    return try Dataset(inputs: inputs, labels: labels, classCount: data.classCount)
}

/// Learning-curve extrapolation [1]: trains up to `epochs`, measuring validation accuracy after each; from epoch
/// `minimumEpochs` on it fits `acc(t) = a − b / t` to the curve so far (least squares) and stops a run whose
/// predicted final accuracy is more than `margin` below the best estimate so far. A stopped run's estimate is the
/// prediction.
/// [1] Domhan, Springenberg & Hutter, "Speeding up Automatic Hyperparameter Optimization of Deep Neural Networks by
///     Extrapolation of Learning Curves", IJCAI 2015 (a one-term form of their parametric curves).
public struct CurveExtrapolation: PerformanceEstimator {
    public var epochs: Int
    public var minimumEpochs: Int
    public var margin: Double
    public var subset: Double
    public var batchSize: Int
    public init(epochs: Int = 3, minimumEpochs: Int = 1, margin: Double = 0.005, subset: Double = 0.2,
                batchSize: Int = 128) {
        self.epochs = max(2, epochs)
        self.minimumEpochs = max(1, min(minimumEpochs, self.epochs - 1))
        self.margin = margin
        self.subset = min(max(subset, 0.001), 1)
        self.batchSize = batchSize
    }
    public var name: String { "curve" }

    /// The fitted final accuracy at `epochs` from the accuracies after epochs 1…n (one point: that point).
    public static func predict(_ curve: [Double], at epochs: Int) -> Double {
        guard curve.count >= 2 else { return curve.last ?? 0 }
        // acc = a − b·u with u = 1/t: ordinary least squares in u.
        let u = (1...curve.count).map { 1 / Double($0) }
        let mu = u.reduce(0, +) / Double(u.count), my = curve.reduce(0, +) / Double(curve.count)
        let suu = zip(u, u).reduce(0) { $0 + ($1.0 - mu) * ($1.1 - mu) }
        let suy = zip(u, curve).reduce(0) { $0 + ($1.0 - mu) * ($1.1 - my) }
        let slope = suu > 0 ? suy / suu : 0
        let a = my - slope * mu
        return min(1, max(0, a + slope / Double(epochs)))
    }

    public func estimate(_ candidate: Candidate, context: EstimationContext, seed: UInt64) throws -> Estimate {
        let graph = try context.space.graph(for: candidate, inputShape: context.train.sampleShape,
                                            classes: context.train.classCount, seed: seed)
        let train = try subsetOf(context.train, share: subset)
        let trainer = Trainer(graph: graph, configuration: trainingSettings(epochs: epochs, seed: seed, batchSize: batchSize))
        var curve: [Double] = []
        var stopped = false
        trainer.onEpochEnd.append { [unowned trainer] event in
            curve.append(event.test?.top1 ?? 0)
            guard curve.count >= minimumEpochs, curve.count < epochs, let best = context.bestSoFar else { return }
            if CurveExtrapolation.predict(curve, at: epochs) < best - margin {
                stopped = true
                trainer.stopRequested = true
            }
        }
        let history = try trainer.fit(train: train, test: context.validation)
        let accuracy = stopped ? CurveExtrapolation.predict(curve, at: epochs) : (curve.last ?? 0)
        return Estimate(accuracy: accuracy, epochs: Double(curve.count) * subset, trainSamples: history.samplesSeen,
                        curve: curve, stopped: stopped, graph: graph)
    }
}
