// Weight sharing (ENAS, Pham et al. 2018): one supernet whose sub-paths are the candidates. Every block's operation
// owns one set of weights, shared by all candidates that choose it there; a candidate that is narrower uses the
// leading channels (the first `width` output and input channels of each tensor). The supernet is trained once by
// sampling a feasible candidate per batch and updating only the weights on its path; each candidate is then
// estimated with the weights it inherits, after its BatchNorm statistics are recomputed on one batch of training
// data (the statistics of a shared layer depend on the path around it).
import Datasets
import Foundation
import NeuralNetworks
import Tensors

/// The supernet's weights: one tensor per (block, operation, layer, parameter), grown to the largest shape any
/// candidate asked for, with SGD momentum buffers beside them.
final class SharedWeights {
    private(set) var values: [String: Tensor] = [:]
    private var velocity: [String: Tensor] = [:]

    /// The shared name of a candidate graph's parameter `node.parameter`: block nodes are keyed by the block's
    /// chosen operation too, since `conv3x3` and `conv5x5` build nodes of the same name.
    ///
    /// BatchNorm parameters are not sliced but kept per width (switchable BatchNorm, Yu et al. 2019): a channel's
    /// scale and shift mean different things at different widths.
    static func key(_ name: String, candidate: Candidate, space: SearchSpace, shape: [Int]) -> String {
        let perShape = name.contains("_bn.")
        let suffix = perShape ? "@" + shape.map(String.init).joined(separator: "x") : ""
        guard name.hasPrefix("block"), let underscore = name.firstIndex(of: "_"),
              let block = Int(name[name.index(name.startIndex, offsetBy: 5)..<underscore]),
              block >= 1, block <= space.blocks.count else { return name + suffix }
        let op = space.blocks[block - 1].operations[candidate.choices[3 * (block - 1)]].rawValue
        return "block\(block)/\(op)/" + name[name.index(after: underscore)...] + suffix
    }

    /// Puts the shared values into the candidate graph's parameters, growing the store (from the graph's own
    /// initial values) where it is smaller.
    func load(_ graph: Graph, candidate: Candidate, space: SearchSpace) {
        for (name, parameter) in graph.parameters {
            let shape = parameter.value.shape
            let key = SharedWeights.key(name, candidate: candidate, space: space, shape: shape)
            if let stored = values[key], zip(stored.shape, shape).allSatisfy({ $0 >= $1 }) {
                parameter.value = corner(of: stored, shape: shape)
                continue
            }
            let grown = values[key].map { zip($0.shape, shape).map(max) } ?? shape
            var fresh = Tensor(zeros: grown)
            paste(parameter.value, into: &fresh)
            if let stored = values[key] { paste(stored, into: &fresh) }
            values[key] = fresh
            var momentum = Tensor(zeros: grown)
            if let v = velocity[key] { paste(v, into: &momentum) }
            velocity[key] = momentum
            parameter.value = corner(of: fresh, shape: shape)
        }
    }

    /// One SGD step with momentum (`v ← μ v + g + λ w`, `w ← w − η v`) on the candidate's slices of the shared
    /// weights; buffers (BatchNorm's running statistics) are copied back as they are.
    func update(_ graph: Graph, candidate: Candidate, space: SearchSpace, learningRate: Float, momentum: Float,
                weightDecay: Float) {
        for (name, parameter) in graph.parameters {
            let key = SharedWeights.key(name, candidate: candidate, space: space, shape: parameter.value.shape)
            guard var stored = values[key] else { continue }
            if parameter.isTrainable {
                var w = parameter.value, v = corner(of: velocity[key]!, shape: w.shape)
                let decay = name.hasSuffix(".weight") ? weightDecay : 0
                for i in 0..<w.count {
                    v.scalars[i] = momentum * v.scalars[i] + parameter.gradient.scalars[i] + decay * w.scalars[i]
                    w.scalars[i] -= learningRate * v.scalars[i]
                }
                paste(w, into: &stored)
                var buffer = velocity[key]!
                paste(v, into: &buffer)
                velocity[key] = buffer
            } else {
                paste(parameter.value, into: &stored)
            }
            values[key] = stored
        }
    }
}

/// Strides of a row-major shape.
private func strides(_ shape: [Int]) -> [Int] {
    var s = [Int](repeating: 1, count: shape.count)
    for i in stride(from: shape.count - 2, through: 0, by: -1) { s[i] = s[i + 1] * shape[i + 1] }
    return s
}

/// Calls `body(flat index in a, flat index in b)` for every element of `shape`, the leading corner of both.
private func forEachCorner(_ shape: [Int], _ a: [Int], _ b: [Int], _ body: (Int, Int) -> Void) {
    let sa = strides(a), sb = strides(b), count = shape.reduce(1, *)
    guard count > 0 else { return }
    var index = [Int](repeating: 0, count: shape.count)
    for _ in 0..<count {
        var ia = 0, ib = 0
        for d in 0..<shape.count { ia += index[d] * sa[d]; ib += index[d] * sb[d] }
        body(ia, ib)
        var d = shape.count - 1
        while d >= 0 {
            index[d] += 1
            if index[d] < shape[d] { break }
            index[d] = 0
            d -= 1
        }
    }
}

