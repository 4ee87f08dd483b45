// Trainer: learns a small separable problem, is deterministic for a seed, and calls its hooks.
import Datasets
import NeuralNetworks
import Tensors
import Testing

/// Three Gaussian blobs in 8 dimensions, 300 samples: separable, so a few epochs reach high accuracy.
private func blobs(seed: UInt64) throws -> Dataset {
    var g = SeededGenerator(seed: seed)
    var x: [Float] = [], y: [Int32] = []
    for i in 0..<300 {
        let label = i % 3
        for d in 0..<8 { x.append(g.nextNormal() * 0.5 + (d % 3 == label ? 2 : 0)) }
        y.append(Int32(label))
    }
    return try Dataset(inputs: Tensor(shape: [300, 8], scalars: x), labels: y, classCount: 3)
}

@Suite struct TrainerTests {
    @Test func learnsASeparableProblemAndCallsHooks() throws {
        let data = try blobs(seed: 1), test = try blobs(seed: 2)
        let graph = try Architecture.mlp.makeGraph(inputShape: [8], classes: 3, seed: 1)
        var c = TrainingConfiguration()
        c.epochs = 3
        c.batchSize = 32
        let trainer = Trainer(graph: graph, configuration: c)
        var batches = 0, epochs = 0
        trainer.onBatchEnd.append { _ in batches += 1 }
        trainer.onEpochEnd.append { _ in epochs += 1 }
        let history = trainer.fit(train: data, test: test)
        #expect(batches == 30 && epochs == 3)
        #expect(history.samplesSeen == 900)
        #expect(history.epochs.last!.test!.top1 > 0.95)
        #expect(history.epochs.last!.train.loss < history.epochs.first!.train.loss)
    }

    @Test(arguments: OptimizerKind.allCases)
    func sameSeedGivesIdenticalWeights(optimizer: OptimizerKind) throws {
        func run(seed: UInt64) throws -> [Tensor] {
            let graph = try Architecture.lenet5.makeGraph(inputShape: [1, 12, 12], classes: 3, seed: seed)
            var c = TrainingConfiguration()
            c.epochs = 2; c.batchSize = 16; c.optimizer = optimizer; c.seed = seed
            var g = SeededGenerator(seed: 4)
            let x = Tensor(shape: [48, 1, 12, 12], scalars: (0..<(48 * 144)).map { _ in g.nextUniform() })
            let data = try Dataset(inputs: x, labels: (0..<48).map { Int32($0 % 3) }, classCount: 3)
            _ = Trainer(graph: graph, configuration: c).fit(train: data)
            return graph.parameters.map(\.parameter.value)
        }
        #expect(try run(seed: 5) == run(seed: 5))
        #expect(try run(seed: 5) != run(seed: 6))
    }
}
