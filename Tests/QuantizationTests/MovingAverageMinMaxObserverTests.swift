// MovingAverageMinMaxObserver: the first batch sets the range, later batches move it by c = 0.01 of the
// difference (by hand), per channel, validation of c, reset.
import Quantization
import Tensors
import Testing

@Suite struct MovingAverageMinMaxObserverTests {
    @Test func reactsSlowlyToAnOutlierBatch() throws {
        // Batch 1 [0, 1] sets min 0, max 1. Batch 2 [−1, 11]:
        //   min = 0 + 0.01·(−1 − 0) = −0.01,  max = 1 + 0.01·(11 − 1) = 1.1   (MinMax would jump to 11).
        let observer = MovingAverageMinMaxObserver()
        #expect(observer.averagingConstant == 0.01 && observer.name == "moving-average")
        try observer.observe(Tensor(shape: [2], scalars: [0, 1]))
        try observer.observe(Tensor(shape: [3], scalars: [-1, 5, 11]))
        #expect(observer.minimums == [Float(0) + 0.01 * -1] && observer.maximums == [1 + Float(0.01) * 10])
        // Symmetric int8: S = 1.1/127.5.
        let p = try observer.computeParameters(bits: 8, signed: true, symmetric: true)
        #expect(abs(p.scales[0] - Float(1.1 / 127.5)) < 1e-8)
    }

    @Test func perChannelAverages() throws {
        // Axis 1, c = 0.5. Batch 1 = fourDimensional: ranges [−2, 4], [−4, 8], [−6, 12].
        // Batch 2 = 3 × fourDimensional: [−6, 12], [−12, 24], [−18, 36] → averages [−4, 8], [−8, 16], [−12, 24].
        let observer = try MovingAverageMinMaxObserver(axis: 1, averagingConstant: 0.5)
        try observer.observe(fourDimensional)
        try observer.observe(fourDimensional * 3)
        #expect(observer.minimums == [-4, -8, -12] && observer.maximums == [8, 16, 24])
        // An empty batch leaves every channel where it was.
        try observer.observe(Tensor(zeros: [0, 3, 1, 2]))
        #expect(observer.minimums == [-4, -8, -12])
    }

    @Test func validationAndReset() throws {
        for constant: Float in [0, -0.1, 1.5, .nan] {
            expectShrinkError(.value, containing: ["(0, 1]"]) {
                _ = try MovingAverageMinMaxObserver(averagingConstant: constant)
            }
        }
        let observer = MovingAverageMinMaxObserver()
        try observer.observe(Tensor(shape: [2], scalars: [0, 1]))
        observer.reset()
        expectShrinkError(.value, containing: ["moving-average", "no data"]) {
            _ = try observer.computeParameters(bits: 8, signed: true, symmetric: true)
        }
        // After the reset the next batch sets the range again rather than being averaged in.
        try observer.observe(Tensor(shape: [2], scalars: [-4, 4]))
        #expect(observer.minimums == [-4] && observer.maximums == [4])
    }
}
