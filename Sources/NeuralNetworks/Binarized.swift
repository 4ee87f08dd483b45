// Binarized layers (Hubara et al. 2016; Rastegari et al. 2016, XNOR-Net): ±1 activations from `Sign`, and conv and
// linear layers whose weights are α · sign(W) with one α per output channel, run on the XNOR-popcount kernel
// (`ck_gemm_binary`). `QuantizeDequantize` is the frozen form of an activation fake-quantizer, for the 8-bit edges
// that stay around a binarized network's first and last layers.
//
// Padding in a binary convolution: padding is 0, which ±1 cannot express. The bit-packed im2row writes padded taps
// as +1 bits and the layer subtracts what they added — for output position q and channel o, the sum of o's ±1
// weights over the taps that fall in the padding at q. That correction depends only on the weights and the input's
// height and width, so it is computed once per input size. The result is exactly the zero-padded convolution of
// the binarized input with the binarized weights (tested against a float reference of the same arithmetic).
import CKernels
import Foundation
import Tensors

/// `y = +1` where `x ≥ 0`, `−1` where `x < 0` (0 counts as +1, as in `ck_pack_signs`). Backward is the
/// straight-through estimator with hard-tanh clipping: `dx = dy` where `|x| ≤ 1`, else 0 [1].
/// [1] Hubara et al., "Binarized Neural Networks", NeurIPS 2016.
public final class Sign: Layer {
    private var savedInput = Tensor(zeros: [0])

    public init() {}

    public var kind: String { "sign" }
    public var spec: LayerSpec { LayerSpec(kind: kind) }

    public func outputShape(for inputShapes: [[Int]]) throws -> [Int] {
        try expectInputs(inputShapes, count: 1, kind)
        return inputShapes[0]
    }

    public func forward(_ inputs: [Tensor], mode: Mode) -> Tensor {
        let x = inputs[0]
        if mode == .training { savedInput = x }
        var y = Tensor(uninitialized: x.shape)
        x.withUnsafeBufferPointer { px in
            y.withUnsafeMutableBufferPointer { py in
                for i in 0..<px.count { py[i] = px[i] >= 0 ? 1 : -1 }
            }
        }
        return y
    }

    public func backward(_ outputGradient: Tensor, needsInputGradient: [Bool]) -> [Tensor?] {
        guard needsInputGradient[0] else { return [nil] }
        var dx = Tensor(uninitialized: outputGradient.shape)
        savedInput.withUnsafeBufferPointer { px in
            outputGradient.withUnsafeBufferPointer { pdy in
                dx.withUnsafeMutableBufferPointer { pdx in
                    for i in 0..<pdx.count { pdx[i] = abs(px[i]) <= 1 ? pdy[i] : 0 }
                }
            }
        }
        return [dx]
    }
}

/// A layer whose weight is α · sign(W) per output channel, stored at one bit per weight.
public protocol BinaryWeighted: Layer {
    /// The weight as the file stores it: ±1 codes and one α per output channel.
    var binaryWeight: IntegerWeightTensor { get }
}

/// The binarized form of a weight [out, …]: codes sign(W) (≥ 0 → +1) and α_o = mean |W_o| per output channel
/// (XNOR-Net's optimal scale; computed in Double, so a weight that is already α · sign gives back exactly α), as the
/// file stores it.
///
/// - Throws: `ShrinkError(.value)` when a weight is not finite (its α would not be), naming the first such element.
public func binaryWeight(of weight: Tensor) throws -> IntegerWeightTensor {
    if let bad = weight.firstNonFiniteIndex() {
        throw ShrinkError(.value, "weight element \(bad) is \(weight.scalars[bad]); binarization needs finite weights")
    }
    let out = weight.shape[0], per = weight.count / max(out, 1)
    var codes = [Int8](repeating: 1, count: weight.count)
    var alphas = [Float](repeating: 0, count: out)
    weight.withUnsafeBufferPointer { w in
        for o in 0..<out {
            var total = 0.0
            for i in (o * per)..<((o + 1) * per) {
                total += Double(abs(w[i]))
                codes[i] = w[i] >= 0 ? 1 : -1
            }
            // An all-zero channel gets the smallest positive scale: its outputs are (almost) 0, as they were.
            alphas[o] = max(Float(total / Double(per)), .leastNormalMagnitude)
        }
    }
    return try IntegerWeightTensor(shape: weight.shape, values: codes, scales: alphas, bits: 1, perChannel: true)
}

