// QuantizedWeights: what an integer conv or linear layer shares — int8 weights per output channel (symmetric,
// narrow range) and the per-channel offset, multiplier and clamp bounds of requantization.
import CKernels
import NeuralNetworks
import Tensors

/// The weights of one integer layer with `channels` outputs of `depth` inputs each, and its requantization.
///
/// With input `x = S_x (q_x − Z_x)`, weights `W[o] = S_w[o] q_w[o]` and output `(S_y, Z_y)`:
/// `q_y = clamp(rint(M[o] · (acc[o] + offset[o])) + Z_y, lo, hi)`, where `acc[o] = Σ_k q_x q_w[o][k]`,
/// `M[o] = S_x S_w[o] / S_y`, `offset[o] = q_b[o] − Z_x Σ_k q_w[o][k]` and `q_b[o] = rint(b[o] / (S_x S_w[o]))`.
/// A fused ReLU sets `lo = Z_y`; ReLU6 also `hi = Z_y + rint(6 / S_y)`.
///
/// [1] Jacob et al., "Quantization and Training of Neural Networks for Efficient Integer-Arithmetic-Only
///     Inference", CVPR 2018, equations (7)–(10).
public struct QuantizedWeights: Sendable {
    public let channels: Int, depth: Int
    /// int8 weights, `channels × depth`, in the float layer's order (what a model file stores).
    public let values: [Int8]
    /// The same weights with their columns in the order the engine's input rows have (channels-last for a conv),
    /// packed for the GEMM.
    public private(set) var gemm: PackedInt8Weights
    /// Per-channel symmetric parameters (axis 0, narrow range −127…127).
    public let parameters: QuantizationParameters
    public let input: QuantizationParameters
    public let output: QuantizationParameters
    let offsets: [Int32]
    let multipliers: [Float]
    let low: Int32, high: Int32

    /// Quantizes float weights (`channels × depth`, row-major) and bias for per-tensor uint8 `input` and `output`,
    /// with a following ReLU (`clampCap = .infinity`) or ReLU6 (`6`) fused in when given.
    public init(weights: Tensor, bias: Tensor?, channels: Int, input: QuantizationParameters,
                output: QuantizationParameters, clampCap: Float?) throws {
        let depth = weights.count / channels
        var minimums = [Float](repeating: 0, count: channels), maximums = minimums
        for row in 0..<channels {
            let slice = weights.scalars[(row * depth)..<((row + 1) * depth)]
            minimums[row] = slice.min() ?? 0
            maximums[row] = slice.max() ?? 0
        }
        let parameters = try QuantizationParameters.compute(minimums: minimums, maximums: maximums, axis: 0, bits: 8,
                                                            signed: true, symmetric: true, narrowRange: true)
        let values = try quantize(weights.reshaped([channels, depth]), with: parameters).int8Values
        try self.init(values: values, parameters: parameters, bias: bias, input: input, output: output,
                      clampCap: clampCap)
    }

    /// The parameters of stored int8 weights with these per-channel scales: symmetric (Z = 0), narrow range, axis 0 —
    /// the scheme `init(weights:…)` quantizes with.
    public static func weightParameters(scales: [Float]) throws -> QuantizationParameters {
        try QuantizationParameters(scales: scales, zeroPoints: [Int32](repeating: 0, count: scales.count), bits: 8,
                                   signed: true, narrowRange: true, axis: 0)
    }

    /// Builds the layer from weights already quantized (`values`, `channels × depth`, with per-channel symmetric
    /// `parameters`), as a quantized model file stores them.
    public init(values: [Int8], parameters: QuantizationParameters, bias: Tensor?, input: QuantizationParameters,
                output: QuantizationParameters, clampCap: Float?) throws {
        for (edge, p) in [("input", input), ("output", output)] where p.isPerChannel || p.signed || p.bits != 8 {
            throw ShrinkError(.value, "integer layers take per-tensor uint8 activations; the \(edge) has \(p)")
        }
        let channels = parameters.scales.count, depth = values.count / max(channels, 1)
        guard channels >= 1, values.count == channels * depth, bias == nil || bias!.count == channels else {
            throw ShrinkError(.shape, "quantized weights: \(values.count) values, \(channels) scales and "
                + "\(bias?.count ?? 0) biases do not fit together")
        }
        let inputScale = Double(input.scales[0]), outputScale = Double(output.scales[0])
        let zx = input.zeroPoints[0], zy = output.zeroPoints[0]
        var offsets = [Int32](repeating: 0, count: channels), multipliers = [Float](repeating: 0, count: channels)
        for row in 0..<channels {
            let accumulatorScale = inputScale * Double(parameters.scales[row])
            let weightSum = values[(row * depth)..<((row + 1) * depth)].reduce(Int32(0)) { $0 + Int32($1) }
            let bias = Double(bias?.scalars[row] ?? 0)
            let quantizedBias = Int32(clamping: Int64((bias / accumulatorScale).rounded(.toNearestOrEven)))
            offsets[row] = quantizedBias &- zx &* weightSum
            multipliers[row] = Float(accumulatorScale / outputScale)
        }
        let (qmin, qmax) = (Int32(output.qmin), Int32(output.qmax))
        self.channels = channels
        self.depth = depth
        self.values = values
        self.gemm = PackedInt8Weights(values: values, rows: channels)
        self.parameters = parameters
        self.input = input
        self.output = output
        self.offsets = offsets
        self.multipliers = multipliers
        self.low = clampCap == nil ? qmin : max(qmin, zy)
        if let cap = clampCap, cap.isFinite {
            self.high = min(qmax, zy &+ Int32(clamping: Int64((Double(cap) / outputScale).rounded(.toNearestOrEven))))
        } else {
            self.high = qmax
        }
    }

    /// These weights for inputs whose features arrive in another order: column `p` of the engine's rows holds the
    /// float layer's input feature `order[p]`. The stored `values` keep the float order; sums and requantization do
    /// not depend on it.
    func readingColumns(in order: [Int]) -> QuantizedWeights {
        precondition(order.count == depth, "QuantizedWeights: a column order of \(order.count) for depth \(depth)")
        var copy = self
        var reordered = [Int8](repeating: 0, count: values.count)
        for row in 0..<channels {
            for (p, source) in order.enumerated() { reordered[row * depth + p] = values[row * depth + source] }
        }
        copy.gemm = PackedInt8Weights(values: reordered, rows: channels)
        return copy
    }

    /// Accumulators (m × channels, row stride `ldc`) of `m` input rows (row stride `lda`) times these weights.
    func multiply(_ a: UnsafePointer<UInt8>, rows m: Int, lda: Int, into c: UnsafeMutablePointer<Int32>, ldc: Int,
                  backend: IntegerGEMMBackend) {
        IntegerGEMM.u8s8(m: m, a: a, lda: lda, weights: gemm, c: c, ldc: ldc, backend: backend)
    }

    /// Requantizes `rows × channels` accumulators (row stride `lda`) into codes with row stride `ldo`.
    func requantize(_ accumulators: UnsafePointer<Int32>, rows: Int, lda: Int, into out: UnsafeMutablePointer<UInt8>,
                    ldo: Int) {
        offsets.withUnsafeBufferPointer { po in
            multipliers.withUnsafeBufferPointer { pm in
                ck_requantize_u8(accumulators, Int64(rows), Int64(channels), Int64(lda), po.baseAddress!,
                                 pm.baseAddress!, output.zeroPoints[0], low, high, out, Int64(ldo))
            }
        }
    }
}
