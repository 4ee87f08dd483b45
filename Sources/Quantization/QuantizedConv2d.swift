// QuantizedConv2d: the integer engine's convolution — uint8 im2row (padding with the input zero point) × int8
// weights → int32 → requantized uint8 written back as NCHW planes; groups and depthwise included.
import CKernels
import NeuralNetworks
import Tensors

/// An integer 2-D convolution. Per sample and group: `rows (Ho·Wo × C/G·k²) = im2row(x)`, accumulators
/// `(Ho·Wo × O/G) = rows · W_gᵀ` by `IntegerGEMM.u8s8`, then requantization transposed into the group's output
/// planes. Requantization is that of `QuantizedWeights`.
public struct QuantizedConv2d: Sendable {
    public let inputChannels: Int, outputChannels: Int, kernelSize: Int, stride: Int, padding: Int, groups: Int
    /// One set of weights and requantization per group.
    public let groupWeights: [QuantizedWeights]

    /// Quantizes a float `Conv2d` for per-tensor uint8 `input` and `output`, with a fused ReLU/ReLU6 if given.
    public init(_ conv: Conv2d, input: QuantizationParameters, output: QuantizationParameters,
                clampCap: Float? = nil, stored: (values: [Int8], scales: [Float])? = nil) throws {
        inputChannels = conv.inputChannels
        outputChannels = conv.outputChannels
        kernelSize = conv.kernelSize
        stride = conv.stride
        padding = conv.padding
        groups = conv.groups
        let og = conv.outputChannels / conv.groups, depth = conv.weight.value.count / conv.outputChannels
        groupWeights = try (0..<conv.groups).map { g in
            let b = conv.bias.map { Tensor(shape: [og], scalars: Array($0.value.scalars[(g * og)..<((g + 1) * og)])) }
            if let stored {
                let parameters = try QuantizedWeights.weightParameters(scales: Array(stored.scales[(g * og)..<((g + 1) * og)]))
                return try QuantizedWeights(values: Array(stored.values[(g * og * depth)..<((g + 1) * og * depth)]),
                                            parameters: parameters, bias: b, input: input, output: output,
                                            clampCap: clampCap)
            }
            let w = Tensor(shape: [og, depth], scalars: Array(conv.weight.value.scalars[(g * og * depth)..<((g + 1) * og * depth)]))
            return try QuantizedWeights(weights: w, bias: b, channels: og, input: input, output: output,
                                        clampCap: clampCap)
        }
    }

    /// Runs a batch of `n` images (C, H, W) of codes; returns (n, O, Ho, Wo) codes and the output plane size.
    public func forward(_ x: [UInt8], batch n: Int, height: Int, width: Int,
                        backend: IntegerGEMMBackend = .native) -> (codes: [UInt8], outputHeight: Int, outputWidth: Int) {
        let ho = (height + 2 * padding - kernelSize) / stride + 1, wo = (width + 2 * padding - kernelSize) / stride + 1
        let cg = inputChannels / groups, og = outputChannels / groups, depth = cg * kernelSize * kernelSize
        let pixels = ho * wo, plane = height * width
        precondition(x.count == n * inputChannels * plane, "QuantizedConv2d: input size does not match")
        var y = [UInt8](repeating: 0, count: n * outputChannels * pixels)
        var rows = [UInt8](repeating: 0, count: pixels * depth)
        var accumulators = [Int32](repeating: 0, count: pixels * og)
        let paddingCode = UInt8(groupWeights[0].input.zeroPoints[0])
        x.withUnsafeBufferPointer { px in
            y.withUnsafeMutableBufferPointer { py in
                rows.withUnsafeMutableBufferPointer { pr in
                    accumulators.withUnsafeMutableBufferPointer { pa in
                        for sample in 0..<n {
                            for (g, weights) in groupWeights.enumerated() {
                                ck_im2row_u8(px.baseAddress! + (sample * inputChannels + g * cg) * plane, Int64(cg),
                                             Int64(height), Int64(width), Int64(kernelSize), Int64(stride),
                                             Int64(padding), paddingCode, pr.baseAddress!)
                                weights.values.withUnsafeBufferPointer { pw in
                                    IntegerGEMM.u8s8(m: pixels, n: og, k: depth, a: pr.baseAddress!, b: pw.baseAddress!,
                                                     c: pa.baseAddress!, backend: backend)
                                }
                                weights.requantize(pa.baseAddress!, rows: pixels,
                                                   into: py.baseAddress! + (sample * outputChannels + g * og) * pixels,
                                                   transposed: true)
                            }
                        }
                    }
                }
            }
        }
        return (y, ho, wo)
    }
}
