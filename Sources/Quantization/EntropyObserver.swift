// EntropyObserver: TensorRT's calibration — the clipping threshold on |x| whose quantized distribution loses the
// least information (Kullback–Leibler divergence) relative to the observed one.
import Foundation
import Tensors

/// Chooses a threshold `T` on `|x|` from a histogram of `|x|` with `B = bins` bins of width `w` (default 2048; see
/// `Histogram`), by minimising the KL divergence between the clipped distribution and its quantized version.
///
/// With `L` quantized levels (`2^(b−1)` when signed or symmetric, 128 for int8; `2^b − 1` for unsigned affine,
/// 255 for uint8), for every candidate `i = L, L+1, …, B`:
/// 1. `P` = bins `0..<i`, with every count at or beyond bin `i` (the outliers) added to `P[i−1]`;
/// 2. the bins `0..<i` *without* the outliers are merged into `L` groups of `⌊i/L⌋` bins (the last takes the
///    remainder), giving the quantized histogram;
/// 3. each group's count is spread evenly over the bins of that group where `P > 0`, giving `Q` (0 where `P = 0`);
///    a bin with `P > 0` and `Q = 0` gets `Q = 10⁻⁴` of a count (MXNet's smoothing), so the divergence stays finite;
/// 4. `KL(P‖Q) = Σ p log(p/q)` over normalised `P` and `Q`.
/// Exact zeros are left out of the histogram first (as NVIDIA's pytorch-quantization does with `skip_zeros`): zero is
/// exact under every threshold, since the range always includes it, so it has no quantization error to weigh — yet
/// after a ReLU it is often half of all values, and its mass in bin 0 would make every candidate that merges bin 0
/// with its neighbours look bad, clipping post-ReLU ranges to a fraction of their extent.
/// A candidate below every (nonzero) value keeps nothing to quantize and is skipped, as MXNet skips it (its Q is all
/// zeros); otherwise data far from 0 — a squeeze-excitation gate between 0.44 and 0.56 — would be clipped whole.
/// The threshold is `T = i* · w` for the `i*` with the least divergence (ties: the smallest `i`, as the argmin of
/// TensorRT and MXNet — for `i < 2L` the first `L − 1` groups are single bins, so data that fits below them gives
/// equal divergences and the finest grid wins), and the range is
/// `[−T, T]` clamped to the data (widened to 0), for symmetric and affine parameters alike. All-zero data gives
/// `T = 0`, which `compute` turns into the degenerate scale.
///
/// [1] Migacz, "8-bit Inference with TensorRT", GPU Technology Conference, 2017; MXNet
///     `contrib/quantization.py`, `_get_optimal_threshold`.
public final class EntropyObserver: Observer {
    /// nil for per-tensor statistics, else the channel axis.
    public let axis: Int?
    /// Histogram bins of `|x|` (default 2048).
    public let bins: Int
    /// `"entropy"`, the CLI's name for it.
    public var name: String { ObserverKind.entropy.rawValue }
    private var recorder: HistogramRecorder

    /// Creates an empty observer with 2048 bins.
    public convenience init(axis: Int? = nil) {
        self.init(unchecked: axis, bins: 2048)
    }

    /// Creates an empty observer with `bins` bins of `|x|`.
    ///
    /// - Throws: `ShrinkError(.value)` when `bins < 2`.
    public convenience init(axis: Int? = nil, bins: Int) throws {
        guard bins >= 2 else { throw ShrinkError(.value, "the entropy observer needs ≥ 2 bins, got \(bins)") }
        self.init(unchecked: axis, bins: bins)
    }

    private init(unchecked axis: Int?, bins: Int) {
        self.axis = axis
        self.bins = bins
        recorder = HistogramRecorder(axis: axis, binsPerSide: bins)
    }

    /// Adds the tensor to the histogram (one per channel), widening it first if needed; see `Observer.observe`.
    public func observe(_ tensor: Tensor) throws {
        try recorder.observe(tensor, observer: name)
    }

    /// `QuantizationParameters.compute` of each channel's `[−T, T]` range.
    public func computeParameters(bits: Int, signed: Bool, symmetric: Bool, narrowRange: Bool) throws
        -> QuantizationParameters {
        _ = try QuantizationParameters.integerRange(bits: bits, signed: signed, narrowRange: narrowRange)
        let histograms = try recorder.requireData(observer: name)
        let levels = signed || symmetric ? 1 << (bits - 1) : (1 << bits) - 1
        let ranges = histograms.map { clippedRange($0, threshold: Self.threshold($0, levels: levels)) }
        return try .compute(minimums: ranges.map(\.low), maximums: ranges.map(\.high), axis: axis, bits: bits,
                            signed: signed, symmetric: symmetric, narrowRange: narrowRange)
    }

    /// Forgets everything observed; the settings stay.
    public func reset() { recorder.reset() }

    /// The settings and a summary of what was recorded, for logs.
    public var description: String {
        "EntropyObserver(axis: \(axis.map(String.init) ?? "nil"), bins: \(bins), "
            + "channels: \(recorder.histograms.count))"
    }

    /// `T = i* · w`, the least-divergence threshold (see the type's documentation).
    static func threshold(_ histogram: Histogram, levels: Int) -> Float {
        guard histogram.maximumAbsolute > 0, histogram.total > histogram.zeros else { return 0 }
        var absolute = histogram.absoluteCounts
        absolute[0] -= histogram.zeros
        let binCount = absolute.count, total = histogram.total - histogram.zeros
        var kept = [Double](repeating: 0, count: binCount + 1)  // kept[i] = Σ absolute[0..<i]
        for bin in 0..<binCount { kept[bin + 1] = kept[bin] + absolute[bin] }
        var bestBins = binCount, bestDivergence = Double.infinity
        absolute.withUnsafeBufferPointer { counts in
            for candidate in min(levels, binCount)...binCount {
                // A candidate that keeps no value below it quantizes nothing: its Q would be smoothing alone and,
                // normalised, equal to P's single outlier bin (a divergence of 0). MXNet rejects it (an all-zero Q
                // cannot be smoothed); so does this.
                guard kept[candidate] > 0 else { continue }
                let divergence = klDivergence(counts, bins: candidate, outliers: total - kept[candidate],
                                              levels: levels, total: total)
                if divergence < bestDivergence { (bestBins, bestDivergence) = (candidate, divergence) }
            }
        }
        return Float(Double(bestBins) * histogram.binWidth)
    }

    /// Steps 1–4 for candidate `bins`: with unnormalised `p`, `q` summing to `total` and `Σq`,
    /// `KL = (Σ p log(p/q)) / total + log(Σq / total)`.
    static func klDivergence(_ counts: UnsafeBufferPointer<Double>, bins: Int, outliers: Double, levels: Int,
                             total: Double) -> Double {
        let groups = min(levels, bins), merged = bins / groups
        let smoothing = 1e-4
        var weightedLog = 0.0, quantizedTotal = 0.0
        for group in 0..<groups {
            let start = group * merged, stop = group == groups - 1 ? bins : start + merged
            var groupCount = 0.0, occupied = 0
            for bin in start..<stop {
                groupCount += counts[bin]
                let p = counts[bin] + (bin == bins - 1 ? outliers : 0)
                if p > 0 { occupied += 1 }
            }
            let spread = groupCount > 0 ? groupCount / Double(occupied) : smoothing
            for bin in start..<stop {
                let p = counts[bin] + (bin == bins - 1 ? outliers : 0)
                guard p > 0 else { continue }
                weightedLog += p * log(p / spread)
                quantizedTotal += spread
            }
        }
        return weightedLog / total + log(quantizedTotal / total)
    }
}
