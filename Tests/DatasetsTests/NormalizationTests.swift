// Tests of Normalization with values worked out by hand, including the constant and empty degenerate cases.
import Datasets
import Foundation
import Testing
import Tensors

@Test func fitTakesThePopulationMeanAndStandardDeviation() throws {
    // mean = 10/4 = 2.5; variance = (2.25 + 0.25 + 0.25 + 2.25) / 4 = 1.25; std = √1.25 ≈ 1.118034.
    let normalization = Normalization.fit(Tensor(shape: [2, 2], scalars: [1, 2, 3, 4]))
    #expect(normalization.mean == 2.5)
    #expect(normalization.std == Float(1.25.squareRoot()))
    var tensor = Tensor(shape: [4], scalars: [1, 2, 3, 4])
    try normalization.apply(to: &tensor)
    // (1 − 2.5) / 1.118034 = −1.3416408, (2 − 2.5) / 1.118034 = −0.4472136.
    let expected: [Float] = [-1.3416408, -0.4472136, 0.4472136, 1.3416408]
    for (value, target) in zip(tensor.scalars, expected) { #expect(abs(value - target) < 1e-6) }
}

@Test func applyUsesTheTrainingStatistics() throws {
    var test = Tensor(shape: [3], scalars: [0, 1, 3])
    try Normalization(mean: 1, std: 2).apply(to: &test)
    #expect(test.scalars == [-0.5, 0, 1])
}

@Test func constantInputsGetUnitStandardDeviation() throws {
    let normalization = Normalization.fit(Tensor(shape: [3], repeating: 5))
    #expect(normalization == Normalization(mean: 5, std: 1))
    var tensor = Tensor(shape: [3], repeating: 5)
    try normalization.apply(to: &tensor)
    #expect(tensor.scalars == [0, 0, 0])
}

@Test func emptyInputsGiveTheIdentity() throws {
    #expect(Normalization.fit(Tensor(zeros: [0, 3])) == .identity)
    var tensor = Tensor(shape: [2], scalars: [1.5, -2])
    try Normalization.identity.apply(to: &tensor)
    #expect(tensor.scalars == [1.5, -2])
}

@Test func normalizationRoundTripsThroughJSON() throws {
    let normalization = Normalization(mean: 0.2860, std: 0.3530)
    let decoded = try JSONDecoder().decode(Normalization.self, from: JSONEncoder().encode(normalization))
    #expect(decoded == normalization)
}
