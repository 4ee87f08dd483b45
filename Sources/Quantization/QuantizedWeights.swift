// QuantizedWeights: what an integer conv or linear layer shares — int8 weights per output channel (symmetric,
// narrow range) and the per-channel offset, multiplier and clamp bounds of requantization.
import CKernels
import NeuralNetworks
import Tensors

extension QuantizationParameters {
    /// The highest code a clamp at `cap` (≥ 0, or +∞) leaves on this per-tensor edge: `Z + rint(cap / S)`, at most
    /// `qmax` — a fused ReLU6's upper bound, and each channel's of a per-channel clamp.
    func code(ofCap cap: Float) -> Int32 {
        guard cap.isFinite else { return Int32(qmax) }
        let code = Double(zeroPoints[0]) + (Double(cap) / Double(scales[0])).rounded(.toNearestOrEven)
        return Int32(min(code, Double(qmax)))
    }
}

/// The weights of one integer layer with `channels` outputs of `depth` inputs each, and its requantization.
///
/// With input `x = S_x (q_x − Z_x)`, weights `W[o] = S_w[o] q_w[o]` and output `(S_y, Z_y)`:
/// `q_y = clamp(rint(M[o] · (acc[o] + offset[o])) + Z_y, lo, hi)`, where `acc[o] = Σ_k q_x q_w[o][k]` (exact int32),
/// `M[o] = S_x S_w[o] / S_y` and `offset[o] = b[o] / (S_x S_w[o]) − Z_x Σ_k q_w[o][k]`, kept in double: Jacob et al.
/// round the bias to the accumulator grid (int32), which at 4-bit activations moves outputs by up to half that grid;
/// requantization is done in double anyway, so the bias stays exact here.
/// A fused ReLU sets `lo = Z_y`; ReLU6 also `hi = Z_y + rint(6 / S_y)`. Weights of fewer than 8 bits use the same
/// kernels (their codes fit int8); activations of fewer than 8 bits likewise fit uint8.
///
/// [1] Jacob et al., "Quantization and Training of Neural Networks for Efficient Integer-Arithmetic-Only
///     Inference", CVPR 2018, equations (7)–(10).
public struct QuantizedWeights: Sendable {
    public let channels: Int, depth: Int
    /// Integer weight codes, `channels × depth`, in the float layer's order (what a model file stores).
    public let values: [Int8]
    /// The weight scale of each channel (the tensor's one scale repeated when per-tensor).
    public let scales: [Float]
    /// The same weights with their columns in the order the engine's input rows have (channels-last for a conv),
    /// packed for the GEMM.
    public private(set) var gemm: PackedInt8Weights
    public let input: QuantizationParameters
    public let output: QuantizationParameters
    let offsets: [Double]
    let multipliers: [Float]
    let low: Int32, high: Int32

    /// Builds the layer from weight codes (`channels × depth`, row-major) with a scale per channel, for per-tensor
    /// uint8 `input` and `output`, with a following ReLU (`clampCap = .infinity`) or ReLU6 (`6`) fused in when given.
    ///
    /// - Throws: `ShrinkError(.value)` for per-channel or signed activation parameters; `ShrinkError(.shape)` when
    ///   the counts do not fit together.
    public init(values: [Int8], scales: [Float], bias: Tensor?, input: QuantizationParameters,
                output: QuantizationParameters, clampCap: Float?) throws {
        for (edge, p) in [("input", input), ("output", output)] where p.isPerChannel || p.signed {
            throw ShrinkError(.value, "integer layers take per-tensor unsigned activations; the \(edge) has \(p)")
        }
        let channels = scales.count, depth = values.count / max(channels, 1)
        guard channels >= 1, depth >= 1, values.count == channels * depth, bias == nil || bias!.count == channels else {
            throw ShrinkError(.shape, "quantized weights: \(values.count) values, \(channels) scales and "
                + "\(bias?.count ?? 0) biases do not fit together")
        }
        let inputScale = Double(input.scales[0]), outputScale = Double(output.scales[0])
        let zx = input.zeroPoints[0], zy = output.zeroPoints[0]
        var offsets = [Double](repeating: 0, count: channels), multipliers = [Float](repeating: 0, count: channels)
        for row in 0..<channels {
            let accumulatorScale = inputScale * Double(scales[row])
            let weightSum = values[(row * depth)..<((row + 1) * depth)].reduce(0) { $0 + Int($1) }
            let bias = Double(bias?.scalars[row] ?? 0)
            offsets[row] = bias / accumulatorScale - Double(zx) * Double(weightSum)
            multipliers[row] = Float(accumulatorScale / outputScale)
        }
        let (qmin, qmax) = (Int32(output.qmin), Int32(output.qmax))
        self.channels = channels
        self.depth = depth
        self.values = values
        self.scales = scales
        self.gemm = PackedInt8Weights(values: values, rows: channels)
        self.input = input
        self.output = output
        self.offsets = offsets
        self.multipliers = multipliers
        self.low = clampCap == nil ? qmin : max(qmin, zy)
        self.high = clampCap.map(output.code(ofCap:)) ?? qmax
    }

    /// The rows `channels` of an integer weight (`[out, …]`), as one layer (a conv group) multiplies them.
    init(_ weight: IntegerWeightTensor, channels range: Range<Int>, bias: Tensor?, input: QuantizationParameters,
         output: QuantizationParameters, clampCap: Float?) throws {
        let depth = weight.values.count / weight.shape[0]
        let scales = weight.isPerChannel ? Array(weight.scales[range])
            : [Float](repeating: weight.scales[0], count: range.count)
        try self.init(values: Array(weight.values[(range.lowerBound * depth)..<(range.upperBound * depth)]),
                      scales: scales, bias: bias, input: input, output: output, clampCap: clampCap)
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

    /// Output codes (m × channels, row stride `ldo`) of `m` input rows (row stride `lda`): the GEMM, then
    /// requantization — fused tile by tile on the native path, in two passes through OpenBLAS; the same bytes.
    func apply(_ a: UnsafePointer<UInt8>, rows m: Int, lda: Int, into out: UnsafeMutablePointer<UInt8>, ldo: Int,
               backend: IntegerGEMMBackend) {
        offsets.withUnsafeBufferPointer { po in
            multipliers.withUnsafeBufferPointer { pm in
                switch backend {
                case .native:
                    gemm.values.withUnsafeBufferPointer { pb in
                        gemm.packed.withUnsafeBufferPointer { pp in
                            ck_gemm_u8s8_requantize(Int64(m), Int64(channels), Int64(depth), a, Int64(lda),
                                                    pb.baseAddress!, Int64(depth), pp.isEmpty ? nil : pp.baseAddress!,
                                                    po.baseAddress!, pm.baseAddress!, output.zeroPoints[0], low, high,
                                                    out, Int64(ldo))
                        }
                    }
                case .openBLAS:
                    var accumulators = [Int32](repeating: 0, count: m * channels)
                    accumulators.withUnsafeMutableBufferPointer { pc in
                        IntegerGEMM.u8s8(m: m, a: a, lda: lda, weights: gemm, c: pc.baseAddress!, ldc: channels,
                                         backend: .openBLAS)
                        ck_requantize_u8(pc.baseAddress!, Int64(m), Int64(channels), Int64(channels), po.baseAddress!,
                                         pm.baseAddress!, output.zeroPoints[0], low, high, out, Int64(ldo))
                    }
                }
            }
        }
    }
}
