// Gradient-based one-shot search (DARTS, Liu, Simonyan & Yang, ICLR 2019): every block of the space becomes a mixed
// operation — the softmax-weighted sum of all its candidate operations — and the architecture weights α are learned
// by gradient descent on the validation loss while the network weights learn on the training loss (the first-order
// approximation, alternating one step each). The supernet is built at each block's narrowest width and the smallest
// width multiplier, as a cheap proxy (DARTS searches a small network too). Discretisation takes each block's most
// weighted operation; widths, residuals and multipliers, which DARTS does not search here, are completed by the
// largest feasible network among sampled completions (most MACs under the constraints).
import Datasets
import Foundation
import NeuralNetworks
import Tensors

/// `y = Σ_i softmax(α)_i · op_i(x)` over operation sub-graphs of equal output shape. `parameters` lists the
/// operations' weights (trained on the training loss); `alpha` is kept apart (trained on the validation loss).
public final class MixedOperation: Layer {
    public let operations: [Graph]
    public let names: [String]
    public let alpha: Parameter
    private var savedOutputs: [Tensor] = []

    public init(operations: [Graph], names: [String]) {
        self.operations = operations
        self.names = names
        self.alpha = Parameter(Tensor(zeros: [operations.count]))
    }

    public var kind: String { "mixed_operation" }
    public var spec: LayerSpec { LayerSpec(kind: kind) }

    public var parameters: [(name: String, parameter: Parameter)] {
        zip(names, operations).flatMap { name, graph in graph.parameters.map { ("\(name).\($0.name)", $0.parameter) } }
    }

    /// softmax(α).
    public var weights: [Float] {
        let a = alpha.value.scalars, m = a.max() ?? 0
        let e = a.map { Foundation.exp($0 - m) }, total = e.reduce(0, +)
        return e.map { $0 / total }
    }

    public func outputShape(for inputShapes: [[Int]]) throws -> [Int] {
        try expectShapes(inputShapes)
        return operations[0].outputShape
    }

    private func expectShapes(_ inputShapes: [[Int]]) throws {
        guard inputShapes.count == 1, operations.allSatisfy({ $0.inputShape == inputShapes[0] }) else {
            throw ShrinkError(.shape, "mixed_operation expects one input of shape \(operations[0].inputShape), got \(inputShapes)")
        }
    }

    public func macs(for inputShapes: [[Int]]) -> Int {
        operations.reduce(0) { $0 + $1.cost().macs }
    }

    public func forward(_ inputs: [Tensor], mode: Mode) -> Tensor {
        let w = weights
        var outputs: [Tensor] = []
        var y: Tensor?
        for (op, weight) in zip(operations, w) {
            let out = op.forward(inputs[0], mode: mode)
            if mode == .training { outputs.append(out) }
            if y == nil { y = out; y!.scale(by: weight) } else { y!.add(out, scaledBy: weight) }
        }
        savedOutputs = outputs
        return y!
    }

    public func backward(_ outputGradient: Tensor, needsInputGradient: [Bool]) -> [Tensor?] {
        let w = weights
        // ∂L/∂w_i = ⟨dy, op_i(x)⟩; ∂w_i/∂α_j = w_i (δ_ij − w_j).
        let dw = savedOutputs.map { Float($0.dot(outputGradient)) }
        let mean = zip(dw, w).reduce(Float(0)) { $0 + $1.0 * $1.1 }
        for j in 0..<w.count { alpha.gradient.scalars[j] += w[j] * (dw[j] - mean) }
        var dx: Tensor?
        for (op, weight) in zip(operations, w) {
            var g = outputGradient
            g.scale(by: weight)
            // The seed is the operation's own output, with the gradient of this layer's output (the same shape), so
            // the checks of `Graph.backward` cannot fail here.
            if let input = try! op.backward(seeds: [op.outputName: g], inputGradient: true) {
                if dx == nil { dx = input } else { dx!.add(input) }
            }
        }
        return [needsInputGradient[0] ? dx : nil]
    }
}

/// DARTS as a strategy: the first proposal is the discretised architecture after the search; later ones sample
/// each block's operation from softmax(α) (most likely first), completed the same way. The search runs once, on
/// first use, on the data given at construction (deterministic for a seed).
public final class DifferentiableSearch: SearchStrategy, @unchecked Sendable {
    public let train: Dataset
    public let validation: Dataset
    public let epochs: Int
    public let subset: Double
    public let batchSize: Int
    public let seed: UInt64
    /// softmax(α) per block after the search (nil before it ran).
    public private(set) var operationWeights: [[Float]]?
    /// Samples the weights and α saw.
    public private(set) var searchSamples = 0

    public init(train: Dataset, validation: Dataset, epochs: Int = 2, subset: Double = 0.2, batchSize: Int = 64,
                seed: UInt64 = 0) {
        self.train = train
        self.validation = validation
        self.epochs = max(1, epochs)
        self.subset = min(max(subset, 0.001), 1)
        self.batchSize = max(1, batchSize)
        self.seed = seed
    }

    public var name: String { "darts" }

