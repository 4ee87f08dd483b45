// Histogram (internal): bin placement on both sides of 0, the |x| fold, growth by exact pairwise merging, a start
// from all zeros, and a jump over many orders of magnitude.
@testable import Quantization
import Tensors
import Testing

@Suite struct HistogramTests {
    @Test func mergingMatchesAFreshHistogram() throws {
        // 4 bins per side. Batch 1 (−1, 0.3, 0.6, 1): limit = next Double above 1, w ≈ 0.25:
        //   −1 → |x|/w ≈ 3.99 → negative bin 3 = signed bin 0;  0.3 → 4 + 1;  0.6 → 4 + 2;  1 → 4 + 3.
        var recorder = HistogramRecorder(axis: nil, binsPerSide: 4)
        try recorder.observe(Tensor(shape: [4], scalars: [-1, 0.3, 0.6, 1]), observer: "test")
        #expect(recorder.histograms[0].counts == [1, 0, 0, 0, 0, 1, 1, 1])
        // Batch 2 (3): the limit doubles twice to ≈ 4 (w ≈ 1), merging pairs each time:
        //   positive (0, 1, 1, 1) → (1, 2, 0, 0) → (3, 0, 0, 0);
        //   negative by |x| (0, 0, 0, 1) → (0, 1, 0, 0) → (1, 0, 0, 0);
        //   then 3 → |x|/w ≈ 2.99 → 4 + 2. A histogram of all five values made at that limit is the same.
        try recorder.observe(Tensor(shape: [1], scalars: [3]), observer: "test")
        let histogram = recorder.histograms[0]
        #expect(histogram.counts == [0, 0, 0, 1, 3, 0, 1, 0])
        #expect(histogram.absoluteCounts == [4, 0, 1, 0])
        #expect(histogram.total == 5 && histogram.minimum == -1 && histogram.maximum == 3)
        #expect(histogram.limit == Double(1).nextUp * 4 && histogram.maximumAbsolute == 3)
        #expect(histogram.edge(0) == -4 && histogram.edge(8) == 4)
    }

    @Test func zerosFirstThenData() throws {
        // Zeros leave the limit at 0 and sit in bin B = 4 ([0, w) whatever w becomes); 2 then sets limit ≈ 2.
        var recorder = HistogramRecorder(axis: nil, binsPerSide: 4)
        try recorder.observe(Tensor(zeros: [2]), observer: "test")
        #expect(recorder.histograms[0].limit == 0 && recorder.histograms[0].counts[4] == 2)
        try recorder.observe(Tensor(shape: [2], scalars: [2, -0.7]), observer: "test")
        // w ≈ 0.5: 2 → 4 + 3; −0.7 → |x|/w ≈ 1.4 → negative bin 1 = signed bin 2.
        #expect(recorder.histograms[0].counts == [0, 0, 1, 0, 2, 0, 0, 1])
    }

    @Test func hugeJumpCollapsesIntoTheCentralBins() throws {
        var recorder = HistogramRecorder(axis: nil, binsPerSide: 4)
        try recorder.observe(Tensor(shape: [2], scalars: [-0.1, 0.1]), observer: "test")
        try recorder.observe(Tensor(shape: [1], scalars: [1e30]), observer: "test")
        let histogram = recorder.histograms[0]
        #expect(histogram.counts == [0, 0, 0, 1, 1, 0, 0, 1] && histogram.limit > 1e30)
    }
}
