// QuantizedConv2d: the integer engine's convolution on channels-last uint8 codes — im2row (padding with the input
// zero point) × int8 weights → int32 → requantized uint8, written straight into the channels-last output; 1×1
// convolutions read the input in place, depthwise ones run a direct kernel, other groups one GEMM each.
import CKernels
import NeuralNetworks
import Tensors

/// An integer 2-D convolution on channels-last codes (N, H, W, C) → (N, Ho, Wo, O). For a run of samples and each
/// group: `rows (samples·Ho·Wo × k·k·C/G) = im2row(x)` in (ky, kx, c) order, accumulators
/// `rows · W_gᵀ` by `IntegerGEMM.u8s8`, then requantization into the group's output channels. Requantization is that
/// of `QuantizedWeights`.
public struct QuantizedConv2d: Sendable {
    public let inputChannels: Int, outputChannels: Int, kernelSize: Int, stride: Int, padding: Int, groups: Int
    /// One set of weights and requantization per group (stored in the float layer's (c, ky, kx) order, multiplied in
    /// im2row's (ky, kx, c) order).
    public let groupWeights: [QuantizedWeights]
    /// The weight as a model file stores it (`[out, in/groups, k, k]`).
    public let weight: IntegerWeightTensor
    /// A depthwise convolution's weights tap-major (`[k·k][C]`) with its requantization, for the direct kernel.
    let depthwise: DirectDepthwise?

    struct DirectDepthwise: Sendable {
        let weights: [Int8], offsets: [Double], multipliers: [Float]
        let zeroPoint: Int32, low: Int32, high: Int32
    }

    /// A float `Conv2d` with integer weights (`weight`, e.g. from `WeightScheme.quantize` or a model file) for
    /// per-tensor uint8 `input` and `output`, with a fused ReLU/ReLU6 if given.
    public init(_ conv: Conv2d, weight: IntegerWeightTensor, input: QuantizationParameters,
                output: QuantizationParameters, clampCap: Float? = nil) throws {
        guard weight.shape == conv.weight.value.shape else {
            throw ShrinkError(.shape, "integer weight of shape \(weight.shape) for a convolution of weight shape "
                + "\(conv.weight.value.shape)")
        }
        inputChannels = conv.inputChannels
        outputChannels = conv.outputChannels
        kernelSize = conv.kernelSize
        stride = conv.stride
        padding = conv.padding
        groups = conv.groups
        self.weight = weight
        let og = conv.outputChannels / conv.groups, depth = conv.weight.value.count / conv.outputChannels
        let cg = conv.inputChannels / conv.groups, taps = conv.kernelSize * conv.kernelSize
        // im2row column (ky·k + kx)·C/G + c holds the float weight's column c·k² + ky·k + kx.
        let order = (0..<depth).map { p in (p % cg) * taps + p / cg }
        groupWeights = try (0..<conv.groups).map { g in
            let b = conv.bias.map { Tensor(shape: [og], scalars: Array($0.value.scalars[(g * og)..<((g + 1) * og)])) }
            let weights = try QuantizedWeights(weight, channels: (g * og)..<((g + 1) * og), bias: b, input: input,
                                               output: output, clampCap: clampCap)
            return cg == 1 ? weights : weights.readingColumns(in: order)
        }
        if conv.groups > 1 && conv.groups == conv.inputChannels && conv.groups == conv.outputChannels {
            let c = conv.groups
            var tapMajor = [Int8](repeating: 0, count: taps * c)
            for (g, w) in groupWeights.enumerated() {
                for t in 0..<taps { tapMajor[t * c + g] = w.values[t] }
            }
            depthwise = DirectDepthwise(weights: tapMajor, offsets: groupWeights.map { $0.offsets[0] },
                                        multipliers: groupWeights.map { $0.multipliers[0] },
                                        zeroPoint: groupWeights[0].output.zeroPoints[0], low: groupWeights[0].low,
                                        high: groupWeights[0].high)
        } else {
            depthwise = nil
        }
    }

    /// `init(_:weight:…)` with the weights quantized by `scheme` (8-bit per-channel min/max by default).
    public init(_ conv: Conv2d, input: QuantizationParameters, output: QuantizationParameters,
                clampCap: Float? = nil, scheme: WeightScheme? = nil) throws {
        try self.init(conv, weight: try (scheme ?? WeightScheme()).quantize(conv.weight.value), input: input,
                      output: output, clampCap: clampCap)
    }

    /// The output plane of an input plane.
    public func outputSize(height: Int, width: Int) -> (height: Int, width: Int) {
        ((height + 2 * padding - kernelSize) / stride + 1, (width + 2 * padding - kernelSize) / stride + 1)
    }

