// QuantizationParameters+Compute: the one place where an observed range [Rmin, Rmax] becomes (S, Z) — symmetric or
// affine, per-tensor or per-channel, including the degenerate all-zero range. Observers only choose the range.
import Tensors

extension QuantizationParameters {
    /// The smallest scale ever produced, `ε = 2^−23` (Float32 machine epsilon, PyTorch's `torch.finfo(float32).eps`).
    ///
    /// An all-zero range would give `S = 0`; flooring at ε keeps `1/S` finite and every parameter valid.
    public static let smallestScale = Float.ulpOfOne

    /// Per-tensor parameters for the observed range `[minimum, maximum]`; the formulas are those of
    /// `compute(minimums:maximums:axis:bits:signed:symmetric:narrowRange:)`.
    ///
    /// Example (uint8, asymmetric, `[−1, 3]`): `S = 4/255`, `Z = round(255 − 3·255/4) = round(63.75) = 64`.
    public static func compute(minimum: Float, maximum: Float, bits: Int, signed: Bool, symmetric: Bool,
                               narrowRange: Bool = false) throws -> QuantizationParameters {
        try compute(minimums: [minimum], maximums: [maximum], axis: nil, bits: bits, signed: signed,
                    symmetric: symmetric, narrowRange: narrowRange)
    }

    /// Scale and zero point for each channel's observed range — the single function every observer ends in.
    ///
    /// For channel `c` with observed `[Rmin, Rmax]` and integer range `[Qmin, Qmax]` (see `integerRange`):
    /// 1. The range is widened to include 0, so zero (padding, ReLU) is exact:
    ///    `Rmin ← min(Rmin, 0)`, `Rmax ← max(Rmax, 0)`.
    /// 2. Affine (`symmetric == false`):
    ///    `S = (Rmax − Rmin) / (Qmax − Qmin)`, `Z = clamp(round(Qmax − Rmax / S), Qmin, Qmax)`
    ///    (equal to PyTorch's `Qmin − round(Rmin / S)` whenever S is not floored, step 4).
    /// 3. Symmetric: `S = max(|Rmin|, |Rmax|) / ((Qmax − Qmin) / 2)`; `Z = 0` when signed, and the midpoint
    ///    `Z = 2^(b−1)` when unsigned (128 for uint8, as PyTorch). int8 gives `S = max|R| / 127.5`; int8 with
    ///    `narrowRange` (−127…127) gives `S = max|R| / 127`.
    /// 4. Degenerate ranges: if `S < ε` (`smallestScale`, 2^−23) then `S = ε`, as PyTorch's observers do. The only
    ///    range that reaches this through step 1 is the all-zero one (`Rmin = Rmax = 0`): it gives `S = ε` and
    ///    `Z = Qmax` (affine) or `Z = 0`/midpoint (symmetric); every zero point represents 0 exactly, so an all-zero
    ///    tensor round-trips without error. A constant tensor `c ≠ 0` is not degenerate after widening: it becomes
    ///    `[0, c]` or `[c, 0]` (uint8 affine, `c = 3`: `S = 3/255`, `Z = 0`; `c = −3`: `S = 3/255`, `Z = 255`).
    ///
    /// Rounding is half to even (`rint`, as PyTorch and NumPy). Arithmetic is in Double; S is then stored as Float
    /// and Z computed from that stored S.
    ///
    /// - Parameters:
    ///   - minimums, maximums: the observed range per channel, `count == 1` when `axis == nil`.
    ///   - axis: nil for per-tensor parameters, else the channel axis recorded in the result.
    /// - Throws: `ShrinkError(.value)` when `bits ∉ 2…8`, when the arrays are empty or differ in length, when a
    ///   statistic is NaN or infinite (an observer that saw NaN, or no data at all), or when `minimum > maximum`.
    ///
    /// [1] Jacob et al., "Quantization and Training of Neural Networks for Efficient Integer-Arithmetic-Only
    ///     Inference", CVPR 2018; PyTorch `torch/ao/quantization/observer.py`, `_calculate_qparams`.
    public static func compute(minimums: [Float], maximums: [Float], axis: Int?, bits: Int, signed: Bool,
                               symmetric: Bool, narrowRange: Bool = false) throws -> QuantizationParameters {
        let range = try integerRange(bits: bits, signed: signed, narrowRange: narrowRange)
        guard !minimums.isEmpty, minimums.count == maximums.count else {
            throw ShrinkError(.value, "quantization statistics need one minimum and one maximum per channel, got "
                + "\(minimums.count) minimums and \(maximums.count) maximums")
        }
        var scales = [Float](), zeroPoints = [Int32]()
        scales.reserveCapacity(minimums.count)
        zeroPoints.reserveCapacity(minimums.count)
        for (channel, (minimum, maximum)) in zip(minimums, maximums).enumerated() {
            guard minimum.isFinite, maximum.isFinite else {
                throw ShrinkError(.value, "quantization statistics of channel \(channel) must be finite, got "
                    + "minimum \(minimum) and maximum \(maximum)")
            }
            guard minimum <= maximum else {
                throw ShrinkError(.value, "quantization statistics of channel \(channel) have minimum \(minimum) "
                    + "above maximum \(maximum)")
            }
            let (scale, zeroPoint) = scaleAndZeroPoint(minimum: minimum, maximum: maximum, range: range,
                                                       signed: signed, symmetric: symmetric)
            scales.append(scale)
            zeroPoints.append(zeroPoint)
        }
        return try QuantizationParameters(scales: scales, zeroPoints: zeroPoints, bits: bits, signed: signed,
                                          narrowRange: narrowRange, axis: axis)
    }

    /// Steps 1–4 of `compute(minimums:…)` for one channel whose statistics are already checked (finite,
    /// `minimum ≤ maximum`). The MSE search calls it directly so that the range it scores is the range it returns.
    static func scaleAndZeroPoint(minimum: Float, maximum: Float, range: ClosedRange<Int>, signed: Bool,
                                  symmetric: Bool) -> (scale: Float, zeroPoint: Int32) {
        let low = min(Double(minimum), 0), high = max(Double(maximum), 0)
        let qmin = Double(range.lowerBound), qmax = Double(range.upperBound)
        if symmetric {
            let bound = max(-low, high)
            let scale = max(Float(bound / ((qmax - qmin) / 2)), smallestScale)
            return (scale, signed ? 0 : Int32((range.upperBound + 1) / 2))
        }
        let scale = max(Float((high - low) / (qmax - qmin)), smallestScale)
        let zeroPoint = min(max((qmax - high / Double(scale)).rounded(.toNearestOrEven), qmin), qmax)
        return (scale, Int32(zeroPoint))
    }
}