    /// Builds the supernet: the stem, one mixed operation per block (each block's narrowest width, the smallest
    /// width multiplier, all blocks, no residuals), global pooling and the classifier.
    func supernet(_ space: SearchSpace) throws -> (graph: Graph, mixed: [MixedOperation]) {
        guard space.kind == .cnn else {
            throw ShrinkError(.unsupported, "darts searches convolutional spaces; '\(space.name)' is an mlp space")
        }
        let inputShape = train.sampleShape
        guard inputShape.count == 3 else {
            throw ShrinkError(.shape, "darts needs image samples (C, H, W), the data has \(inputShape)")
        }
        var g = SeededGenerator(seed: seed, stream: "darts-supernet")
        // The candidate whose widths the supernet uses: smallest width everywhere, smallest multiplier, all blocks.
        var base = Candidate(space.decisions.map { _ in 0 })
        base.choices[3 * space.blocks.count] = space.depthMultipliers.indices.max { space.depthMultipliers[$0] < space.depthMultipliers[$1] }!
        base.choices[3 * space.blocks.count + 1] = space.widthMultipliers.indices.min { space.widthMultipliers[$0] < space.widthMultipliers[$1] }!
        for i in space.blocks.indices {
            base.choices[3 * i + 1] = space.blocks[i].widths.indices.min { space.blocks[i].widths[$0] < space.blocks[i].widths[$1] }!
        }
        var b = GraphBuilder(inputShape: inputShape)
        try space.convBNReLU(&b, "stem", from: inputShape[0], to: space.scaled(space.stemWidth, base), kernel: 3, stride: 1, &g)
        var mixed: [MixedOperation] = []
        for (i, block) in space.blocks.enumerated() {
            let width = space.scaled(block.widths[base.choices[3 * i + 1]], base)
            var operations: [Graph] = []
            for op in block.operations {
                var sub = GraphBuilder(inputShape: b.currentShape)
                try space.addBlock(&sub, index: i + 1, op, width: width, stride: block.stride, residual: false, &g)
                if sub.nodes.isEmpty { try sub.add("identity", Dropout(probability: 0, seed: 0)) }
                operations.append(try sub.build())
            }
            let layer = MixedOperation(operations: operations, names: block.operations.map(\.rawValue))
            mixed.append(layer)
            try b.add("block\(i + 1)", layer)
        }
        try b.add("pool", GlobalAvgPool())
        try b.add("classifier", Linear(inputFeatures: b.currentShape[0], outputFeatures: train.classCount, generator: &g))
        return (try b.build(), mixed)
    }

    /// Runs the bilevel search (first order): per training batch, one Adam step of α on a validation batch, then one
    /// SGD step of the weights on the training batch.
    public func search(_ space: SearchSpace) throws -> [[Float]] {
        if let operationWeights { return operationWeights }
        let (graph, mixed) = try supernet(space)
        let data = try subsetOf(train, share: subset)
        var training = TrainingConfiguration()
        training.epochs = epochs
        training.batchSize = batchSize
        training.seed = seed
        let weightOptimizer = training.makeOptimizer()
        let alphaOptimizer = Adam(learningRate: 3e-3, weightDecay: 1e-3)
        let trainBatches = BatchSchedule(count: data.count, batchSize: batchSize, seed: seed)
        let validationBatches = BatchSchedule(count: validation.count, batchSize: batchSize, seed: seed &+ 1)
        let perEpoch = trainBatches.batches(epoch: 0).count, total = perEpoch * epochs
        var step = 0
        let alphas = mixed.map(\.alpha)
        for epoch in 0..<epochs {
            let validationOrder = validationBatches.batches(epoch: epoch)
            for (b, indices) in trainBatches.batches(epoch: epoch).enumerated() {
                // α on the validation loss.
                let (vx, vy) = try validation.batch(validationOrder[b % validationOrder.count])
                graph.zeroGradients()
                for a in alphas { a.zeroGradient() }
                let vLoss = crossEntropy(logits: graph.forward(vx, mode: .training), labels: vy)
                try graph.backward(seeds: [graph.outputName: vLoss.gradient])
                alphaOptimizer.step(alphas)
                // Weights on the training loss.
                let (x, y) = try data.batch(indices)
                graph.zeroGradients()
                for a in alphas { a.zeroGradient() }
                let loss = crossEntropy(logits: graph.forward(x, mode: .training), labels: y)
                try graph.backward(seeds: [graph.outputName: loss.gradient])
                weightOptimizer.learningRate = training.schedule.rate(base: training.effectiveLearningRate, step: step,
                                                                     totalSteps: total, stepsPerEpoch: perEpoch,
                                                                     warmupSteps: 0)
                weightOptimizer.step(graph.trainableParameters)
                searchSamples += indices.count + vy.count
                step += 1
            }
        }
        let result = mixed.map(\.weights)
        operationWeights = result
        return result
    }

    public func propose(index: Int, history: [Trial], space: SearchSpace, seed: UInt64,
                        feasible: (Candidate) -> Bool) throws -> Candidate {
        let weights = try search(space)
        var g = SeededGenerator(seed: seed, stream: "darts-\(index)")
        let seen = Set(history.map(\.candidate))
        var fallback: Candidate?
        for attempt in 0..<200 {
            // The most likely operations first; afterwards sampled from softmax(α).
            let operations = weights.map { w -> Int in
                index == 0 && attempt == 0 ? w.indices.max { w[$0] < w[$1] }! : sample(w.map(Double.init), &g)
            }
            guard let candidate = try complete(operations, space: space, &g, feasible: feasible) else { continue }
            if !seen.contains(candidate) { return candidate }
            fallback = fallback ?? candidate
        }
        return try fallback ?? randomFeasible(space, &g, feasible: feasible, avoiding: seen)
    }

    /// The feasible completion of `operations` with the most MACs among 300 sampled ones (nil when none fits).
    func complete(_ operations: [Int], space: SearchSpace, _ g: inout SeededGenerator,
                  feasible: (Candidate) -> Bool) throws -> Candidate? {
        var best: (Candidate, Int)?
        for _ in 0..<300 {
            var c = space.randomCandidate(&g)
            for (i, op) in operations.enumerated() { c.choices[3 * i] = op }
            guard feasible(c) else { continue }
            let macs = try space.graph(for: c, inputShape: train.sampleShape, classes: train.classCount, seed: 0).cost().macs
            if best == nil || macs > best!.1 { best = (c, macs) }
        }
        return best?.0
    }
}
