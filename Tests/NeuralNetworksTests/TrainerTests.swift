// Trainer: learns a small separable problem, is deterministic for a seed, calls its hooks, stops at the first error
// of a hook or the loss, and rejects data that does not fit the graph before training.
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
        let history = try trainer.fit(train: data, test: test)
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
            _ = try Trainer(graph: graph, configuration: c).fit(train: data)
            return graph.parameters.map(\.parameter.value)
        }
        #expect(try run(seed: 5) == run(seed: 5))
        #expect(try run(seed: 5) != run(seed: 6))
    }

    struct HookFailure: Error, Equatable {}

    @Test func theFirstErrorOfAHookOrTheLossEndsFitAtOnce() throws {
        let data = try blobs(seed: 1)
        var c = TrainingConfiguration()
        c.epochs = 3
        c.batchSize = 32
        // A batch-end hook failing at the 4th batch: no later hook, batch or epoch runs.
        let trainer = Trainer(graph: try Architecture.mlp.makeGraph(inputShape: [8], classes: 3, seed: 1), configuration: c)
        var batches = 0, laterHooks = 0, epochs = 0
        trainer.onBatchEnd.append { event in
            batches += 1
            if event.batch == 3 { throw HookFailure() }
        }
        trainer.onBatchEnd.append { _ in laterHooks += 1 }
        trainer.onEpochEnd.append { _ in epochs += 1 }
        #expect(throws: HookFailure()) { try trainer.fit(train: data) }
        #expect(batches == 4 && laterHooks == 3 && epochs == 0)
        // The loss failing at the first batch: the graph's weights are untouched.
        let graph = try Architecture.mlp.makeGraph(inputShape: [8], classes: 3, seed: 1)
        let before = graph.parameters.map(\.parameter.value)
        let failing = Trainer(graph: graph, configuration: c)
        failing.loss = { _ in throw HookFailure() }
        #expect(throws: HookFailure()) { try failing.fit(train: data) }
        #expect(graph.parameters.map(\.parameter.value) == before)
    }

    @Test func dataThatDoesNotFitTheGraphIsRejectedBeforeTraining() throws {
        let data = try blobs(seed: 1)
        var c = TrainingConfiguration()
        c.epochs = 1
        let narrow = try Architecture.mlp.makeGraph(inputShape: [7], classes: 3, seed: 1)
        #expect(throws: ShrinkError(.shape, "the training samples have shape [8]; the graph takes [7]")) {
            try Trainer(graph: narrow, configuration: c).fit(train: data)
        }
        let twoClasses = try Architecture.mlp.makeGraph(inputShape: [8], classes: 2, seed: 1)
        #expect(throws: ShrinkError(.shape, "the test set has label 2; the graph's output [2] has 2 classes")) {
            try Trainer(graph: twoClasses, configuration: c).fit(train: data.prefix(0), test: data)
        }
        c.batchSize = 0
        let graph = try Architecture.mlp.makeGraph(inputShape: [8], classes: 3, seed: 1)
        #expect(throws: ShrinkError.self) { try Trainer(graph: graph, configuration: c).fit(train: data) }
    }
}
