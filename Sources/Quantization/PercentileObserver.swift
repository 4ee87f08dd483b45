// PercentileObserver: clips the range at a percentile of a running histogram, so the rarest outliers
// (by default the top 0.01%) no longer set the scale.
import Tensors

/// Chooses `[Rmin, Rmax]` from a histogram (see `Histogram`: `bins` bins on each side of 0) by cutting off the
/// tails that hold `(100 − p)%` of the observed values.
///
/// - symmetric: `T` = the upper edge of the first bin, counting down the histogram of `|x|`, at which more than
///   `(100 − p)% · n` values lie at or above it; the range is `[−T, T]` clamped to the data.
/// - affine: the same on the signed histogram with `(100 − p)/2 %` cut from each tail (as ONNX Runtime's
///   percentile calibrator); lower edge of the lowest kept bin, upper edge of the highest.
///
/// Cutting whole bins means at most `(100 − p)%` of the values are clipped, and the range is never wider than the
/// data's `[min, max]`. Resolution is one bin, `w = limit / bins` (see `Histogram` for how `limit` grows).
/// Example: 10 000 values uniform in [−1, 1] and one at 100, p = 99.99: up to 10 001 · 0.01% ≈ 1 value may be cut,
/// so the outlier goes and `T = 21 · (100/2048) ≈ 1.025`, where min/max would give 100.
///
/// [1] McKinstry et al., "Discovering Low-Precision Networks Close to Full-Precision Networks for Efficient
///     Embedded Inference", 2018; Wu et al., "Integer Quantization for Deep Learning Inference", NVIDIA, 2020.
public final class PercentileObserver: Observer {
    /// nil for per-tensor statistics, else the channel axis.
    public let axis: Int?
    /// The percentile `p ∈ (0, 100]` of values kept (default 99.99).
    public let percentile: Double
    /// Histogram bins on each side of 0 (default 2048).
    public let bins: Int
    /// `"percentile"`, the CLI's name for it.
    public var name: String { ObserverKind.percentile.rawValue }
    private var recorder: HistogramRecorder

    /// Creates an empty observer keeping the 99.99th percentile, with 2048 bins per side.
    public convenience init(axis: Int? = nil) {
        self.init(unchecked: axis, percentile: 99.99, bins: 2048)
    }

    /// Creates an empty observer keeping percentile `p` with `bins` bins per side.
    ///
    /// - Throws: `ShrinkError(.value)` when `p ∉ (0, 100]` or `bins < 2`.
    public convenience init(axis: Int? = nil, percentile: Double, bins: Int = 2048) throws {
        guard percentile > 0, percentile <= 100 else {
            throw ShrinkError(.value, "the percentile observer's percentile must be in (0, 100], got \(percentile)")
        }
        guard bins >= 2 else { throw ShrinkError(.value, "the percentile observer needs ≥ 2 bins, got \(bins)") }
        self.init(unchecked: axis, percentile: percentile, bins: bins)
    }

    private init(unchecked axis: Int?, percentile: Double, bins: Int) {
        self.axis = axis
        self.percentile = percentile
        self.bins = bins
        recorder = HistogramRecorder(axis: axis, binsPerSide: bins)
    }

    /// Adds the tensor to the histogram (one per channel), widening it first if needed; see `Observer.observe`.
    public func observe(_ tensor: Tensor) throws {
        try recorder.observe(tensor, observer: name)
    }

    /// `QuantizationParameters.compute` of the percentile range of each channel's histogram.
    public func computeParameters(bits: Int, signed: Bool, symmetric: Bool, narrowRange: Bool) throws
        -> QuantizationParameters {
        let histograms = try recorder.requireData(observer: name)
        let ranges = histograms.map { symmetric ? symmetricRange($0) : affineRange($0) }
        return try .compute(minimums: ranges.map(\.low), maximums: ranges.map(\.high), axis: axis, bits: bits,
                            signed: signed, symmetric: symmetric, narrowRange: narrowRange)
    }

    /// Forgets everything observed; the settings stay.
    public func reset() { recorder.reset() }

    /// The settings and a summary of what was recorded, for logs.
    public var description: String {
        "PercentileObserver(axis: \(axis.map(String.init) ?? "nil"), percentile: \(percentile), bins: \(bins), "
            + "channels: \(recorder.histograms.count))"
    }

    /// `[−T, T]` ∩ data, `T` the percentile of `|x|`.
    private func symmetricRange(_ histogram: Histogram) -> (low: Float, high: Float) {
        let absolute = histogram.absoluteCounts
        let allowed = histogram.total * (100 - percentile) / 100
        var above = 0.0
        for bin in stride(from: absolute.count - 1, through: 0, by: -1) {
            above += absolute[bin]
            if above > allowed {
                return clippedRange(histogram, threshold: Float(Double(bin + 1) * histogram.binWidth))
            }
        }
        return clippedRange(histogram, threshold: 0)
    }

    /// `[lower, upper]` cutting `(100 − p)/2 %` from each tail of the signed histogram.
    private func affineRange(_ histogram: Histogram) -> (low: Float, high: Float) {
        let counts = histogram.counts
        let allowed = histogram.total * (100 - percentile) / 200
        var lowEdge = 0, highEdge = counts.count
        var below = 0.0
        for bin in counts.indices {
            below += counts[bin]
            if below > allowed { lowEdge = bin; break }
        }
        var above = 0.0
        for bin in counts.indices.reversed() {
            above += counts[bin]
            if above > allowed { highEdge = bin + 1; break }
        }
        return (max(histogram.minimum, histogram.edge(lowEdge)), min(histogram.maximum, histogram.edge(highEdge)))
    }
}
