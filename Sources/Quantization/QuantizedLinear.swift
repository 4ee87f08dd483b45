// QuantizedLinear: the integer engine's fully connected layer — uint8 activations × int8 weights (per-channel
// symmetric) → int32 → requantized uint8, with the bias and a following ReLU folded in.
import CKernels
import NeuralNetworks
import Tensors

/// An integer fully connected layer.
///
/// With input `x = S_x (q_x − Z_x)`, weights `W[o] = S_w[o] · q_w[o]` (symmetric int8, narrow range) and output
/// parameters `(S_y, Z_y)`:
/// `q_y = clamp(rint(M[o] · (Σ_k q_x q_w[o][k] − Z_x Σ_k q_w[o][k] + q_b[o])) + Z_y, lo, hi)` with
/// `M[o] = S_x S_w[o] / S_y` and `q_b[o] = rint(b[o] / (S_x S_w[o]))`. The first term is `IntegerGEMM.u8s8`; the
/// rest is one per-channel offset and `ck_requantize_u8`. A fused ReLU sets `lo = Z_y` (ReLU6 also
/// `hi = Z_y + rint(6 / S_y)`).
///
/// [1] Jacob et al., "Quantization and Training of Neural Networks for Efficient Integer-Arithmetic-Only
///     Inference", CVPR 2018, equations (7)–(10).
public struct QuantizedLinear: Sendable {
    public let inputFeatures: Int, outputFeatures: Int
    /// int8 weights [out, in].
    public let weights: [Int8]
    /// Per-output-channel weight parameters (symmetric, axis 0).
    public let weightParameters: QuantizationParameters
    public let input: QuantizationParameters
    public let output: QuantizationParameters
    /// `q_b[o] − Z_x Σ_k q_w[o][k]`, added to each accumulator before scaling.
    let offsets: [Int32]
    /// `S_x S_w[o] / S_y`.
    let multipliers: [Float]
    let low: Int32, high: Int32

    /// Quantizes a float `Linear` for inputs with parameters `input` and outputs with `output` (both per-tensor
    /// uint8), optionally with a following ReLU/ReLU6 (`clampCap`: `.infinity` for ReLU, 6 for ReLU6) fused in.
    public init(_ linear: Linear, input: QuantizationParameters, output: QuantizationParameters,
                clampCap: Float? = nil) throws {
        guard !input.isPerChannel, !output.isPerChannel, !input.signed, !output.signed, input.bits == 8, output.bits == 8 else {
            throw ShrinkError(.value, "the integer linear layer takes per-tensor uint8 activations")
        }
        let i = linear.inputFeatures, o = linear.outputFeatures
        let w = linear.weight.value
        var minimums = [Float](repeating: 0, count: o), maximums = [Float](repeating: 0, count: o)
        for row in 0..<o {
            let values = w.scalars[(row * i)..<((row + 1) * i)]
            minimums[row] = values.min() ?? 0
            maximums[row] = values.max() ?? 0
        }
        let weightParameters = try QuantizationParameters.compute(minimums: minimums, maximums: maximums, axis: 0,
                                                                  bits: 8, signed: true, symmetric: true,
                                                                  narrowRange: true)
        let quantizedWeights = try quantize(w, with: weightParameters).int8Values
        let inputScale = Double(input.scales[0]), outputScale = Double(output.scales[0])
        let zx = input.zeroPoints[0], zy = output.zeroPoints[0]
        var offsets = [Int32](repeating: 0, count: o), multipliers = [Float](repeating: 0, count: o)
        for row in 0..<o {
            let accumulatorScale = inputScale * Double(weightParameters.scales[row])
            let weightSum = quantizedWeights[(row * i)..<((row + 1) * i)].reduce(Int32(0)) { $0 + Int32($1) }
            let bias = Double(linear.bias?.value.scalars[row] ?? 0)
            let quantizedBias = Int32(clamping: Int64((bias / accumulatorScale).rounded(.toNearestOrEven)))
            offsets[row] = quantizedBias &- zx &* weightSum
            multipliers[row] = Float(accumulatorScale / outputScale)
        }
        self.inputFeatures = i
        self.outputFeatures = o
        self.weights = quantizedWeights
        self.weightParameters = weightParameters
        self.input = input
        self.output = output
        self.offsets = offsets
        self.multipliers = multipliers
        let (qmin, qmax) = (Int32(output.qmin), Int32(output.qmax))
        self.low = clampCap == nil ? qmin : max(qmin, zy)
        if let cap = clampCap, cap.isFinite {
            self.high = min(qmax, zy &+ Int32(clamping: Int64((Double(cap) / outputScale).rounded(.toNearestOrEven))))
        } else {
            self.high = qmax
        }
    }

    /// Runs a batch: `x` holds N rows of `inputFeatures` uint8 codes; returns N rows of `outputFeatures` codes.
    /// Every GEMM backend gives the same bytes.
    public func forward(_ x: [UInt8], batch n: Int, backend: IntegerGEMMBackend = .native) -> [UInt8] {
        precondition(x.count == n * inputFeatures, "QuantizedLinear: \(x.count) codes for \(n) × \(inputFeatures)")
        var accumulators = [Int32](repeating: 0, count: n * outputFeatures)
        var y = [UInt8](repeating: 0, count: n * outputFeatures)
        x.withUnsafeBufferPointer { px in
            weights.withUnsafeBufferPointer { pw in
                accumulators.withUnsafeMutableBufferPointer { pc in
                    IntegerGEMM.u8s8(m: n, n: outputFeatures, k: inputFeatures, a: px.baseAddress!, b: pw.baseAddress!,
                                     c: pc.baseAddress!, backend: backend)
                }
            }
        }
        ck_requantize_u8(accumulators, Int64(n), Int64(outputFeatures), offsets, multipliers, output.zeroPoints[0],
                         low, high, &y)
        return y
    }
}
