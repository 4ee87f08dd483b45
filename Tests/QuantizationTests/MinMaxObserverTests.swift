// MinMaxObserver: running range over batches, per-tensor and per-channel (axes 0 and 1 of a 4-D tensor), the
// outlier it keeps, errors, and reset.
import Quantization
import Tensors
import Testing

@Suite struct MinMaxObserverTests {
    @Test func runningRangeOverBatches() throws {
        // Batches [−1, 2] and [0.5, 3] → range [−1, 3] → uint8 S = 4/255, Z = 64.
        let observer = MinMaxObserver()
        try observer.observe(Tensor(shape: [2], scalars: [-1, 2]))
        try observer.observe(Tensor(shape: [2, 1], scalars: [0.5, 3]))
        #expect(observer.minimums == [-1] && observer.maximums == [3])
        let p = try observer.computeParameters(bits: 8, signed: false, symmetric: false)
        #expect(p.scales == [Float(4.0 / 255.0)] && p.zeroPoints == [64] && p.axis == nil)
    }

    @Test func keepsTheOutlier() throws {
        // Uniform [−1, 1] plus 100: symmetric int8 S = 100/127.5 — one value sets the step for 10 000 others.
        let observer = MinMaxObserver()
        try observer.observe(uniformWithOutlier)
        #expect(try observer.computeParameters(bits: 8, signed: true, symmetric: true).scales == [Float(100 / 127.5)])
    }

    @Test func perChannelAlongAxesOneAndZero() throws {
        // Axis 1: channel c spans [−2(c+1), 4(c+1)] → symmetric int8 S = 4(c+1)/127.5.
        let channels = MinMaxObserver(axis: 1)
        try channels.observe(fourDimensional)
        #expect(channels.minimums == [-2, -4, -6] && channels.maximums == [4, 8, 12])
        let p = try channels.computeParameters(bits: 8, signed: true, symmetric: true)
        #expect(p.scales == [Float(4 / 127.5), Float(8 / 127.5), Float(12 / 127.5)] && p.axis == 1)
        #expect(p.zeroPoints == [0, 0, 0])
        // Axis 0: sample n spans [−3(n+1), 6(n+1)] → uint8 affine S = 9(n+1)/255, Z = round(255 − 6·255/9) = 85.
        let samples = MinMaxObserver(axis: 0)
        try samples.observe(fourDimensional)
        let q = try samples.computeParameters(bits: 8, signed: false, symmetric: false)
        #expect(q.scales == [Float(9.0 / 255.0), Float(18.0 / 255.0)] && q.zeroPoints == [85, 85])
    }

    @Test func errorsAndReset() throws {
        let observer = MinMaxObserver(axis: 1)
        expectShrinkError(.value, containing: ["minmax", "no data"]) {
            _ = try observer.computeParameters(bits: 8, signed: true, symmetric: true)
        }
        try observer.observe(fourDimensional)
        // NaN stops the observation and records nothing.
        var poisoned = fourDimensional
        poisoned[1, 2, 0, 1] = .nan
        expectShrinkError(.value, containing: ["element 11", "nan"]) { try observer.observe(poisoned) }
        #expect(observer.maximums == [4, 8, 12])
        expectShrinkError(.shape, containing: ["3 channels", "has 2"]) {
            try observer.observe(Tensor(zeros: [1, 2]))
        }
        expectShrinkError(.shape, containing: ["axis 1", "[4]"]) { try observer.observe(Tensor(zeros: [4])) }
        expectShrinkError(.value, containing: ["got 9"]) {
            _ = try observer.computeParameters(bits: 9, signed: true, symmetric: true)
        }
        observer.reset()
        #expect(observer.minimums.isEmpty)
        expectShrinkError(.value, containing: ["no data"]) {
            _ = try observer.computeParameters(bits: 8, signed: true, symmetric: true)
        }
        // After a reset a different channel count is fine.
        try observer.observe(Tensor(zeros: [1, 2]))
        #expect(try observer.computeParameters(bits: 8, signed: true, symmetric: true).channelCount == 2)
    }

    @Test func emptyTensorsRecordNothing() throws {
        let observer = MinMaxObserver()
        try observer.observe(Tensor(zeros: [0, 4]))
        expectShrinkError(.value, containing: ["no data"]) {
            _ = try observer.computeParameters(bits: 8, signed: false, symmetric: false)
        }
        // An all-zero tensor is data: S = ε, Z = 255 (see QuantizationParameters.compute).
        try observer.observe(Tensor(zeros: [3]))
        let p = try observer.computeParameters(bits: 8, signed: false, symmetric: false)
        #expect(p.scales == [QuantizationParameters.smallestScale] && p.zeroPoints == [255])
    }
}
