// Histogram: the running histogram the percentile, MSE and entropy observers record — symmetric around 0 so that a
// histogram of |x| is an exact fold of the histogram of x, and widened by exact bin merging when data outgrows it.
import Tensors

/// A histogram of `x` over `[−limit, limit]` with `binsPerSide` bins of width `w = limit / binsPerSide` on each
/// side of 0, plus the exact extrema.
///
/// Signed bin `s ∈ 0..<2B` (B = `binsPerSide`) spans `(s − B)·w … (s − B + 1)·w`: `x ≥ 0` goes to bin
/// `B + ⌊x/w⌋`, `x < 0` to bin `B − 1 − ⌊|x|/w⌋`. Because 0 is a bin edge, the histogram of `|x|` is exact:
/// `absolute[k] = counts[B + k] + counts[B − 1 − k]`, covering `[k·w, (k+1)·w)`.
///
/// Growth: the first non-zero data sets `limit` to the next Double above `max|x|`, so every value lies strictly
/// inside; when later data reaches it, `limit` doubles (merging bins in pairs: new bin `j` = old bins `2j` and
/// `2j + 1`) until the data lies strictly inside again. Unlike PyTorch's HistogramObserver, which re-bins by
/// interpolation, merging moves no count across a bin boundary, so the result does not depend on how the data was
/// split into batches beyond where the first limit fell. While `limit == 0` every value seen was 0 and sits in bin B.
struct Histogram: Equatable {
    let binsPerSide: Int
    /// `2 · binsPerSide` counts, most negative first.
    private(set) var counts: [Double]
    private(set) var limit: Double = 0
    private(set) var minimum = Float.infinity
    private(set) var maximum = -Float.infinity
    private(set) var total: Double = 0
    /// How many of the values were exactly 0 (they sit in the two central bins).
    private(set) var zeros: Double = 0

    init(binsPerSide: Int) {
        self.binsPerSide = binsPerSide
        counts = [Double](repeating: 0, count: 2 * binsPerSide)
    }

    /// The bin width `w` (0 while only zeros have been seen).
    var binWidth: Double { limit / Double(binsPerSide) }
    /// The largest absolute value seen (0 before any value).
    var maximumAbsolute: Float { total > 0 ? max(-minimum, maximum) : 0 }

    /// Widens the range to cover `[low, high]` (finite, `low ≤ high`) before those values are added.
    mutating func include(low: Float, high: Float) {
        guard low <= high else { return }
        minimum = min(minimum, low)
        maximum = max(maximum, high)
        let needed = Double(max(-low, high, 0))
        if limit == 0 {
            limit = needed > 0 ? needed.nextUp : 0
            return
        }
        let bins = binsPerSide
        while limit <= needed {
            limit *= 2
            if counts[bins] + counts[bins - 1] == total {
                continue  // everything already sits in the two central bins
            }
            counts.withUnsafeMutableBufferPointer { c in
                for j in 0..<bins {  // positive side: bin B + j ← B + 2j, B + 2j + 1
                    let a = 2 * j, b = 2 * j + 1
                    c[bins + j] = (a < bins ? c[bins + a] : 0) + (b < bins ? c[bins + b] : 0)
                    c[bins - 1 - j] = (a < bins ? c[bins - 1 - a] : 0) + (b < bins ? c[bins - 1 - b] : 0)
                }
            }
        }
    }

    /// Adds `values[range]`, all within `[minimum, maximum]` announced through `include`.
    @inline(__always)
    mutating func add(_ values: UnsafeBufferPointer<Float>, _ range: Range<Int>) {
        let bins = binsPerSide, inverseWidth = limit > 0 ? Double(bins) / limit : 0
        var zeroCount = 0
        counts.withUnsafeMutableBufferPointer { c in
            for index in range {
                let value = Double(values[index])
                let offset = min(Int(abs(value) * inverseWidth), bins - 1)
                c[value < 0 ? bins - 1 - offset : bins + offset] += 1
                if value == 0 { zeroCount += 1 }
            }
        }
        total += Double(range.count)
        zeros += Double(zeroCount)
    }

    /// The histogram of `|x|`: `binsPerSide` counts, bin `k` covering `[k·w, (k+1)·w)`.
    var absoluteCounts: [Double] {
        (0..<binsPerSide).map { counts[binsPerSide + $0] + counts[binsPerSide - 1 - $0] }
    }

    /// The real value at signed bin edge `e ∈ 0…2B`: `(e − B)·w`.
    func edge(_ signedEdge: Int) -> Float { Float(Double(signedEdge - binsPerSide) * binWidth) }
}

/// One `Histogram` per channel (a single one when per-tensor), filled from tensors along an axis; shared by the
/// percentile, MSE and entropy observers.
struct HistogramRecorder {
    let axis: Int?
    let binsPerSide: Int
    private(set) var histograms: [Histogram] = []

    init(axis: Int?, binsPerSide: Int) {
        self.axis = axis
        self.binsPerSide = binsPerSide
    }

    /// Records `tensor` (see `Observer.observe`); on a throw nothing is recorded.
    mutating func observe(_ tensor: Tensor, observer name: String) throws {
        let layout = try ChannelLayout(shape: tensor.shape, axis: axis)
        let batch = try channelExtrema(of: tensor, axis: axis, context: "the \(name) observer")
        if histograms.isEmpty {
            histograms = Array(repeating: Histogram(binsPerSide: binsPerSide), count: layout.channels)
        }
        try checkChannelCount(layout.channels, recorded: histograms.count, observer: name, axis: axis)
        for channel in histograms.indices {
            histograms[channel].include(low: batch.minimums[channel], high: batch.maximums[channel])
        }
        tensor.withUnsafeBufferPointer { values in
            layout.forEachRun { channel, start in histograms[channel].add(values, start..<(start + layout.inner)) }
        }
    }

    /// The histograms, or the observer's no-data error when some channel has seen nothing.
    func requireData(observer name: String) throws -> [Histogram] {
        guard !histograms.isEmpty, histograms.allSatisfy({ $0.total > 0 }) else { throw noDataError(name) }
        return histograms
    }

    mutating func reset() { histograms = [] }
}

/// The clipping range for a threshold `T ≥ 0` on `|x|`: `[max(min(Rmin, 0), −T), min(max(Rmax, 0), T)]` — the
/// data's range widened to 0 (as `QuantizationParameters.compute` will) and cut at ±T, never wider than the data.
func clippedRange(_ histogram: Histogram, threshold: Float) -> (low: Float, high: Float) {
    (max(min(histogram.minimum, 0), -threshold), min(max(histogram.maximum, 0), threshold))
}