/// The binarized value of a weight [out, …]: α_o · sign(W) (see `binaryWeight(of:)`), what `BinaryConv2d` and
/// `BinaryLinear` compute with. Quantization-aware training of binarized networks puts it on the forward pass.
///
/// - Throws: `ShrinkError(.value)` when a weight is not finite.
public func binarized(_ weight: Tensor) throws -> Tensor {
    try binaryWeight(of: weight).dequantized()
}

/// `binaryWeight(of:)` for a layer's initialiser, its errors naming the layer kind.
private func binaryWeightOfLayer(_ weight: Tensor, _ kind: String) throws -> IntegerWeightTensor {
    do {
        return try binaryWeight(of: weight)
    } catch let error as ShrinkError {
        throw ShrinkError(error.kind, "\(kind): \(error.message)")
    }
}

/// Backward through a binarized layer's float reference: input gradients only, the reference's own weight gradients
/// dropped (the binary weight is fixed).
func backwardWithFixedWeights(_ reference: any Layer, _ outputGradient: Tensor, _ needsInputGradient: [Bool]) -> [Tensor?] {
    let result = reference.backward(outputGradient, needsInputGradient: needsInputGradient)
    for (_, parameter) in reference.parameters { parameter.zeroGradient() }
    return result
}

/// A binarized 2-D convolution (groups 1): `y[n, o] = α_o · (sign(W_o) ⋆ sign(x[n])) + b_o` with zero padding.
///
/// Inference packs the input's signs per position, builds bit-packed im2row rows and runs the XNOR-popcount GEMM
/// against the weights packed once at construction (in the order out, ky, kx, c); padded taps are corrected as
/// the file header explains. A training forward (and backward) runs the same arithmetic in float through an
/// ordinary `Conv2d` holding α · sign(W), so a network containing the layer can still be fine-tuned around it;
/// the binary weight itself is fixed (not trainable).
public final class BinaryConv2d: BinaryWeighted {
    public let weight: Parameter
    public let bias: Parameter?
    public let stride: Int
    public let padding: Int
    public let binaryWeight: IntegerWeightTensor
    /// α per output channel.
    public var alphas: [Float] { binaryWeight.scales }
    public var outputChannels: Int { weight.value.shape[0] }
    public var inputChannels: Int { weight.value.shape[1] }
    public var kernelSize: Int { weight.value.shape[2] }
    private let packed: [UInt64]           // [out][⌈k·k·C/64⌉], taps (ky, kx) then channels
    private let tapSums: [Int32]           // [out][k·k]: Σ_c sign(W[o, c, tap])
    private let reference: Conv2d
    private let lock = NSLock()
    private var corrections: [[Int]: [Int32]] = [:]  // (H, W) → [out][positions]

    /// Builds the layer from a float weight [O, C, k, k]: α_o = mean |W_o|, codes sign(W) (≥ 0 → +1).
    ///
    /// - Throws: `ShrinkError(.value)` when a weight is not finite.
    /// - Precondition: the weight is [O, C, k, k], stride ≥ 1 and padding ≥ 0.
    public init(weight w: Tensor, bias: Tensor?, stride: Int = 1, padding: Int = 0) throws {
        precondition(w.rank == 4 && w.shape[2] == w.shape[3], "BinaryConv2d weight must be [O, C, k, k]")
        precondition(stride >= 1 && padding >= 0, "BinaryConv2d needs stride ≥ 1 and padding ≥ 0")
        binaryWeight = try binaryWeightOfLayer(w, "binary_conv2d")
        let codes = binaryWeight.values, value = binaryWeight.dequantized()
        self.weight = Parameter(value, trainable: false)
        self.bias = bias.map { Parameter($0, trainable: false) }
        self.stride = stride
        self.padding = padding
        let o = w.shape[0], c = w.shape[1], k = w.shape[2], taps = k * k
        // Reorder to (out, ky, kx, c) so that a row's tap t holds channels at bits t·C…, as ck_im2row_binary writes.
        var reordered = [Float](repeating: 0, count: w.count)
        var sums = [Int32](repeating: 0, count: o * taps)
        for oc in 0..<o {
            for ch in 0..<c {
                for t in 0..<taps {
                    let code = codes[(oc * c + ch) * taps + t]
                    reordered[(oc * taps + t) * c + ch] = Float(code)
                    sums[oc * taps + t] += Int32(code)
                }
            }
        }
        packed = reordered.withUnsafeBufferPointer { BinaryGEMM.pack($0.baseAddress!, rows: o, columns: taps * c) }
        tapSums = sums
        reference = Conv2d(weight: value, bias: bias, stride: stride, padding: padding)
    }

