// MSEObserver: a 2-bit search worked out by hand (symmetric and affine), a huge outlier nearly kept at 8 bits and a
// moderate one clipped at 4, per-channel, validation.
import Quantization
import Tensors
import Testing

@Suite struct MSEObserverTests {
    /// 100 values at 1 and one at 10: histogram limit just above 10, w = 10/2048. The bin of the ones has its centre
    /// clamped to the data minimum, 1; the outlier's bin centre is 2047.5w = 9.99756.
    let onesAndTen = Tensor(shape: [101], scalars: [Float](repeating: 1, count: 100) + [10])

    @Test func symmetricTwoBitSearchByHand() throws {
        // int2 narrow (codes −1…1), S = T. Candidates T = 10k/100. For 1 ≤ T < 2, 1/T rounds to 1, so x̂(1) = T;
        // the outlier saturates at T too: E(T) = 100(T − 1)² + (9.99756 − T)².
        //   T = 1.0: 0 + 80.96 = 80.96;  T = 1.1: 1 + 79.16 = 80.16;  T = 1.2: 4 + 77.40 = 81.40;
        //   T ≥ 2: the ones round to 0, E ≥ 100;  T = 10: E = 100.  Best: T = 1.1, so S = 1.1.
        let observer = MSEObserver()
        #expect(observer.candidates == 100 && observer.name == "mse")
        try observer.observe(onesAndTen)
        let p = try observer.computeParameters(bits: 2, signed: true, symmetric: true, narrowRange: true)
        #expect(p.scales == [Float(10) * 11 / 100] && p.zeroPoints == [0])
    }

    @Test func affineTwoBitSearchByHand() throws {
        // uint2 (codes 0…3) on [0, hi]: S = hi/3, Z = 0; the outlier saturates at hi.
        //   2 ≤ hi < 6: 3/hi ∈ (0.5, 1.5] → x̂(1) = hi/3:  E = 100(1 − hi/3)² + (9.99756 − hi)²
        //     hi = 3.5: 2.78 + 42.22 = 45.00;  hi = 3.6: 4.00 + 40.93 = 44.93;  hi = 3.7: 5.44 + 39.67 = 45.11;
        //   1.2 ≤ hi < 2: x̂(1) = 2hi/3, at best exact at hi = 1.5 but then E ≥ (9.99756 − 2)² ≈ 64;
        //   hi ≥ 6: the ones round to 0, E ≥ 100.  Best: hi = 3.6, S = 1.2, Z = 0 (the lower end stays 0).
        let observer = MSEObserver()
        try observer.observe(onesAndTen)
        let p = try observer.computeParameters(bits: 2, signed: false, symmetric: false)
        #expect(p.scales == [Float(Double(Float(10) * 36 / 100) / 3)] && p.zeroPoints == [0])
    }

    @Test func oneHugeOutlierIsNearlyKeptAtEightBits() throws {
        // Clipping the outlier at 100 down to T costs (100 − T)² on its own, more than a finer step saves on 10 000
        // values in [−1, 1], so MSE (unlike percentile and entropy) keeps almost all of the range. Expected errors
        // over the histogram (checked against an independent NumPy re-implementation):
        //   T = 96: 425.87;  T = 97: 424.03;  T = 98: 424.92;  T = 100 (MinMax): 434.90.  Best: T = 97, S = 97/127.5.
        let observer = MSEObserver()
        try observer.observe(uniformWithOutlier)
        #expect(try observer.computeParameters(bits: 8, signed: true, symmetric: true).scales == [Float(97 / 127.5)])
    }

    @Test func aModerateOutlierIsClippedAtFourBits() throws {
        // Uniform [−1, 1] plus 10, int4 symmetric (S = T/7.5). T = 10: S = 1.33, most of the bulk rounds to 0,
        // E ≈ 1 852. T = 1 (k = 10): the bulk's rounding error ≈ 10 000·S²/12 = 14.8 plus the clipped outlier
        // (10 − 1)² = 81, E = 96.98 (NumPy); T = 0.9: 101.61;  T = 1.1: 98.80.  Best: T = 1, S = 1/7.5 —
        // ten times finer than MinMax's 10/7.5.
        var values = uniformWithOutlier.scalars
        values[values.count - 1] = 10
        let observer = MSEObserver()
        try observer.observe(Tensor(shape: [values.count], scalars: values))
        #expect(try observer.computeParameters(bits: 4, signed: true, symmetric: true).scales == [Float(1 / 7.5)])
        // At 8 bits the same outlier is nearly kept again (T = 9.6: the finer step makes clipping the dearer part).
        let eight = try observer.computeParameters(bits: 8, signed: true, symmetric: true).scales[0]
        #expect(eight > 0.9 * Float(10 / 127.5) && eight <= Float(10 / 127.5))
    }

    @Test func perChannelNeverWidensTheRange() throws {
        let observer = MSEObserver(axis: 1)
        try observer.observe(fourDimensional)
        let p = try observer.computeParameters(bits: 8, signed: true, symmetric: true)
        #expect(p.channelCount == 3)
        for (scale, bound) in zip(p.scales, [Float(4 / 127.5), Float(8 / 127.5), Float(12 / 127.5)]) {
            #expect(scale <= bound && scale > 0)
        }
    }

    @Test func validation() {
        expectShrinkError(.value, containing: ["candidate", "got 0"]) { _ = try MSEObserver(candidates: 0) }
        expectShrinkError(.value, containing: ["bins", "got 0"]) { _ = try MSEObserver(candidates: 10, bins: 0) }
    }
}
