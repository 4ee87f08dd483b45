// Quantize / dequantize: the float ↔ integer maps Q = clamp(rint(R/S) + Z, Qmin, Qmax) and R = S · (Q − Z),
// per-tensor or per-channel along any axis of a tensor of any rank. Choosing S and Z is the observers' job.
import CKernels
import Tensors

/// Maps every element to its integer code: `Q = clamp(rint(R / S) + Z, Qmin, Qmax)`.
///
/// `rint` rounds half to even, as PyTorch's `quantize_per_tensor` and NumPy's `rint` (0.5 → 0, 1.5 → 2, −0.5 → 0).
/// Per-channel parameters use `S[c]`, `Z[c]` for the elements whose index along `parameters.axis` is `c`. Values
/// outside `[S·(Qmin − Z), S·(Qmax − Z)]`, including ±∞, saturate to `Qmin`/`Qmax`; inside, the round trip
/// `dequantize(quantize(R))` is within `S/2` of `R`.
///
/// - Parameters:
///   - tensor: any shape; per-channel parameters need `tensor.shape[axis] == parameters.channelCount`.
/// - Returns: codes of the same shape carrying `parameters`.
/// - Throws: `ShrinkError(.shape)` when the axis does not fit the tensor; `ShrinkError(.value)` naming the index
///   when an element is NaN (it has no integer code).
public func quantize(_ tensor: Tensor, with parameters: QuantizationParameters) throws -> QuantizedTensor {
    let layout = try checkedLayout(shape: tensor.shape, parameters: parameters)
    let lowest = Float(parameters.qmin), highest = Float(parameters.qmax)
    let scales = parameters.scales, zeroPoints = parameters.zeroPoints.map(Float.init)
    var codes = [Int32](repeating: 0, count: tensor.count)
    try tensor.withUnsafeBufferPointer { real in
        try codes.withUnsafeMutableBufferPointer { code in
            try layout.forEachRun { channel, start in
                let scale = scales[channel], zeroPoint = zeroPoints[channel]
                for index in start..<(start + layout.inner) {
                    let value = real[index]
                    guard !value.isNaN else {
                        throw ShrinkError(.value, "cannot quantize element \(index) of the tensor of shape "
                            + "\(tensor.shape): it is NaN")
                    }
                    let shifted = (value / scale).rounded(.toNearestOrEven) + zeroPoint
                    code[index] = Int32(min(max(shifted, lowest), highest))
                }
            }
        }
    }
    return QuantizedTensor(unchecked: tensor.shape, values: codes, parameters: parameters)
}

/// `quantize(tensor, with: parameters)` as bytes, for parameters whose codes fit in UInt8: the same codes (and the
/// same error for a NaN), in one vectorized pass without the Int32 codes when the parameters are per tensor — an
/// integer model's input, quantized on every call.
///
/// - Throws: `ShrinkError(.unsupported)` when the codes do not fit in UInt8; `ShrinkError(.value)` naming the
///   index of a NaN element; as `quantize(_:with:)` for per-channel parameters.
public func quantizeToUInt8(_ tensor: Tensor, with parameters: QuantizationParameters) throws -> [UInt8] {
    guard !parameters.isPerChannel, parameters.scales.count == 1, parameters.qmin >= 0,
          parameters.qmax <= Int(UInt8.max) else {
        return try quantize(tensor, with: parameters).uint8Values
    }
    var codes = [UInt8](repeating: 0, count: tensor.count)
    let nan = tensor.withUnsafeBufferPointer { real in
        codes.withUnsafeMutableBufferPointer { code in
            ck_quantize_u8(real.baseAddress, Int64(real.count), parameters.scales[0], Float(parameters.zeroPoints[0]),
                           Float(parameters.qmin), Float(parameters.qmax), code.baseAddress)
        }
    }
    guard nan < 0 else {
        throw ShrinkError(.value, "cannot quantize element \(nan) of the tensor of shape \(tensor.shape): it is NaN")
    }
    return codes
}

/// Maps every code back to a real value: `R = S · (Q − Z)` (per channel along the axis when per-channel).
///
/// `Q − Z` is exact in Int32; the product is one Float rounding. The result has the shape of `quantized`.
public func dequantize(_ quantized: QuantizedTensor) -> Tensor {
    let parameters = quantized.parameters
    // A QuantizedTensor is valid by construction, so its layout always matches its parameters.
    guard let layout = try? checkedLayout(shape: quantized.shape, parameters: parameters) else {
        preconditionFailure("QuantizedTensor \(quantized.shape) does not match \(parameters)")
    }
    var result = Tensor(uninitialized: quantized.shape)
    quantized.values.withUnsafeBufferPointer { code in
        result.withUnsafeMutableBufferPointer { real in
            layout.forEachRun { channel, start in
                let scale = parameters.scales[channel], zeroPoint = parameters.zeroPoints[channel]
                for index in start..<(start + layout.inner) {
                    real[index] = scale * Float(code[index] - zeroPoint)
                }
            }
        }
    }
    return result
}
