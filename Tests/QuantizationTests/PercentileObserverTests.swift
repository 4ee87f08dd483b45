// PercentileObserver: clipping one outlier among 10 001 values (by hand, both symmetric and affine), no clipping
// at the 100th percentile, per-channel, validation.
import Quantization
import Tensors
import Testing

@Suite struct PercentileObserverTests {
    /// Histogram of `uniformWithOutlier`: limit just above 100, 2048 bins per side of width w = 100/2048 ≈ 0.0488;
    /// |x| ≤ 1 fills bins 0…20 (1/w = 20.48), the outlier sits in bin 2047.
    let binWidth = 100.0 / 2048

    @Test func symmetricClipsTheOutlier() throws {
        // p = 99.99: at most 10 001 · 0.0001 = 1.0001 values may be cut. Counting down from bin 2047: the outlier
        // (1 value) may go; adding bin 20 exceeds it, so T = upper edge of bin 20 = 21w = 1.025390625.
        // int8 symmetric: S = 1.025390625/127.5 ≈ 0.00804, against MinMax's 100/127.5 ≈ 0.784.
        let observer = PercentileObserver()
        #expect(observer.percentile == 99.99 && observer.bins == 2048 && observer.name == "percentile")
        try observer.observe(uniformWithOutlier)
        let p = try observer.computeParameters(bits: 8, signed: true, symmetric: true)
        #expect(p.scales == [Float(21 * binWidth / 127.5)] && p.zeroPoints == [0])
    }

    @Test func affineCutsHalfTheAllowanceFromEachTail() throws {
        // p = 99.9: 10 001 · 0.001 / 2 ≈ 5.0 values may go from each tail. Top: the outlier (1), then bin 20
        // (≈ 118 values in [0.977, 1]) → upper edge 21w = 1.0254. Bottom: the bin of −1 holds ≈ 118 values →
        // lower edge −21w, clamped to the data minimum −1. uint8 on [−1, 1.025390625]:
        // S = 2.025390625/255, Z = round(255 − 1.025390625·255/2.025390625) = round(125.90) = 126.
        let observer = try PercentileObserver(percentile: 99.9)
        try observer.observe(uniformWithOutlier)
        let p = try observer.computeParameters(bits: 8, signed: false, symmetric: false)
        #expect(p.scales == [Float((1 + 21 * binWidth) / 255)] && p.zeroPoints == [126])
    }

    @Test func hundredthPercentileKeepsEverything() throws {
        // Nothing may be cut: T = upper edge of the outlier's bin, clamped to the maximum 100 → MinMax's scale.
        let observer = try PercentileObserver(percentile: 100)
        try observer.observe(uniformWithOutlier)
        #expect(try observer.computeParameters(bits: 8, signed: true, symmetric: true).scales == [Float(100 / 127.5)])
    }

    @Test func perChannelWithoutOutliersMatchesMinMax() throws {
        // 12 values: 0.01% of 4 values per channel is less than one value, so nothing is cut and every channel's
        // threshold clamps to its own max|x| = 4(c+1).
        let observer = PercentileObserver(axis: 1)
        try observer.observe(fourDimensional)
        let p = try observer.computeParameters(bits: 8, signed: true, symmetric: true)
        #expect(p.scales == [Float(4 / 127.5), Float(8 / 127.5), Float(12 / 127.5)] && p.axis == 1)
    }

    @Test func validation() {
        for percentile in [0, -1, 100.5, .nan] {
            expectShrinkError(.value, containing: ["(0, 100]"]) { _ = try PercentileObserver(percentile: percentile) }
        }
        expectShrinkError(.value, containing: ["got 1"]) { _ = try PercentileObserver(percentile: 99, bins: 1) }
    }
}