    public var kind: String { "binary_conv2d" }
    public var parameters: [(name: String, parameter: Parameter)] {
        [("weight", weight)] + (bias.map { [("bias", $0)] } ?? [])
    }
    public var spec: LayerSpec {
        var s = LayerSpec(kind: kind)
        s.inputChannels = inputChannels; s.outputChannels = outputChannels; s.kernelSize = kernelSize
        s.stride = stride; s.padding = padding; s.bias = bias != nil
        return s
    }

    public func outputShape(for inputShapes: [[Int]]) throws -> [Int] {
        try expectInputs(inputShapes, count: 1, kind)
        let s = inputShapes[0]
        guard s.count == 3, s[0] == inputChannels else {
            throw ShrinkError(.shape, "binary_conv2d expects input (\(inputChannels), H, W), got \(s)")
        }
        return try reference.outputShape(for: inputShapes)
    }

    public func macs(for inputShapes: [[Int]]) -> Int { reference.macs(for: inputShapes) }

    /// For each output channel and position, the sum of the channel's ±1 weights over the taps that fall in the
    /// padding there (0 for interior positions).
    private func correction(height h: Int, width w: Int, outHeight oh: Int, outWidth ow: Int) -> [Int32] {
        lock.lock()
        defer { lock.unlock() }
        if let cached = corrections[[h, w]] { return cached }
        let k = kernelSize, taps = k * k, positions = oh * ow
        var result = [Int32](repeating: 0, count: outputChannels * positions)
        for oy in 0..<oh {
            for ox in 0..<ow {
                var padded: [Int] = []
                for ky in 0..<k {
                    for kx in 0..<k {
                        let iy = oy * stride - padding + ky, ix = ox * stride - padding + kx
                        if iy < 0 || iy >= h || ix < 0 || ix >= w { padded.append(ky * k + kx) }
                    }
                }
                guard !padded.isEmpty else { continue }
                for o in 0..<outputChannels {
                    result[o * positions + oy * ow + ox] = padded.reduce(0) { $0 + tapSums[o * taps + $1] }
                }
            }
        }
        corrections[[h, w]] = result
        return result
    }

