// Observer: the protocol every calibration statistic implements — record with `observe`, compute (S, Z) separately
// with `computeParameters` — and `ObserverKind`, the names the CLI uses to make one.
// Modelled on PyTorch's torch/ao/quantization/observer.py. Deliberately left out: the `auto` choice, which is a
// search over observers done by the quantization pass, not an observer. A user-defined observer implements the
// protocol and reaches the passes through `ObserverChoice.custom` (ObserverChoice.swift).
import Tensors

/// Records statistics of the tensors flowing through one edge and turns them into quantization parameters.
///
/// `observe` only records (a running min/max, a histogram); `computeParameters` only reads what was recorded and
/// chooses a clipping range `[Rmin, Rmax]`, which `QuantizationParameters.compute(minimums:maximums:axis:…)` turns
/// into `(S, Z)`. An observer with `axis` set keeps one statistic per index along that axis (per-channel); with
/// `axis == nil` one for the whole tensor. Observers are reference types: calibration hands the same instance every
/// batch.
public protocol Observer: AnyObject, CustomStringConvertible {
    /// The name the CLI uses (`ObserverKind.rawValue`): `minmax`, `moving-average`, `percentile`, `mse`, `entropy`;
    /// a user-defined observer's own name (the passes record the `ObserverChoice`'s name).
    var name: String { get }
    /// nil for per-tensor statistics, else the channel axis (0 for OIHW and [out, in] weights, 1 for NCHW
    /// activations).
    var axis: Int? { get }

    /// Records the statistics of one tensor (a batch of activations, or a weight).
    ///
    /// - Throws: `ShrinkError(.value)` when an element is NaN or infinite; `ShrinkError(.shape)` when `axis` is out
    ///   of range or the number of channels differs from earlier tensors. Nothing is recorded when it throws.
    func observe(_ tensor: Tensor) throws

    /// The parameters for what has been observed so far; does not change the recorded statistics.
    ///
    /// - Throws: `ShrinkError(.value)` when nothing has been observed, or when `bits ∉ 2…8`.
    func computeParameters(bits: Int, signed: Bool, symmetric: Bool, narrowRange: Bool) throws
        -> QuantizationParameters

    /// Forgets everything observed, as if newly made (the configuration stays).
    func reset()
}

extension Observer {
    /// `computeParameters` with `narrowRange: false`.
    public func computeParameters(bits: Int, signed: Bool, symmetric: Bool) throws -> QuantizationParameters {
        try computeParameters(bits: bits, signed: signed, symmetric: symmetric, narrowRange: false)
    }
}

/// The observers by name, for the CLI's `--observer` and recipes.
public enum ObserverKind: String, CaseIterable, Sendable, Codable, NamedChoice {
    public static let choiceName = "observer"
    /// `MinMaxObserver`: running minimum and maximum.
    case minmax
    /// `MovingAverageMinMaxObserver`: exponential moving average of batch minima and maxima.
    case movingAverage = "moving-average"
    /// `PercentileObserver`: clips at the 99.99th percentile of a histogram.
    case percentile
    /// `MSEObserver`: the clipping range minimising the expected quantization error.
    case mse
    /// `EntropyObserver`: TensorRT's KL-divergence calibration.
    case entropy

    /// A fresh observer of this kind with its default settings, per-tensor (`axis == nil`) or per-channel.
    public func make(axis: Int? = nil) -> any Observer {
        switch self {
        case .minmax: MinMaxObserver(axis: axis)
        case .movingAverage: MovingAverageMinMaxObserver(axis: axis)
        case .percentile: PercentileObserver(axis: axis)
        case .mse: MSEObserver(axis: axis)
        case .entropy: EntropyObserver(axis: axis)
        }
    }
}

/// The error every observer throws when asked for parameters before it has seen a finite value.
func noDataError(_ name: String) -> ShrinkError {
    ShrinkError(.value, "the \(name) observer has seen no data; observe at least one non-empty tensor before "
        + "computing quantization parameters")
}

/// Checks a new tensor's channel count against the one recorded so far.
func checkChannelCount(_ count: Int, recorded: Int, observer name: String, axis: Int?) throws {
    guard count == recorded else {
        throw ShrinkError(.shape, "the \(name) observer recorded \(recorded) channels along axis \(axis ?? 0) but "
            + "the new tensor has \(count)")
    }
}
