// Trainer: learns a small separable problem, is deterministic for a seed, calls its hooks, stops at the first error
// of a hook or the loss, and rejects data that does not fit the graph before training.
import Datasets
import Foundation
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

/// A run stopped after some epochs and resumed from its checkpoint by a new trainer ends with the weights, running
/// statistics and history of an uninterrupted run — with SGD and Adam, dropout (its generator is saved) and BatchNorm
/// (running statistics are parameters); a checkpoint of another key is not resumed.
@Suite struct TrainingCheckpointTests {
    private func graph() throws -> Graph {
        var g = SeededGenerator(seed: 4)
        var b = GraphBuilder(inputShape: [8])
        _ = try b.add("fc1", Linear(inputFeatures: 8, outputFeatures: 16, generator: &g))
        _ = try b.add("bn1", BatchNorm(features: 16))
        _ = try b.add("relu1", ReLU())
        _ = try b.add("drop", Dropout(probability: 0.3, seed: 9))
        _ = try b.add("fc2", Linear(inputFeatures: 16, outputFeatures: 3, generator: &g))
        return try b.build()
    }

    private func state(_ graph: Graph) -> [[Float]] { graph.parameters.map { $0.parameter.value.scalars } }

    @Test(arguments: [OptimizerKind.sgd, .adam])
    func aResumedRunEndsAsAnUninterruptedOne(optimizer: OptimizerKind) throws {
        let data = try blobs(seed: 1)
        var c = TrainingConfiguration()
        c.epochs = 4
        c.batchSize = 32
        c.optimizer = optimizer
        let straight = try graph()
        let straightHistory = try Trainer(graph: straight, configuration: c).fit(train: data)

        let path = NSTemporaryDirectory() + "shrink-checkpoint-\(getpid())-\(optimizer).checkpoint"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try? FileManager.default.removeItem(atPath: path)
        let checkpoint = TrainingCheckpoint(path: path, key: "run-a")
        // The first process: two epochs, then "killed" (the trainer is dropped).
        var first = c
        first.epochs = 4
        let interrupted = try graph(), firstTrainer = Trainer(graph: interrupted, configuration: first)
        firstTrainer.checkpoint = checkpoint
        var epochs = 0
        struct Killed: Error {}
        firstTrainer.onEpochEnd.append { _ in
            epochs += 1
            if epochs == 2 { throw Killed() }
        }
        #expect(throws: Killed.self) { _ = try firstTrainer.fit(train: data) }
        // The checkpoint of epoch 2 is written after the hooks, so the kill came before it: epoch 1's is on disk.
        #expect(FileManager.default.fileExists(atPath: path))

        // The second process: a new graph and trainer resume after epoch 1.
        let resumed = try graph(), secondTrainer = Trainer(graph: resumed, configuration: c)
        secondTrainer.checkpoint = checkpoint
        var resumedEpochs: [Int] = []
        secondTrainer.onEpochEnd.append { resumedEpochs.append($0.epoch) }
        let history = try secondTrainer.fit(train: data)
        #expect(resumedEpochs == [1, 2, 3])
        #expect(state(resumed) == state(straight), "\(optimizer): weights differ after resuming")
        #expect(history.epochs.map(\.train) == straightHistory.epochs.map(\.train))
        #expect(history.samplesSeen == straightHistory.samplesSeen)

        // Another key (other settings) starts from scratch and replaces the file.
        let other = try graph(), otherTrainer = Trainer(graph: other, configuration: c)
        otherTrainer.checkpoint = TrainingCheckpoint(path: path, key: "run-b")
        var otherEpochs: [Int] = []
        otherTrainer.onEpochEnd.append { otherEpochs.append($0.epoch) }
        _ = try otherTrainer.fit(train: data)
        #expect(otherEpochs == [0, 1, 2, 3] && state(other) == state(straight))
    }

    @Test func aCorruptCheckpointIsAnErrorNamingIt() throws {
        let path = NSTemporaryDirectory() + "shrink-checkpoint-bad-\(getpid()).checkpoint"
        defer { try? FileManager.default.removeItem(atPath: path) }
        _ = FileManager.default.createFile(atPath: path, contents: Data("not a checkpoint".utf8))
        let trainer = Trainer(graph: try graph(), configuration: TrainingConfiguration())
        trainer.checkpoint = TrainingCheckpoint(path: path, key: "k")
        #expect(throws: ShrinkError.self) { _ = try trainer.fit(train: try blobs(seed: 1)) }
        do { _ = try trainer.fit(train: try blobs(seed: 1)) } catch let error as ShrinkError {
            #expect(error.message.contains(path), "\(error.message)")
        }
    }
}
