// The smooth and gated activations of the mobile architecture families: sigmoid, hard-sigmoid, SiLU (swish),
// hard-swish, GELU (erf and tanh forms) and leaky ReLU — elementwise, any shape, with exact backward.
import CKernels
import Foundation
import Tensors

/// An elementwise activation function.
public enum PointwiseFunction: String, CaseIterable, Sendable, Codable {
    /// `σ(x) = 1 / (1 + e^−x)`.
    case sigmoid
    /// `clamp(α·x + β, 0, 1)`; PyTorch's `Hardsigmoid` is α = 1/6, β = 1/2 (ONNX's default is α = 0.2).
    case hardSigmoid = "hardsigmoid"
    /// SiLU / swish, `x · σ(x)` (EfficientNet).
    case silu
    /// `x · relu6(x + 3) / 6` (MobileNetV3).
    case hardSwish = "hardswish"
    /// `x · Φ(x) = x/2 · (1 + erf(x/√2))`.
    case gelu
    /// GELU's tanh approximation, `x/2 · (1 + tanh(√(2/π) · (x + 0.044715·x³)))`.
    case geluTanh = "gelu_tanh"
    /// `x` for x > 0, else `α·x` (α = 0.01 by default).
    case leakyReLU = "leaky_relu"

    /// The default α: hard-sigmoid's slope, leaky ReLU's negative slope; unused by the others.
    public var defaultAlpha: Float {
        switch self {
        case .hardSigmoid: 1 / 6
        case .leakyReLU: 0.01
        default: 0
        }
    }

    /// The default β: hard-sigmoid's offset; unused by the others.
    public var defaultBeta: Float { self == .hardSigmoid ? 0.5 : 0 }
}

/// An elementwise activation (`PointwiseFunction`) of any shape. Backward is the exact derivative; at the kinks of
/// the piecewise functions (hard-sigmoid's, hard-swish's, leaky ReLU's) it takes the value PyTorch's backward takes.
/// Inference computes sigmoid and SiLU with the vectorized exp of the C kernels (`ck_expf`, within 2 ulp of e^x);
/// training, forward and backward, with libm's exp, so a trained model does not depend on the inference kernels.
public final class PointwiseActivation: Layer {
    public let function: PointwiseFunction
    /// Hard-sigmoid's slope and offset; leaky ReLU's negative slope (α).
    public let alpha: Float, beta: Float
    private var savedInput = Tensor(zeros: [0])

    /// - Throws: `ShrinkError(.value)` for a non-finite α or β, or a hard-sigmoid slope that is not positive.
    public init(_ function: PointwiseFunction, alpha: Float? = nil, beta: Float? = nil) throws {
        let a = alpha ?? function.defaultAlpha, b = beta ?? function.defaultBeta
        guard a.isFinite, b.isFinite else {
            throw ShrinkError(.value, "\(function.rawValue): alpha and beta must be finite, got \(a) and \(b)")
        }
        if function == .hardSigmoid, !(a > 0) {
            throw ShrinkError(.value, "hardsigmoid: the slope alpha must be positive, got \(a)")
        }
        self.function = function
        self.alpha = a
        self.beta = b
    }

    public var kind: String { function.rawValue }

    public var spec: LayerSpec {
        var spec = LayerSpec(kind: kind)
        if function == .hardSigmoid || function == .leakyReLU { spec.alpha = alpha }
        if function == .hardSigmoid { spec.beta = beta }
        return spec
    }

    public func outputShape(for inputShapes: [[Int]]) throws -> [Int] {
        try expectInputs(inputShapes, count: 1, kind)
        return inputShapes[0]
    }

    /// One multiply-accumulate per element (the gated forms multiply by their gate).
    public func macs(for inputShapes: [[Int]]) -> Int { inputShapes.first?.reduce(1, *) ?? 0 }

    public static let sqrtHalf: Float = 0.70710678118654752
    public static let inverseSqrtTwoPi: Float = 0.39894228040143268
    public static let sqrtTwoOverPi: Float = 0.79788456080286536

    /// σ(x) as inference computes it, with the exp of the vectorized kernels (`ck_expf`): one value and a whole
    /// tensor agree to the bit.
    @inline(__always)
    static func sigmoid(_ x: Float) -> Float { 1 / (1 + ck_expf(-x)) }

    /// σ(x) as training computes it, forward and backward, with libm's exp.
    @inline(__always)
    static func trainingSigmoid(_ x: Float) -> Float { 1 / (1 + Foundation.exp(-x)) }

    /// f(x), as inference computes it.
    @inline(__always)
    public func value(_ x: Float) -> Float {
        switch function {
        case .sigmoid: return Self.sigmoid(x)
        case .hardSigmoid: return min(max(alpha * x + beta, 0), 1)
        case .silu: return x / (1 + ck_expf(-x))
        case .hardSwish: return x * min(max(x + 3, 0), 6) / 6
        case .gelu: return 0.5 * x * (1 + Foundation.erf(x * Self.sqrtHalf))
        case .geluTanh: return 0.5 * x * (1 + Foundation.tanh(Self.sqrtTwoOverPi * (x + 0.044715 * x * x * x)))
        case .leakyReLU: return x > 0 ? x : alpha * x
        }
    }