    /// Runs a batch of `n` channels-last images (H, W, C) of codes; returns (n, Ho, Wo, O) codes. Every GEMM backend
    /// gives the same bytes.
    public func forward(_ x: [UInt8], batch n: Int, height: Int, width: Int,
                        backend: IntegerGEMMBackend = .native) -> [UInt8] {
        let (ho, wo) = outputSize(height: height, width: width)
        let cg = inputChannels / groups, og = outputChannels / groups, depth = cg * kernelSize * kernelSize
        let pixels = ho * wo, inputSize = height * width * inputChannels
        precondition(x.count == n * inputSize, "QuantizedConv2d: input size does not match")
        if let depthwise { return forwardDepthwise(x, depthwise, batch: n, height: height, width: width) }
        let paddingCode = UInt8(groupWeights[0].input.zeroPoints[0])
        // A 1×1 convolution's rows are the input pixels themselves (C codes each, whole groups of 4 for VNNI).
        if kernelSize == 1 && stride == 1 && padding == 0 && groups == 1 && inputChannels % 4 == 0 {
            return [UInt8](unsafeUninitializedCapacity: n * pixels * outputChannels) { py, initialized in
                x.withUnsafeBufferPointer { px in
                    nonisolated(unsafe) let (px, py) = (px, py)
                    bands(count: n * pixels, work: n * pixels * outputChannels * inputChannels) { rows in
                        groupWeights[0].apply(px.baseAddress! + rows.lowerBound * inputChannels, rows: rows.count,
                                              lda: inputChannels, into: py.baseAddress! + rows.lowerBound * outputChannels,
                                              ldo: outputChannels, backend: backend)
                    }
                }
                initialized = n * pixels * outputChannels
            }
        }
        // Samples per GEMM: enough rows to fill the kernel's tiles, few enough that the rows stay in L2.
        // Rows padded to whole groups of 4 codes let the VNNI kernel read them in place.
        let stride4 = (depth + 3) / 4 * 4
        let chunk = max(1, min(n, (1 << 19) / max(1, pixels * stride4)))
        var rows = [UInt8](repeating: 0, count: chunk * pixels * stride4)
        return [UInt8](unsafeUninitializedCapacity: n * pixels * outputChannels) { py, initialized in
            x.withUnsafeBufferPointer { px in
                rows.withUnsafeMutableBufferPointer { pr in
                        var start = 0
                        while start < n {
                            let count = min(chunk, n - start)
                            for (g, weights) in groupWeights.enumerated() {
                                for s in 0..<count {
                                    ck_im2row_u8_nhwc(px.baseAddress! + (start + s) * inputSize, Int64(height),
                                                      Int64(width), Int64(inputChannels), Int64(g * cg), Int64(cg),
                                                      Int64(kernelSize), Int64(stride), Int64(padding), paddingCode,
                                                      pr.baseAddress! + s * pixels * stride4, Int64(stride4))
                                }
                                nonisolated(unsafe) let (pr, out) = (pr, py.baseAddress! + start * pixels * outputChannels + g * og)
                                // Rows split across threads (a batch-1 call has one sample to give them).
                                bands(count: count * pixels, work: count * pixels * og * depth) { part in
                                    weights.apply(pr.baseAddress! + part.lowerBound * stride4, rows: part.count,
                                                  lda: stride4, into: out + part.lowerBound * outputChannels,
                                                  ldo: outputChannels, backend: backend)
                                }
                            }
                            start += count
                        }
                }
            }
            initialized = n * pixels * outputChannels
        }
    }

    /// Calls `body` on bands of `0..<count` across threads when `work` (multiply-adds) is worth the hand-off, else
    /// on the whole range: a band's results do not depend on the split.
    private func bands(count: Int, work: Int, _ body: (Range<Int>) -> Void) {
        if work < QuantizedConv2d.bandThreshold {
            body(0..<count)
        } else {
            Parallel.forEachChunk(count: count) { body($1) }
        }
    }

    /// The multiply-adds below which a call runs on one thread: 2¹⁸, a few microseconds of work, several times the
    /// pooled workers' hand-off (2²⁰ left MobileNetV2's depthwise convs at 14×14 and 7×7 on one thread).
    static let bandThreshold = 1 << 18

    /// The direct depthwise kernel, sample by sample, output rows split across threads.
    private func forwardDepthwise(_ x: [UInt8], _ d: DirectDepthwise, batch n: Int, height: Int,
                                  width: Int) -> [UInt8] {
        let (ho, wo) = outputSize(height: height, width: width)
        let c = inputChannels, inputSize = height * width * c, outputSize = ho * wo * c
        let paddingCode = UInt8(groupWeights[0].input.zeroPoints[0])
        return [UInt8](unsafeUninitializedCapacity: n * outputSize) { py, initialized in
            x.withUnsafeBufferPointer { px in
                d.weights.withUnsafeBufferPointer { pw in
                    d.offsets.withUnsafeBufferPointer { po in
                        d.multipliers.withUnsafeBufferPointer { pm in
                            nonisolated(unsafe) let (px, py, pw, po, pm) = (px, py, pw, po, pm)
                            for sample in 0..<n {
                                bands(count: ho, work: outputSize * kernelSize * kernelSize) { rows in
                                    ck_depthwise_u8_nhwc(px.baseAddress! + sample * inputSize, Int64(height),
                                                         Int64(width), Int64(c), pw.baseAddress!, Int64(kernelSize),
                                                         Int64(stride), Int64(padding), paddingCode, po.baseAddress!,
                                                         pm.baseAddress!, d.zeroPoint, d.low, d.high,
                                                         py.baseAddress! + sample * outputSize + rows.lowerBound * wo * c,
                                                         Int64(rows.lowerBound), Int64(rows.count))
                                }
                            }
                        }
                    }
                }
            }
            initialized = n * outputSize
        }
    }
}
