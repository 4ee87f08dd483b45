// BatchNorm re-estimation worked by hand: the running statistics become the plain average of the batches'.
import NeuralNetworks
import Tensors
import Testing

@Suite struct BatchNormReestimationTests {
    @Test func averagesTheBatchesStatistics() throws {
        // Batch 1: 1, 3 → mean 2, unbiased variance 2. Batch 2: 5, 5 → mean 5, variance 0. A batch of one sample
        // has no variance and is skipped. Running: mean 3.5, variance 1, whatever they were; momentum and the
        // frozen flag come back as they were, and γ, β stay.
        let norm = BatchNorm(weight: Tensor(shape: [1], scalars: [2]), bias: Tensor(shape: [1], scalars: [0.5]),
                             runningMean: Tensor(shape: [1], scalars: [10]), runningVariance: Tensor(shape: [1], scalars: [7]),
                             momentum: 0.3)
        norm.frozen = true
        let graph = try Graph(inputShape: [1], nodes: [Node(name: "bn", layer: norm, inputs: ["input"])])
        let batches = [Tensor(shape: [2, 1], scalars: [1, 3]), Tensor(shape: [1, 1], scalars: [100]),
                       Tensor(shape: [2, 1], scalars: [5, 5])]
        #expect(try graph.reestimateBatchNorm(batches) == 1)
        #expect(norm.runningMean.value.scalars == [3.5])
        #expect(norm.runningVariance.value.scalars == [1])
        #expect(norm.momentum == 0.3 && norm.frozen)
        #expect(norm.weight.value.scalars == [2] && norm.bias.value.scalars == [0.5])
        // No usable batch: an error, and the statistics stay as they were.
        #expect(throws: ShrinkError.self) { try graph.reestimateBatchNorm([Tensor(shape: [1, 1], scalars: [1])]) }
        #expect(norm.runningMean.value.scalars == [3.5] && norm.runningVariance.value.scalars == [1])
    }
}