    /// f′(x), as training's backward computes it.
    @inline(__always)
    public func derivative(_ x: Float) -> Float {
        switch function {
        case .sigmoid:
            let s = Self.trainingSigmoid(x)
            return s * (1 - s)
        case .hardSigmoid:
            let u = alpha * x + beta
            return u > 0 && u < 1 ? alpha : 0
        case .silu:
            let s = Self.trainingSigmoid(x)
            return s + x * s * (1 - s)
        case .hardSwish:
            if x < -3 { return 0 }
            if x <= 3 { return (2 * x + 3) / 6 }
            return 1
        case .gelu:
            return 0.5 * (1 + Foundation.erf(x * Self.sqrtHalf)) + x * Self.inverseSqrtTwoPi * Foundation.exp(-0.5 * x * x)
        case .geluTanh:
            let inner = Self.sqrtTwoOverPi * (x + 0.044715 * x * x * x)
            let t = Foundation.tanh(inner)
            return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * Self.sqrtTwoOverPi * (1 + 3 * 0.044715 * x * x)
        case .leakyReLU:
            return x > 0 ? 1 : alpha
        }
    }

    public func forward(_ inputs: [Tensor], mode: Mode) -> Tensor {
        let x = inputs[0]
        var y = Tensor(uninitialized: x.shape)
        x.withUnsafeBufferPointer { whole in
            y.withUnsafeMutableBufferPointer { wholeOutput in
                nonisolated(unsafe) let (whole, wholeOutput) = (whole, wholeOutput)
                // Blocks of elements split across threads (a batch of one too); each element is computed alike.
                let block = 1 << 14, count = whole.count
                Parallel.forEachChunk(count: (count + block - 1) / block) { _, blocks in
                    let range = (blocks.lowerBound * block)..<min(blocks.upperBound * block, count)
                    let px = UnsafeBufferPointer(rebasing: whole[range])
                    let py = UnsafeMutableBufferPointer(rebasing: wholeOutput[range])
                    switch (function, mode) {
                    case (.sigmoid, .training): for i in px.indices { py[i] = Self.trainingSigmoid(px[i]) }
                    case (.silu, .training): for i in px.indices { py[i] = px[i] * Self.trainingSigmoid(px[i]) }
                    default:
                        Self.apply(function, alpha: alpha, beta: beta, px.baseAddress!, py.baseAddress!, count: px.count)
                    }
                }
            }
        }
        if mode == .training { savedInput = x }
        return y
    }

    /// `y = f(x)` for `count` elements (`x` and `y` may be the same buffer): the forward of the layer and of a
    /// producer that fuses it. One loop per function, so each is a plain loop the compiler vectorizes where it can
    /// (a per-element switch is not hoisted); sigmoid and SiLU are the C kernels. The same operations as `value`, so
    /// the same bits.
    @inline(__always)
    static func apply(_ function: PointwiseFunction, alpha a: Float, beta b: Float, _ x: UnsafePointer<Float>,
                      _ y: UnsafeMutablePointer<Float>, count: Int) {
        @inline(__always)
        func map(_ f: (Float) -> Float) {
            for i in 0..<count { y[i] = f(x[i]) }
        }
        switch function {
        case .sigmoid: ck_sigmoid(x, y, Int64(count))
        case .hardSigmoid: map { min(max(a * $0 + b, 0), 1) }
        case .silu: ck_silu(x, y, Int64(count))
        case .hardSwish: ck_hardswish(x, y, Int64(count))
        case .leakyReLU: map { $0 > 0 ? $0 : a * $0 }
        case .gelu: map { 0.5 * $0 * (1 + Foundation.erf($0 * sqrtHalf)) }
        case .geluTanh: map { 0.5 * $0 * (1 + Foundation.tanh(sqrtTwoOverPi * ($0 + 0.044715 * $0 * $0 * $0))) }
        }
    }

    public func backward(_ outputGradient: Tensor, needsInputGradient: [Bool]) -> [Tensor?] {
        guard needsInputGradient[0] else { return [nil] }
        var dx = Tensor(uninitialized: outputGradient.shape)
        savedInput.withUnsafeBufferPointer { px in
            outputGradient.withUnsafeBufferPointer { pdy in
                dx.withUnsafeMutableBufferPointer { pdx in
                    switch function {
                    case .hardSwish:
                        for i in 0..<pdx.count {
                            let x = px[i]
                            pdx[i] = pdy[i] * (x < -3 ? 0 : x <= 3 ? (2 * x + 3) / 6 : 1)
                        }
                    default:
                        for i in 0..<pdx.count { pdx[i] = pdy[i] * derivative(px[i]) }
                    }
                }
            }
        }
        return [dx]
    }
}