/// The leading `shape` corner of `tensor`.
func corner(of tensor: Tensor, shape: [Int]) -> Tensor {
    if tensor.shape == shape { return tensor }
    var out = Tensor(zeros: shape)
    forEachCorner(shape, tensor.shape, shape) { source, target in out.scalars[target] = tensor.scalars[source] }
    return out
}

/// Writes `part` into the leading corner of `whole`.
func paste(_ part: Tensor, into whole: inout Tensor) {
    if part.shape == whole.shape { whole = part; return }
    forEachCorner(part.shape, part.shape, whole.shape) { source, target in whole.scalars[target] = part.scalars[source] }
}

/// Weight sharing: trains the supernet once (`epochs` over a seeded `subset` of the training part, one sampled
/// feasible candidate per batch of `batchSize`, SGD with momentum 0.9, cosine decay from `learningRate`), then
/// estimates each candidate with its inherited weights, after `finetuneSteps` SGD steps of it alone (lr
/// `learningRate`/5, not written back) and recomputed BatchNorm statistics. The supernet is trained
/// on first use (again after a resume, with the same result); its cost is in that trial's CPU time, and the journal
/// records no training per trial.
public final class WeightSharing: PerformanceEstimator {
    public let epochs: Int
    public let subset: Double
    public let batchSize: Int
    public let learningRate: Float
    public let seed: UInt64
    private var shared: SharedWeights?
    /// Samples the supernet trained on (0 until it is trained).
    public private(set) var supernetSamples = 0

    /// SGD steps each candidate takes alone, from its inherited weights, before it is measured (not written back).
    public let finetuneSteps: Int

    public init(epochs: Int = 3, subset: Double = 1, batchSize: Int = 128, learningRate: Float = 0.05,
                finetuneSteps: Int = 10, seed: UInt64 = 0) {
        self.finetuneSteps = max(0, finetuneSteps)
        self.epochs = max(1, epochs)
        self.subset = min(max(subset, 0.001), 1)
        self.batchSize = max(1, batchSize)
        self.learningRate = learningRate
        self.seed = seed
    }

    public var name: String { "weight-sharing" }

    /// Trains the supernet on `context`'s training part if it is not trained yet.
    public func trainSupernet(_ context: EstimationContext) throws {
        guard shared == nil else { return }
        let store = SharedWeights()
        let train = try subsetOf(context.train, share: subset)
        let schedule = BatchSchedule(count: train.count, batchSize: batchSize, seed: seed)
        let perEpoch = schedule.batches(epoch: 0).count, total = perEpoch * epochs
        var g = SeededGenerator(seed: seed, stream: "supernet-paths")
        var step = 0
        for epoch in 0..<epochs {
            for indices in schedule.batches(epoch: epoch) {
                let candidate = try randomFeasible(context.space, &g, feasible: context.feasible)
                let graph = try context.space.graph(for: candidate, inputShape: train.sampleShape,
                                                    classes: train.classCount, seed: seed &+ UInt64(step))
                store.load(graph, candidate: candidate, space: context.space)
                let (x, y) = try train.batch(indices)
                graph.zeroGradients()
                let logits = graph.forward(x, mode: .training)
                let loss = crossEntropy(logits: logits, labels: y)
                try graph.backward(seeds: [graph.outputName: loss.gradient])
                let rate = learningRate * 0.5 * (1 + Float(Foundation.cos(Double.pi * Double(step) / Double(max(total, 1)))))
                store.update(graph, candidate: candidate, space: context.space, learningRate: rate, momentum: 0.9,
                             weightDecay: 5e-4)
                supernetSamples += indices.count
                step += 1
            }
        }
        shared = store
    }

    public func estimate(_ candidate: Candidate, context: EstimationContext, seed candidateSeed: UInt64) throws -> Estimate {
        try trainSupernet(context)
        let graph = try context.space.graph(for: candidate, inputShape: context.train.sampleShape,
                                            classes: context.train.classCount, seed: candidateSeed)
        shared!.load(graph, candidate: candidate, space: context.space)
        var finetuned = 0
        if finetuneSteps > 0 {
            var c = TrainingConfiguration()
            c.epochs = 1
            c.batchSize = batchSize
            c.learningRate = learningRate / 5
            c.warmupEpochs = 0
            c.seed = candidateSeed
            let samples = min(context.train.count, finetuneSteps * batchSize)
            var g = SeededGenerator(seed: candidateSeed, stream: "supernet-finetune")
            let (x, y) = try context.train.batch(g.permutation(context.train.count).prefix(samples))
            finetuned = try Trainer(graph: graph, configuration: c)
                .fit(train: try Dataset(inputs: x, labels: y, classCount: context.train.classCount)).samplesSeen
        }
        // BatchNorm statistics of this path: one training-mode forward of up to 2,048 samples with momentum 1.
        let norms = graph.nodes.compactMap { $0.layer as? BatchNorm }
        let saved = norms.map(\.momentum)
        for norm in norms { norm.momentum = 1 }
        var g = SeededGenerator(seed: seed, stream: "supernet-calibration")
        let count = min(2048, context.train.count)
        let (x, _) = try context.train.batch(g.permutation(context.train.count).prefix(count))
        _ = graph.forward(x, mode: .training)
        for (norm, m) in zip(norms, saved) { norm.momentum = m }
        return Estimate(accuracy: try evaluate(graph, on: context.validation).top1,
                        epochs: Double(finetuned) / Double(context.train.count), trainSamples: finetuned, graph: graph)
    }
}
