// MSEObserver: the clipping range that minimises the expected quantization error, estimated from a running
// histogram for the bit width asked for — clipping trades a few large errors for a finer step everywhere else.
import Tensors

/// Searches clipping ranges and keeps the one with the least expected squared error `E[(x − x̂)²]`, where
/// `x̂ = S · (clamp(rint(x/S) + Z, Qmin, Qmax) − Z)` with `(S, Z)` from `QuantizationParameters.compute` of the
/// candidate range and the given bits, signedness, symmetry and narrow range.
///
/// The expectation is taken over the histogram (see `Histogram`, `bins` per side): every non-empty bin counts as
/// its mass placed at its centre, clamped to the data's `[min, max]` (as NVIDIA's pytorch-quantization `mse`
/// calibrator), so the error is `Σ_bins n_b · (c_b − x̂(c_b))²`.
///
/// Candidates (`N = candidates`, default 100), from the data's range widened to 0, `[lo, hi]`:
/// - symmetric: `[−T_k, T_k] ∩ [lo, hi]` with `T_k = max|x| · k/N`, `k = N, N−1, …, 1`;
/// - affine: coordinate descent, two rounds of: `hi_k = hi · k/N` with the lower end fixed, then
///   `lo_k = lo · k/N` with the upper end fixed.
/// Ties keep the wider range, so `k = N` (plain min/max) wins unless clipping strictly helps. A lone far outlier is
/// mostly kept, because clipping it costs its whole distance squared; clipping wins once the bulk's rounding error
/// outweighs that — fewer bits, more values, nearer outliers (uniform [−1, 1] ×10 000 plus 10: T = 9.6 at 8 bits,
/// T = 1 at 4 bits).
///
/// [1] Banner et al., "Post-training 4-bit quantization of convolution networks for rapid-deployment",
///     NeurIPS 2019; Wu et al., "Integer Quantization for Deep Learning Inference", NVIDIA, 2020.
public final class MSEObserver: Observer {
    /// nil for per-tensor statistics, else the channel axis.
    public let axis: Int?
    /// Candidate thresholds per search direction (default 100).
    public let candidates: Int
    /// Histogram bins on each side of 0 (default 2048).
    public let bins: Int
    /// `"mse"`, the CLI's name for it.
    public var name: String { ObserverKind.mse.rawValue }
    private var recorder: HistogramRecorder

    /// Creates an empty observer with 100 candidates and 2048 bins per side.
    public convenience init(axis: Int? = nil) {
        self.init(unchecked: axis, candidates: 100, bins: 2048)
    }

    /// Creates an empty observer with `candidates` thresholds and `bins` bins per side.
    ///
    /// - Throws: `ShrinkError(.value)` when `candidates < 1` or `bins < 2`.
    public convenience init(axis: Int? = nil, candidates: Int, bins: Int = 2048) throws {
        guard candidates >= 1 else {
            throw ShrinkError(.value, "the mse observer needs ≥ 1 candidate threshold, got \(candidates)")
        }
        guard bins >= 2 else { throw ShrinkError(.value, "the mse observer needs ≥ 2 bins, got \(bins)") }
        self.init(unchecked: axis, candidates: candidates, bins: bins)
    }

    private init(unchecked axis: Int?, candidates: Int, bins: Int) {
        self.axis = axis
        self.candidates = candidates
        self.bins = bins
        recorder = HistogramRecorder(axis: axis, binsPerSide: bins)
    }

    /// Adds the tensor to the histogram (one per channel), widening it first if needed; see `Observer.observe`.
    public func observe(_ tensor: Tensor) throws {
        try recorder.observe(tensor, observer: name)
    }

