// MinMaxObserver: the running minimum and maximum of everything observed, per tensor or per channel.
import Tensors

/// Keeps `Rmin = min over all observed x`, `Rmax = max over all observed x` (per channel along `axis` when set).
///
/// The parameters are `QuantizationParameters.compute` of exactly that range, so nothing is clipped: a single
/// outlier stretches the scale for every other value. The choice for weights (per-channel, axis 0) and the baseline
/// for activations.
///
/// [1] PyTorch `MinMaxObserver` / `PerChannelMinMaxObserver`, torch/ao/quantization/observer.py.
public final class MinMaxObserver: Observer {
    /// nil for per-tensor statistics, else the channel axis.
    public let axis: Int?
    /// `"minmax"`, the CLI's name for it.
    public var name: String { ObserverKind.minmax.rawValue }
    /// The running minimum per channel (one element when per-tensor); empty before the first `observe`,
    /// `+∞` for a channel that has seen no element.
    public private(set) var minimums: [Float] = []
    /// The running maximum per channel; `−∞` for a channel that has seen no element.
    public private(set) var maximums: [Float] = []

    /// Creates an empty observer; `axis` nil for per-tensor statistics.
    public init(axis: Int? = nil) {
        self.axis = axis
    }

    /// Updates the running range with the tensor's (per-channel) minimum and maximum; see `Observer.observe`.
    public func observe(_ tensor: Tensor) throws {
        let batch = try channelExtrema(of: tensor, axis: axis, context: "the \(name) observer")
        guard !minimums.isEmpty else {
            (minimums, maximums) = batch
            return
        }
        try checkChannelCount(batch.minimums.count, recorded: minimums.count, observer: name, axis: axis)
        for channel in minimums.indices {
            minimums[channel] = min(minimums[channel], batch.minimums[channel])
            maximums[channel] = max(maximums[channel], batch.maximums[channel])
        }
    }

    /// `QuantizationParameters.compute` of the running range.
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
        "MinMaxObserver(axis: \(axis.map(String.init) ?? "nil"), minimums: \(minimums.prefix(4)), "
            + "maximums: \(maximums.prefix(4)))"
    }
}