    public func forward(_ inputs: [Tensor], mode: Mode) -> Tensor {
        if mode == .training { return reference.forward(inputs, mode: mode) }
        let x = inputs[0]
        let n = x.shape[0], c = inputChannels, h = x.shape[2], w = x.shape[3], k = kernelSize
        let oh = (h + 2 * padding - k) / stride + 1, ow = (w + 2 * padding - k) / stride + 1
        let positions = oh * ow, o = outputChannels
        let planeWords = (c + 63) / 64, rowWords = (k * k * c + 63) / 64
        let fix = correction(height: h, width: w, outHeight: oh, outWidth: ow)
        let ones = [UInt64](repeating: ~0, count: planeWords)
        let biases = bias?.value.scalars ?? [Float](repeating: 0, count: o), alphas = binaryWeight.scales
        var y = Tensor(uninitialized: [n, o, oh, ow])
        x.withUnsafeBufferPointer { px in
            y.withUnsafeMutableBufferPointer { py in
                nonisolated(unsafe) let (px, py) = (px, py)
                Parallel.forEachChunk(count: n) { _, samples in
                    var planes = [UInt64](repeating: 0, count: h * w * planeWords)
                    var rows = [UInt64](repeating: 0, count: positions * rowWords)
                    var dots = [Int32](repeating: 0, count: positions * o)
                    for sample in samples {
                        ck_pack_signs_channels(px.baseAddress! + sample * c * h * w, Int64(c), Int64(h * w), &planes)
                        ck_im2row_binary(planes, Int64(c), Int64(h), Int64(w), Int64(k), Int64(stride),
                                         Int64(padding), Int64(oh), Int64(ow), ones, &rows)
                        // dots[oc][q]: the weights are the left operand, so each channel's plane is contiguous.
                        ck_gemm_binary(Int64(o), Int64(positions), Int64(k * k * c), packed, rows, &dots)
                        let out = py.baseAddress! + sample * o * positions
                        dots.withUnsafeBufferPointer { pd in
                            fix.withUnsafeBufferPointer { pf in
                                for oc in 0..<o {
                                    let alpha = alphas[oc], b = biases[oc], row = oc * positions
                                    for q in row..<(row + positions) { out[q] = alpha * Float(pd[q] &- pf[q]) + b }
                                }
                            }
                        }
                    }
                }
            }
        }
        return y
    }

    public func backward(_ outputGradient: Tensor, needsInputGradient: [Bool]) -> [Tensor?] {
        backwardWithFixedWeights(reference, outputGradient, needsInputGradient)
    }
}

/// A binarized fully connected layer: `y = α ⊙ (sign(x) · sign(W)ᵀ) + b`, on the XNOR-popcount GEMM at inference
/// and through an ordinary `Linear` holding α · sign(W) when training (the binary weight stays fixed).
public final class BinaryLinear: BinaryWeighted {
    public let weight: Parameter
    public let bias: Parameter?
    public let binaryWeight: IntegerWeightTensor
    /// α per output channel.
    public var alphas: [Float] { binaryWeight.scales }
    public var inputFeatures: Int { weight.value.shape[1] }
    public var outputFeatures: Int { weight.value.shape[0] }
    private let packed: [UInt64]
    private let reference: Linear

    /// Builds the layer from a float weight [out, in]: α_o = mean |W_o|, codes sign(W) (≥ 0 → +1).
    ///
    /// - Throws: `ShrinkError(.value)` when a weight is not finite.
    /// - Precondition: the weight is [out, in].
    public init(weight w: Tensor, bias: Tensor?) throws {
        precondition(w.rank == 2, "BinaryLinear weight must be [out, in], got \(w.shape)")
        binaryWeight = try binaryWeightOfLayer(w, "binary_linear")
        let value = binaryWeight.dequantized()
        self.weight = Parameter(value, trainable: false)
        self.bias = bias.map { Parameter($0, trainable: false) }
        let signs = binaryWeight.values.map(Float.init)
        packed = signs.withUnsafeBufferPointer { BinaryGEMM.pack($0.baseAddress!, rows: w.shape[0], columns: w.shape[1]) }
        reference = Linear(weight: value, bias: bias)
    }

    public var kind: String { "binary_linear" }
    public var parameters: [(name: String, parameter: Parameter)] {
        [("weight", weight)] + (bias.map { [("bias", $0)] } ?? [])
    }
    public var spec: LayerSpec {
        var s = LayerSpec(kind: kind)
        s.inputFeatures = inputFeatures; s.outputFeatures = outputFeatures; s.bias = bias != nil
        return s
    }

    public func outputShape(for inputShapes: [[Int]]) throws -> [Int] {
        try expectInputs(inputShapes, count: 1, kind)
        guard inputShapes[0] == [inputFeatures] else {
            throw ShrinkError(.shape, "binary_linear expects input (\(inputFeatures)), got \(inputShapes[0])")
        }
        return [outputFeatures]
    }

    public func macs(for inputShapes: [[Int]]) -> Int { inputFeatures * outputFeatures }