    /// `QuantizationParameters.compute` of each channel's error-minimising range.
    public func computeParameters(bits: Int, signed: Bool, symmetric: Bool, narrowRange: Bool) throws
        -> QuantizationParameters {
        let integers = try QuantizationParameters.integerRange(bits: bits, signed: signed, narrowRange: narrowRange)
        let histograms = try recorder.requireData(observer: name)
        let ranges = histograms.map { histogram in
            let search = ClippingSearch(histogram: histogram, integers: integers, signed: signed, symmetric: symmetric)
            return symmetric ? search.bestSymmetric(candidates: candidates) : search.bestAffine(candidates: candidates)
        }
        return try .compute(minimums: ranges.map(\.low), maximums: ranges.map(\.high), axis: axis, bits: bits,
                            signed: signed, symmetric: symmetric, narrowRange: narrowRange)
    }

    /// Forgets everything observed; the settings stay.
    public func reset() { recorder.reset() }

    /// The settings and a summary of what was recorded, for logs.
    public var description: String {
        "MSEObserver(axis: \(axis.map(String.init) ?? "nil"), candidates: \(candidates), bins: \(bins), "
            + "channels: \(recorder.histograms.count))"
    }
}

/// The expected-error search of `MSEObserver` over one channel's histogram.
struct ClippingSearch {
    let histogram: Histogram
    let integers: ClosedRange<Int>
    let signed: Bool
    let symmetric: Bool
    /// Centres (clamped to the data) and counts of the non-empty bins.
    private let centres: [Float]
    private let masses: [Double]

    init(histogram: Histogram, integers: ClosedRange<Int>, signed: Bool, symmetric: Bool) {
        self.histogram = histogram
        self.integers = integers
        self.signed = signed
        self.symmetric = symmetric
        var centres = [Float](), masses = [Double]()
        for (bin, count) in histogram.counts.enumerated() where count > 0 {
            let centre = Float((Double(bin - histogram.binsPerSide) + 0.5) * histogram.binWidth)
            centres.append(min(max(centre, histogram.minimum), histogram.maximum))
            masses.append(count)
        }
        self.centres = centres
        self.masses = masses
    }

    /// `Σ n_b · (c_b − x̂(c_b))²` for the parameters of `[low, high]`.
    func expectedError(low: Float, high: Float) -> Double {
        let (scale, zeroPoint) = QuantizationParameters.scaleAndZeroPoint(
            minimum: low, maximum: high, range: integers, signed: signed, symmetric: symmetric)
        let zero = Float(zeroPoint), lowest = Float(integers.lowerBound), highest = Float(integers.upperBound)
        var total = 0.0
        for index in centres.indices {
            let centre = centres[index]
            let code = min(max((centre / scale).rounded(.toNearestOrEven) + zero, lowest), highest)
            let difference = Double(centre - scale * (code - zero))
            total += masses[index] * difference * difference
        }
        return total
    }

    /// The best `[−T_k, T_k] ∩ data` (see `MSEObserver`).
    func bestSymmetric(candidates: Int) -> (low: Float, high: Float) {
        let largest = histogram.maximumAbsolute
        var best = clippedRange(histogram, threshold: largest)
        var bestError = expectedError(low: best.low, high: best.high)
        for k in stride(from: candidates - 1, through: 1, by: -1) {
            let range = clippedRange(histogram, threshold: largest * Float(k) / Float(candidates))
            let error = expectedError(low: range.low, high: range.high)
            if error < bestError { (best, bestError) = (range, error) }
        }
        return best
    }

    /// The best `[lo, hi]` by two rounds of coordinate descent (see `MSEObserver`).
    func bestAffine(candidates: Int) -> (low: Float, high: Float) {
        let lowest = min(histogram.minimum, 0), highest = max(histogram.maximum, 0)
        var low = lowest, high = highest
        var bestError = expectedError(low: low, high: high)
        for _ in 0..<2 {
            for k in stride(from: candidates, through: 1, by: -1) where highest > 0 {
                let candidate = highest * Float(k) / Float(candidates)
                let error = expectedError(low: low, high: candidate)
                if error < bestError { (high, bestError) = (candidate, error) }
            }
            for k in stride(from: candidates, through: 1, by: -1) where lowest < 0 {
                let candidate = lowest * Float(k) / Float(candidates)
                let error = expectedError(low: candidate, high: high)
                if error < bestError { (low, bestError) = (candidate, error) }
            }
        }
        return (low, high)
    }
}
