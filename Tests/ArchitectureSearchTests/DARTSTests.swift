// DARTS: the mixed operation's gradients (α and the input) against finite differences, and the search end to end on
// a small space — softmax weights per block, a first proposal made of the most weighted operations, determinism.
@testable import ArchitectureSearch
import Datasets
import NeuralNetworks
import Tensors
import Testing

@Suite struct DARTSTests {
    @Test func mixedOperationGradientsMatchFiniteDifferences() throws {
        var g = SeededGenerator(seed: 1)
        func op(_ scale: Float) throws -> Graph {
            try Graph(inputShape: [3], nodes: [
                Node(name: "fc", layer: Linear(inputFeatures: 3, outputFeatures: 2, generator: &g), inputs: ["input"]),
                Node(name: "relu", layer: ReLU(), inputs: ["fc"]),
            ])
        }
        let mixed = MixedOperation(operations: [try op(1), try op(2)], names: ["a", "b"])
        mixed.alpha.value = Tensor(shape: [2], scalars: [0.3, -0.2])
        let x = Tensor(shape: [4, 3], scalars: (0..<12).map { _ in g.nextNormal() })
        let r = Tensor(shape: [4, 2], scalars: (0..<8).map { _ in g.nextNormal() })
        func loss() -> Double { mixed.forward([x], mode: .training).dot(r) }
        _ = loss()
        mixed.alpha.zeroGradient()
        let dx = mixed.backward(r, needsInputGradient: [true])[0]!
        let h: Float = 1e-2
        for j in 0..<2 {
            let saved = mixed.alpha.value
            mixed.alpha.value.scalars[j] += h
            let up = loss()
            mixed.alpha.value.scalars[j] -= 2 * h
            let down = loss()
            mixed.alpha.value = saved
            let numeric = (up - down) / Double(2 * h)
            #expect(abs(numeric - Double(mixed.alpha.gradient.scalars[j])) < 1e-2 * max(1, abs(numeric)), "α\(j)")
        }
        var shifted = x
        shifted.scalars[5] += h
        let up = mixed.forward([shifted], mode: .inference).dot(r)
        shifted.scalars[5] -= 2 * h
        let down = mixed.forward([shifted], mode: .inference).dot(r)
        #expect(abs((up - down) / Double(2 * h) - Double(dx.scalars[5])) < 1e-2)
        #expect(abs(mixed.weights.reduce(0, +) - 1) < 1e-6)
    }

    @Test func searchesAndProposesTheMostWeightedOperations() throws {
        let space = try SearchSpace.parse(tinySpaceYAML, file: "tiny.yaml")
        let data = try stripes(150, seed: 4)
        let darts = DifferentiableSearch(train: data.rows(0..<120), validation: data.rows(120..<150), epochs: 3,
                                         subset: 1, batchSize: 16, seed: 2)
        let first = try darts.propose(index: 0, history: [], space: space, seed: 2) { _ in true }
        let weights = try #require(darts.operationWeights)
        #expect(weights.count == 3 && weights.allSatisfy { abs($0.reduce(0, +) - 1) < 1e-5 })
        #expect(weights.contains { w in w.max()! > w.min()! })   // α moved
        for (i, w) in weights.enumerated() { #expect(first.choices[3 * i] == w.indices.max { w[$0] < w[$1] }!) }
        #expect(darts.searchSamples == 3 * (120 + 120))
        let again = DifferentiableSearch(train: data.rows(0..<120), validation: data.rows(120..<150), epochs: 3,
                                         subset: 1, batchSize: 16, seed: 2)
        #expect(try again.propose(index: 0, history: [], space: space, seed: 2) { _ in true } == first)
        let second = try darts.propose(index: 1, history: [trial(0, first.choices, accuracy: 0.5)], space: space,
                                       seed: 2) { _ in true }
        #expect(second != first)
        #expect(throws: ShrinkError.self) {
            _ = try DifferentiableSearch(train: data, validation: data).propose(index: 0, history: [], space: .mlp, seed: 0) { _ in true }
        }
    }
}