    public func forward(_ inputs: [Tensor], mode: Mode) -> Tensor {
        if mode == .training { return reference.forward(inputs, mode: mode) }
        let x = inputs[0]
        let n = x.shape[0], i = inputFeatures, o = outputFeatures, words = (i + 63) / 64
        let biases = bias?.value.scalars ?? [Float](repeating: 0, count: o), alphas = binaryWeight.scales
        var y = Tensor(uninitialized: [n, o])
        x.withUnsafeBufferPointer { px in
            y.withUnsafeMutableBufferPointer { py in
                nonisolated(unsafe) let (px, py) = (px, py)
                Parallel.forEachChunk(count: n) { _, samples in
                    var rows = [UInt64](repeating: 0, count: samples.count * words)
                    var dots = [Int32](repeating: 0, count: samples.count * o)
                    ck_pack_signs(px.baseAddress! + samples.lowerBound * i, Int64(samples.count), Int64(i), Int64(i),
                                  &rows)
                    ck_gemm_binary(Int64(samples.count), Int64(o), Int64(i), rows, packed, &dots)
                    for (r, sample) in samples.enumerated() {
                        for oc in 0..<o { py[sample * o + oc] = alphas[oc] * Float(dots[r * o + oc]) + biases[oc] }
                    }
                }
            }
        }
        return y
    }

    public func backward(_ outputGradient: Tensor, needsInputGradient: [Bool]) -> [Tensor?] {
        backwardWithFixedWeights(reference, outputGradient, needsInputGradient)
    }
}

/// Quantize then dequantize with fixed parameters: `y = s · (clamp(round(x/s) + z, 0, 2^bits − 1) − z)` (unsigned,
/// per tensor, ties to even) — the frozen form of a fake-quantization node, kept where a network's float layers
/// must see the same 8-bit activations they were trained on. Backward is the straight-through estimator (the
/// gradient passes inside the representable range).
public final class QuantizeDequantize: Layer {
    public let bits: Int
    public let scale: Parameter
    public let zeroPoint: Parameter

    /// - Precondition: bits in 2…8, scale positive and finite, zero point an integer in 0…2^bits − 1 (the file
    ///   loader checks these and throws).
    public init(bits: Int, scale: Float, zeroPoint: Int) {
        precondition((2...8).contains(bits) && scale > 0 && scale.isFinite && zeroPoint >= 0 && zeroPoint < 1 << bits,
                      "QuantizeDequantize: bits \(bits), scale \(scale), zero point \(zeroPoint)")
        self.bits = bits
        self.scale = Parameter(Tensor(shape: [1], scalars: [scale]), trainable: false)
        self.zeroPoint = Parameter(Tensor(shape: [1], scalars: [Float(zeroPoint)]), trainable: false)
    }

    public var kind: String { "quantize_dequantize" }
    public var parameters: [(name: String, parameter: Parameter)] { [("scale", scale), ("zero_point", zeroPoint)] }
    public var spec: LayerSpec {
        var s = LayerSpec(kind: kind)
        s.bits = bits
        return s
    }

    public func outputShape(for inputShapes: [[Int]]) throws -> [Int] {
        try expectInputs(inputShapes, count: 1, kind)
        return inputShapes[0]
    }

    private var savedPass: [Bool] = []

    public func forward(_ inputs: [Tensor], mode: Mode) -> Tensor {
        let x = inputs[0]
        let s = scale.value.scalars[0], z = zeroPoint.value.scalars[0], high = Float((1 << bits) - 1)
        var y = Tensor(uninitialized: x.shape)
        var pass = [Bool](repeating: true, count: mode == .training ? x.count : 0)
        x.withUnsafeBufferPointer { px in
            y.withUnsafeMutableBufferPointer { py in
                for i in 0..<px.count {
                    let q = (px[i] / s).rounded(.toNearestOrEven) + z
                    let clamped = min(max(q, 0), high)
                    py[i] = s * (clamped - z)
                    if mode == .training { pass[i] = q == clamped }
                }
            }
        }
        if mode == .training { savedPass = pass }
        return y
    }

    public func backward(_ outputGradient: Tensor, needsInputGradient: [Bool]) -> [Tensor?] {
        guard needsInputGradient[0] else { return [nil] }
        return [Tensor(shape: outputGradient.shape,
                       scalars: zip(outputGradient.scalars, savedPass).map { $1 ? $0 : 0 })]
    }
}
