// MovingAverageMinMaxObserver: an exponential moving average of each batch's minimum and maximum, so a rare extreme
// batch moves the range only a little.
import Tensors

/// Averages batch extrema: the first batch sets `Rmin, Rmax`; every later batch with minimum `m` and maximum `M`
/// updates `Rmin ← Rmin + c · (m − Rmin)`, `Rmax ← Rmax + c · (M − Rmax)` (per channel when `axis` is set).
///
/// With the default `c = 0.01` a batch holding an outlier 100× the usual range moves `Rmax` by about 1% of the
/// difference. A channel without elements in a batch keeps its value. The parameters are
/// `QuantizationParameters.compute` of the averaged range.
///
/// [1] PyTorch `MovingAverageMinMaxObserver` (`averaging_constant = 0.01`), torch/ao/quantization/observer.py.
public final class MovingAverageMinMaxObserver: Observer {
    /// nil for per-tensor statistics, else the channel axis.
    public let axis: Int?
    /// The weight `c ∈ (0, 1]` of each new batch.
    public let averagingConstant: Float
    /// `"moving-average"`, the CLI's name for it.
    public var name: String { ObserverKind.movingAverage.rawValue }
    /// The averaged minimum per channel; empty before the first `observe`, `+∞` for a channel not yet seen.
    public private(set) var minimums: [Float] = []
    /// The averaged maximum per channel; `−∞` for a channel not yet seen.
    public private(set) var maximums: [Float] = []

    /// Creates an empty observer with `c = 0.01`.
    public convenience init(axis: Int? = nil) {
        self.init(unchecked: axis, averagingConstant: 0.01)
    }

    /// Creates an empty observer with averaging constant `c`.
    ///
    /// - Throws: `ShrinkError(.value)` when `c` is not in `(0, 1]`.
    public convenience init(axis: Int? = nil, averagingConstant: Float) throws {
        guard averagingConstant > 0, averagingConstant <= 1 else {
            throw ShrinkError(.value, "the moving-average observer's averaging constant must be in (0, 1], got "
                + "\(averagingConstant)")
        }
        self.init(unchecked: axis, averagingConstant: averagingConstant)
    }

    private init(unchecked axis: Int?, averagingConstant: Float) {
        self.axis = axis
        self.averagingConstant = averagingConstant
    }

    /// Averages the tensor's (per-channel) minimum and maximum into the range; see `Observer.observe`.
    public func observe(_ tensor: Tensor) throws {
        let batch = try channelExtrema(of: tensor, axis: axis, context: "the \(name) observer")
        guard !minimums.isEmpty else {
            (minimums, maximums) = batch
            return
        }
        try checkChannelCount(batch.minimums.count, recorded: minimums.count, observer: name, axis: axis)
        let c = averagingConstant
        for channel in minimums.indices where batch.minimums[channel] <= batch.maximums[channel] {
            if minimums[channel] <= maximums[channel] {
                minimums[channel] += c * (batch.minimums[channel] - minimums[channel])
                maximums[channel] += c * (batch.maximums[channel] - maximums[channel])
            } else {
                minimums[channel] = batch.minimums[channel]
                maximums[channel] = batch.maximums[channel]
            }
        }
    }

    /// `QuantizationParameters.compute` of the averaged range.
    public func computeParameters(bits: Int, signed: Bool, symmetric: Bool, narrowRange: Bool) throws
        -> QuantizationParameters {
        guard !minimums.isEmpty, zip(minimums, maximums).allSatisfy({ $0 <= $1 }) else { throw noDataError(name) }
        return try .compute(minimums: minimums, maximums: maximums, axis: axis, bits: bits, signed: signed,
                            symmetric: symmetric, narrowRange: narrowRange)
    }

    /// Forgets everything observed; the settings stay.
    public func reset() {
        minimums = []
        maximums = []
    }

    /// The settings and a summary of what was recorded, for logs.
    public var description: String {
        "MovingAverageMinMaxObserver(axis: \(axis.map(String.init) ?? "nil"), c: \(averagingConstant), "
            + "minimums: \(minimums.prefix(4)), maximums: \(maximums.prefix(4)))"
    }
}
