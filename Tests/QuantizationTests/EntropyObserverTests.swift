// EntropyObserver: the KL-divergence search worked out by hand on a 4-bin histogram, the outlier clipped on a
// bell-shaped distribution, per-channel, validation.
import Quantization
import Tensors
import Testing

@Suite struct EntropyObserverTests {
    @Test func fourBinSearchByHand() throws {
        // Values (0.5 ×4, 1.5 ×2, 4): limit just above 4, 4 bins of w ≈ 1 → |x| counts (4, 2, 0, 1), 7 values.
        // int2 signed: L = 2^(2−1) = 2 levels; candidates i = 2, 3, 4 (KL = Σp ln(p/q)/7 + ln(Σq/7)):
        //   i = 2: P = (4, 2+1), groups {0} {1} → Q = (4, 2):        KL = 3 ln(3/2)/7 + ln(6/7)        = 0.0196
        //   i = 3: P = (4, 2, 0+1), groups {0} {1,2} → Q = (4, 1, 1): KL = 2 ln 2/7 + ln(6/7)          = 0.0439
        //   i = 4: P = (4, 2, 0, 1), groups {0,1} {2,3} → Q = (3, 3, 0, 1): KL = (4 ln(4/3) + 2 ln(2/3))/7 = 0.0485
        // Least: i = 2 → T = 2w = 2; range [0, 2] → int2 symmetric S = 2/1.5.
        let observer = try EntropyObserver(bins: 4)
        try observer.observe(Tensor(shape: [7], scalars: [0.5, 0.5, 0.5, 0.5, 1.5, 1.5, 4]))
        let p = try observer.computeParameters(bits: 2, signed: true, symmetric: true)
        #expect(abs(p.scales[0] - Float(2 / 1.5)) < 1e-6 && p.zeroPoints == [0])
    }

    @Test func clipsTheOutlierOfABellShapedDistribution() throws {
        // 10 000 standard-normal values plus 100: w = 100/2048 ≈ 0.049, the bulk (|x| < 4.5) in bins 0…92, the
        // outlier in bin 2047. int8 symmetric: L = 128 levels. For i = 128…255 the first 127 groups are single bins
        // holding the whole bulk exactly; only the outlier, folded into the empty last group, costs divergence, and
        // it costs the same for every such i. From i = 256 on, bins merge in pairs and blur the bell, so the
        // divergence grows. The first minimum is i = 128: T = 128w = 6.25, S = 6.25/127.5 (MinMax: 100/127.5).
        let observer = EntropyObserver()
        #expect(observer.bins == 2048 && observer.name == "entropy")
        try observer.observe(normalWithOutlier)
        let p = try observer.computeParameters(bits: 8, signed: true, symmetric: true)
        #expect(p.scales == [Float(6.25 / 127.5)] && p.zeroPoints == [0])
        // uint8 affine: L = 255 levels, so the first minimum is i = 255, T = 255w ≈ 12.45; the range is
        // [data minimum, 12.45], still far below 100.
        let affine = try observer.computeParameters(bits: 8, signed: false, symmetric: false)
        let minimum = normalWithOutlier.scalars.min()!
        #expect(abs(affine.scales[0] - (255 * 100 / 2048 - minimum) / 255) < 1e-6)
    }

    @Test func allZeroDataGivesTheDegenerateScale() throws {
        let observer = EntropyObserver(axis: 0)
        try observer.observe(Tensor(zeros: [2, 5]))
        let p = try observer.computeParameters(bits: 8, signed: true, symmetric: true)
        #expect(p.scales == [QuantizationParameters.smallestScale, QuantizationParameters.smallestScale])
    }

    @Test func exactZerosDoNotMoveTheThreshold() throws {
        // Post-ReLU data: half exact zeros. Zero is exact under any threshold, so the choice must be the one made
        // on the non-zero values alone (before zeros were skipped, their mass in bin 0 clipped such ranges hard).
        var g = SeededGenerator(seed: 12)
        let positive = (0..<5000).map { _ in abs(g.nextNormal()) + 1e-3 }
        let alone = EntropyObserver(), withZeros = EntropyObserver()
        try alone.observe(Tensor(shape: [5000], scalars: positive))
        try withZeros.observe(Tensor(shape: [10_000], scalars: positive + [Float](repeating: 0, count: 5000)))
        let expected = try alone.computeParameters(bits: 8, signed: false, symmetric: false)
        #expect(try withZeros.computeParameters(bits: 8, signed: false, symmetric: false) == expected)
        #expect(expected.scales[0] * 255 > 2, "the range should keep most of the bell, got S = \(expected.scales[0])")
    }

    @Test func perChannelNeverWidensTheRange() throws {
        let observer = EntropyObserver(axis: 1)
        try observer.observe(fourDimensional)
        let p = try observer.computeParameters(bits: 8, signed: true, symmetric: true)
        #expect(p.channelCount == 3)
        for (scale, bound) in zip(p.scales, [Float(4 / 127.5), Float(8 / 127.5), Float(12 / 127.5)]) {
            #expect(scale <= bound && scale > 0)
        }
    }

    @Test func dataFarFromZeroIsNotClippedWhole() throws {
        // A squeeze-excitation gate: every value between 0.44 and 0.56. A threshold below 0.44 keeps nothing to
        // quantize (its divergence degenerates to 0); the observer must keep a range that reaches the data.
        let observer = EntropyObserver()
        try observer.observe(Tensor(shape: [1000], scalars: (0..<1000).map { 0.44 + 0.12 * Float($0) / 999 }))
        let p = try observer.computeParameters(bits: 8, signed: false, symmetric: false)
        #expect(p.scales[0] * 255 >= 0.44, "range top \(p.scales[0] * 255)")
    }

    @Test func validation() {
        expectShrinkError(.value, containing: ["bins", "got 1"]) { _ = try EntropyObserver(bins: 1) }
    }
}
