// WeightQuantization: how conv and linear weights become integers — symmetric, narrow range (−(2^(b−1) − 1) …
// 2^(b−1) − 1, so that −W quantizes to −Q), one scale per output channel or one per tensor, the clipping range
// chosen by an observer (min/max by default; MSE-optimal clipping pays off at 4 bits and below).
import NeuralNetworks
import Tensors

/// One scale per tensor, or one per output channel (axis 0 of `[out, in]` and `[out, in/groups, k, k]` weights).
public enum Granularity: String, CaseIterable, Codable, Sendable, NamedChoice {
    public static let choiceName = "granularity"
    case perTensor = "per-tensor"
    case perChannel = "per-channel"

}

/// How weights are quantized: bit width, granularity and the observer that picks each clipping range.
///
/// Encoded, the observer is its name (`"observer": "minmax"`).
public struct WeightScheme: Codable, Sendable, Equatable {
    public var bits: Int
    public var granularity: Granularity
    /// Chooses each clipping range: a built-in observer or a user-defined one (`ObserverChoice.custom`).
    public var observer: ObserverChoice

    /// - Throws: `ShrinkError(.value)` when `bits ∉ 2…8`.
    public init(bits: Int = 8, granularity: Granularity = .perChannel, observer: ObserverKind = .minmax) throws {
        try self.init(bits: bits, granularity: granularity, observer: .builtIn(observer))
    }

    /// A scheme whose clipping ranges come from `observer`, built-in or user-defined.
    ///
    /// - Throws: `ShrinkError(.value)` when `bits ∉ 2…8`, or for a custom observer named like a built-in one.
    @_disfavoredOverload
    public init(bits: Int = 8, granularity: Granularity = .perChannel, observer: ObserverChoice) throws {
        guard (2...8).contains(bits) else { throw ShrinkError(.value, "weight bits must be in 2…8, got \(bits)") }
        try observer.validate()
        self.bits = bits
        self.granularity = granularity
        self.observer = observer
    }

    /// Quantizes one weight tensor (`[out, …]`).
    ///
    /// - Throws: `ShrinkError(.value)` for a NaN or infinite weight (from the observer), or a custom observer that
    ///   gives parameters of another granularity than asked (one scale per output channel, or one in all).
    public func quantize(_ weight: Tensor) throws -> IntegerWeightTensor {
        let channels = weight.shape[0], depth = weight.count / max(channels, 1)
        let matrix = weight.reshaped([channels, depth])
        let observer = try observer.makeChecked(axis: granularity == .perChannel ? 0 : nil)
        try observer.observe(matrix)
        let parameters = try observer.computeParameters(bits: bits, signed: true, symmetric: true, narrowRange: true)
        let expected = granularity == .perChannel ? channels : 1
        guard parameters.scales.count == expected, parameters.axis == (granularity == .perChannel ? 0 : nil),
              parameters.bits == bits, parameters.signed, parameters.narrowRange,
              parameters.zeroPoints.allSatisfy({ $0 == 0 }) else {
            throw ShrinkError(.value, "the observer '\(self.observer.name)' gave \(parameters) for a \(bits)-bit "
                + "\(granularity.rawValue) weight of \(channels) channels; expected \(expected) symmetric, signed, "
                + "narrow-range \(bits)-bit scale(s) with zero point 0")
        }
        let codes = try Quantization.quantize(matrix, with: parameters).values.map { Int8($0) }
        return try IntegerWeightTensor(shape: weight.shape, values: codes, scales: parameters.scales, bits: bits,
                                       perChannel: granularity == .perChannel)
    }
}
