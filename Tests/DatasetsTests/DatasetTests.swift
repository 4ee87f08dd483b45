// Tests of Dataset: validation of shapes, labels and values with errors naming the offending index, prefix and batch.
import Datasets
import Testing
import Tensors

/// Four samples of two features with labels 0, 1, 2, 1.
func smallDataset() throws -> Dataset {
    try Dataset(inputs: Tensor(shape: [4, 2], scalars: [0, 1, 10, 11, 20, 21, 30, 31]), labels: [0, 1, 2, 1], classCount: 3)
}

@Test func validDatasetReportsItsShape() throws {
    let dataset = try smallDataset()
    #expect(dataset.count == 4)
    #expect(dataset.sampleShape == [2])
    let images = try Dataset(inputs: Tensor(zeros: [3, 1, 2, 2]), labels: [0, 0, 0], classCount: 1)
    #expect(images.sampleShape == [1, 2, 2])
    #expect(images.description == "Dataset(3 × [1, 2, 2], 1 classes)")
}

@Test func labelsOutsideTheClassesNameTheFirstOffender() {
    expectShrinkError(.value, containing: ["label 2 is 5", "0..<3"]) {
        _ = try Dataset(inputs: Tensor(zeros: [4, 1]), labels: [0, 2, 5, 7], classCount: 3)
    }
    expectShrinkError(.value, containing: ["label 0 is -1"]) {
        _ = try Dataset(inputs: Tensor(zeros: [1, 1]), labels: [-1], classCount: 3)
    }
    expectShrinkError(.value, containing: ["class count is 0"]) {
        _ = try Dataset(inputs: Tensor(zeros: [0, 1]), labels: [], classCount: 0)
    }
}

@Test func nonFiniteInputsNameTheElementAndSample() {
    var inputs = Tensor(zeros: [3, 4])
    inputs[2, 1] = .nan
    expectShrinkError(.value, containing: ["input element 9", "sample 2", "nan"]) {
        _ = try Dataset(inputs: inputs, labels: [0, 0, 0], classCount: 1)
    }
    inputs[2, 1] = 0
    inputs[0, 3] = -.infinity
    expectShrinkError(.value, containing: ["input element 3", "sample 0", "-inf"]) {
        _ = try Dataset(inputs: inputs, labels: [0, 0, 0], classCount: 1)
    }
}

@Test func shapesMustMatchTheLabels() {
    expectShrinkError(.shape, containing: ["3 samples", "2 labels"]) {
        _ = try Dataset(inputs: Tensor(zeros: [3, 2]), labels: [0, 0], classCount: 1)
    }
    expectShrinkError(.shape, containing: ["[3, 2, 2]", "rank 2", "rank 4"]) {
        _ = try Dataset(inputs: Tensor(zeros: [3, 2, 2]), labels: [0, 0, 0], classCount: 1)
    }
}

@Test func prefixKeepsTheFirstSamples() throws {
    let dataset = try smallDataset()
    let first = dataset.prefix(2)
    #expect(first.count == 2 && first.classCount == 3)
    #expect(try first.inputs == Tensor(shape: [2, 2], scalars: [0, 1, 10, 11]))
    #expect(first.labels == [0, 1])
    #expect(dataset.prefix(100).count == 4)
    #expect(dataset.prefix(-1).count == 0)
    #expect(try dataset.prefix(0).inputs.shape == [0, 2])
}

@Test func batchGathersTheIndexedSamplesInOrder() throws {
    let order = [9, 3, 0, 2]
    let batch = try smallDataset().batch(order[1...])
    #expect(batch.inputs == Tensor(shape: [3, 2], scalars: [30, 31, 0, 1, 20, 21]))
    #expect(batch.labels == [1, 0, 2])
}
