// QuantizedTensor: integer codes with the parameters that give them meaning, R = S · (Q − Z).
// Storage decision: codes are kept as Int32 in memory for simplicity (one type for every bit width and signedness);
// `int8Values`/`uint8Values` narrow them for kernels and files. Bit-packed storage of 2–7-bit codes belongs to the
// model file (IntegerWeightTensor), not to this in-memory type.
import Tensors

/// A tensor of integer codes `Q` with their `QuantizationParameters`; the real value of code `Q` in channel `c` is
/// `R = S[c] · (Q − Z[c])`.
///
/// Shapes and layout are those of `Tensor` (row-major); `values.count` is the product of `shape`. Every instance is
/// valid: every code lies in `[parameters.qmin, parameters.qmax]`, and per-channel parameters have one scale per
/// index along `parameters.axis`. Build one with `quantize(_:with:)`, or with the throwing initialiser from stored
/// codes.
public struct QuantizedTensor: Sendable, Equatable {
    /// The extent of each dimension.
    public let shape: [Int]
    /// The integer codes in row-major order, each in `[parameters.qmin, parameters.qmax]`.
    public let values: [Int32]
    /// Scale(s), zero point(s), bit width, signedness and channel axis.
    public let parameters: QuantizationParameters

    /// Wraps stored codes after checking them.
    ///
    /// - Throws: `ShrinkError(.shape)` when a dimension is negative, `values.count` is not the product of `shape`,
    ///   the axis is out of range or its extent differs from the number of scales; `ShrinkError(.value)` when a code
    ///   lies outside `[qmin, qmax]`.
    public init(shape: [Int], values: [Int32], parameters: QuantizationParameters) throws {
        guard shape.allSatisfy({ $0 >= 0 }), shape.reduce(1, *) == values.count else {
            throw ShrinkError(.shape, "a quantized tensor of shape \(shape) needs \(shape.reduce(1, *)) values, "
                + "got \(values.count)")
        }
        _ = try checkedLayout(shape: shape, parameters: parameters)
        let range = Int32(parameters.qmin)...Int32(parameters.qmax)
        if let index = values.firstIndex(where: { !range.contains($0) }) {
            throw ShrinkError(.value, "quantized value \(index) is \(values[index]), outside the range "
                + "\(range.lowerBound)…\(range.upperBound) of \(parameters)")
        }
        self.init(unchecked: shape, values: values, parameters: parameters)
    }

    /// Wraps codes the caller has produced inside the range (quantize).
    init(unchecked shape: [Int], values: [Int32], parameters: QuantizationParameters) {
        self.shape = shape
        self.values = values
        self.parameters = parameters
    }

    /// The number of elements.
    public var count: Int { values.count }

    /// The codes as `Int8`, for signed parameters of any width and unsigned ones of at most 7 bits.
    ///
    /// - Throws: `ShrinkError(.unsupported)` when `[qmin, qmax]` does not fit in −128…127 (uint8 codes).
    public var int8Values: [Int8] {
        get throws {
            guard parameters.qmin >= Int(Int8.min), parameters.qmax <= Int(Int8.max) else {
                throw ShrinkError(.unsupported, "codes in \(parameters.qmin)…\(parameters.qmax) (\(parameters)) "
                    + "do not fit in Int8")
            }
            return values.map { Int8(truncatingIfNeeded: $0) }
        }
    }

    /// The codes as `UInt8`, for unsigned parameters (`qmin ≥ 0`).
    ///
    /// - Throws: `ShrinkError(.unsupported)` when `qmin < 0` (signed codes).
    public var uint8Values: [UInt8] {
        get throws {
            guard parameters.qmin >= 0, parameters.qmax <= Int(UInt8.max) else {
                throw ShrinkError(.unsupported, "codes in \(parameters.qmin)…\(parameters.qmax) (\(parameters)) "
                    + "do not fit in UInt8")
            }
            return values.map { UInt8(truncatingIfNeeded: $0) }
        }
    }
}

extension QuantizedTensor: CustomStringConvertible {
    /// `QuantizedTensor[2, 3](64, 0, 255, …) uint8 per-tensor S=0.015686275 Z=64`, at most eight codes shown.
    public var description: String {
        let shown = values.prefix(8).map { String($0) }.joined(separator: ", ")
        return "QuantizedTensor\(shape)(\(shown)\(count > 8 ? ", …" : "")) \(parameters)"
    }
}

/// The channel layout of `shape` under `parameters`, checked to have one channel per scale.
///
/// - Throws: `ShrinkError(.shape)` when the axis is out of range or its extent differs from the number of scales.
func checkedLayout(shape: [Int], parameters: QuantizationParameters) throws -> ChannelLayout {
    let layout = try ChannelLayout(shape: shape, axis: parameters.axis)
    guard layout.channels == parameters.channelCount else {
        throw ShrinkError(.shape, "per-channel quantization parameters hold \(parameters.channelCount) scales but "
            + "axis \(parameters.axis ?? 0) of the tensor of shape \(shape) has \(layout.channels) channels")
    }
    return layout
}
