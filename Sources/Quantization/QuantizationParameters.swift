// QuantizationParameters: the scale(s), zero point(s), bit width, signedness and channel axis that map integers to
// reals, `R = S · (Q − Z)`, with the validation every constructor and decoder goes through.
// Computing them from observed ranges lives in QuantizationParameters+Compute.swift.
import Tensors

/// The affine map between a tensor's real values and its integers: `R = S · (Q − Z)`, `Q ∈ [Qmin, Qmax]`.
///
/// Per-tensor (`axis == nil`) parameters hold one scale and one zero point; per-channel parameters hold one of each
/// for every index along `axis` (for OIHW convolution and [out, in] linear weights, `axis: 0`).
///
/// The integer range follows from `bits` and `signed`:
/// - signed: `Qmin = −2^(b−1)`, `Qmax = 2^(b−1) − 1` (int8: −128 … 127);
/// - unsigned: `Qmin = 0`, `Qmax = 2^b − 1` (uint8: 0 … 255);
/// - `narrowRange` drops the lowest code, `Qmin + 1`, so a symmetric grid is exactly symmetric
///   (int8: −127 … 127, as TensorFlow Lite and ONNX Runtime use for weights; uint8: 1 … 255 around 128).
///
/// Every instance is valid: the throwing initialiser (also used when decoding) checks `bits ∈ 2…8`, finite positive
/// scales, zero points inside `[Qmin, Qmax]` and consistent counts.
public struct QuantizationParameters: Sendable, Equatable, Codable {
    /// `S` per channel (one element when per-tensor); finite and > 0.
    public let scales: [Float]
    /// `Z` per channel (one element when per-tensor); inside `[qmin, qmax]`.
    public let zeroPoints: [Int32]
    /// The integer width `b`, 2…8.
    public let bits: Int
    /// Whether integers are two's-complement (`int8`) or unsigned (`uint8`).
    public let signed: Bool
    /// Whether the lowest code is excluded (`Qmin + 1`), giving a range symmetric around the midpoint.
    public let narrowRange: Bool
    /// nil for per-tensor parameters; otherwise the tensor axis whose indices select the scale and zero point.
    public let axis: Int?

    /// The bit widths Shrink quantizes to.
    public static let supportedBits = 2...8

    /// Creates parameters after checking them; every failure is a `ShrinkError` of kind `.value` naming the field.
    ///
    /// - Throws: when `bits ∉ 2…8`; when there is no scale; when `scales` and `zeroPoints` differ in count; when
    ///   per-tensor parameters (`axis == nil`) hold more than one scale; when `axis < 0`; when a scale is not finite
    ///   or not > 0; when a zero point lies outside `[qmin, qmax]`.
    public init(scales: [Float], zeroPoints: [Int32], bits: Int, signed: Bool, narrowRange: Bool = false,
                axis: Int? = nil) throws {
        let range = try Self.integerRange(bits: bits, signed: signed, narrowRange: narrowRange)
        guard !scales.isEmpty else {
            throw ShrinkError(.value, "quantization parameters need at least one scale, got none")
        }
        guard scales.count == zeroPoints.count else {
            throw ShrinkError(.value, "quantization parameters hold \(scales.count) scales but "
                + "\(zeroPoints.count) zero points; expected one of each per channel")
        }
        if let axis {
            guard axis >= 0 else { throw ShrinkError(.value, "quantization axis must be ≥ 0, got \(axis)") }
        } else if scales.count != 1 {
            throw ShrinkError(.value, "per-tensor quantization parameters (axis nil) hold one scale, got "
                + "\(scales.count)")
        }
        if let index = scales.firstIndex(where: { !($0.isFinite && $0 > 0) }) {
            throw ShrinkError(.value, "quantization scale \(index) must be finite and > 0, got \(scales[index])")
        }
        if let index = zeroPoints.firstIndex(where: { !range.contains(Int($0)) }) {
            throw ShrinkError(.value, "quantization zero point \(index) is \(zeroPoints[index]), outside the "
                + "\(bits)-bit \(signed ? "signed" : "unsigned") range \(range.lowerBound)…\(range.upperBound)")
        }
        self.scales = scales
        self.zeroPoints = zeroPoints
        self.bits = bits
        self.signed = signed
        self.narrowRange = narrowRange
        self.axis = axis
    }

    /// Decodes and validates (see `init(scales:zeroPoints:bits:signed:narrowRange:axis:)`), so a model file cannot
    /// smuggle in a zero scale. `narrowRange` may be absent (false).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        try self.init(scales: container.decode([Float].self, forKey: .scales),
                      zeroPoints: container.decode([Int32].self, forKey: .zeroPoints),
                      bits: container.decode(Int.self, forKey: .bits),
                      signed: container.decode(Bool.self, forKey: .signed),
                      narrowRange: container.decodeIfPresent(Bool.self, forKey: .narrowRange) ?? false,
                      axis: container.decodeIfPresent(Int.self, forKey: .axis))
    }

    /// The smallest integer code, `Qmin` (see the type's documentation).
    public var qmin: Int { Self.unsafeRange(bits: bits, signed: signed, narrowRange: narrowRange).lowerBound }
    /// The largest integer code, `Qmax`.
    public var qmax: Int { Self.unsafeRange(bits: bits, signed: signed, narrowRange: narrowRange).upperBound }
    /// The number of channels: 1 when per-tensor, else the extent of `axis` these parameters fit.
    public var channelCount: Int { scales.count }
    /// Whether the parameters are per-channel (`axis != nil`).
    public var isPerChannel: Bool { axis != nil }

    /// `Qmin…Qmax` for a bit width and signedness.
    ///
    /// signed: `−2^(b−1) (+1 if narrow) … 2^(b−1) − 1`; unsigned: `0 (1 if narrow) … 2^b − 1`.
    /// - Throws: `ShrinkError(.value)` naming `bits` when it is outside 2…8.
    public static func integerRange(bits: Int, signed: Bool, narrowRange: Bool = false) throws -> ClosedRange<Int> {
        guard supportedBits.contains(bits) else {
            throw ShrinkError(.value, "quantization bits must be in \(supportedBits.lowerBound)…"
                + "\(supportedBits.upperBound), got \(bits)")
        }
        return unsafeRange(bits: bits, signed: signed, narrowRange: narrowRange)
    }

    /// The range for bits already checked.
    static func unsafeRange(bits: Int, signed: Bool, narrowRange: Bool) -> ClosedRange<Int> {
        let lowest = signed ? -(1 << (bits - 1)) : 0
        let highest = signed ? (1 << (bits - 1)) - 1 : (1 << bits) - 1
        return (lowest + (narrowRange ? 1 : 0))...highest
    }
}

extension QuantizationParameters: CustomStringConvertible {
    /// `int8 per-tensor S=0.0157 Z=0` or `uint4 narrow per-channel(axis 0, 3 channels) S=[…] Z=[…]`.
    public var description: String {
        let type = "\(signed ? "int" : "uint")\(bits)\(narrowRange ? " narrow" : "")"
        guard let axis else { return "\(type) per-tensor S=\(scales[0]) Z=\(zeroPoints[0])" }
        let shownScales = scales.prefix(4).map { "\($0)" }.joined(separator: ", ")
        let shownZeros = zeroPoints.prefix(4).map { "\($0)" }.joined(separator: ", ")
        let more = scales.count > 4 ? ", …" : ""
        return "\(type) per-channel(axis \(axis), \(scales.count) channels) S=[\(shownScales)\(more)] "
            + "Z=[\(shownZeros)\(more)]"
    }
}
