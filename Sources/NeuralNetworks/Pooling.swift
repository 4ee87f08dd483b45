// Pooling layers: MaxPool2d, AvgPool2d and GlobalAvgPool over NCHW activations.
import CKernels
import Tensors

private func poolShape(_ kind: String, _ shapes: [[Int]], kernel: Int, stride: Int, padding: Int,
                       ceilMode: Bool = false) throws -> [Int] {
    try expectInputs(shapes, count: 1, kind)
    let s = shapes[0]
    guard s.count == 3 else { throw ShrinkError(.shape, "\(kind) expects input (C, H, W), got \(s)") }
    guard s[1] + 2 * padding >= kernel, s[2] + 2 * padding >= kernel else {
        throw ShrinkError(.shape, "\(kind) window \(kernel) does not fit input \(s)")
    }
    let size = { pooledSize($0, kernel: kernel, stride: stride, padding: padding, ceilMode: ceilMode) }
    return [s[0], size(s[1]), size(s[2])]
}

/// The pooled length of `n` cells: ⌊(n + 2p − k)/s⌋ + 1, or with `ceilMode` ⌈(n + 2p − k)/s⌉ + 1 less a last window
/// that would start in the right padding (PyTorch's and ONNX's rule).
public func pooledSize(_ n: Int, kernel: Int, stride: Int, padding: Int, ceilMode: Bool) -> Int {
    let span = n + 2 * padding - kernel
    guard ceilMode else { return span / stride + 1 }
    var size = (span + stride - 1) / stride + 1
    if (size - 1) * stride >= n + padding { size -= 1 }
    return size
}

/// Max pooling with a square window: `y[n, c, i, j] = max over the window of x`.
/// Shapes: (N, C, H, W) → (N, C, Ho, Wo), `Ho = ⌊(H + 2p − k)/s⌋ + 1`; with `ceilMode` the last windows may run past
/// the bottom and right edges (`⌈…⌉`, as SqueezeNet and GoogLeNet pool), taking the maximum of the cells inside.
/// Gradient goes to the first maximum.
public final class MaxPool2d: Layer {
    public let kernelSize: Int, stride: Int, padding: Int
    /// Whether the output length rounds up (PyTorch's `ceil_mode`).
    public let ceilMode: Bool
    private var savedArgmax: [Int32] = []
    private var savedInputShape: [Int] = []

    public init(kernelSize: Int, stride: Int? = nil, padding: Int = 0, ceilMode: Bool = false) {
        precondition(kernelSize >= 1 && (stride ?? 1) >= 1 && padding >= 0 && padding <= kernelSize / 2,
                     "MaxPool2d needs kernel ≥ 1, stride ≥ 1, 0 ≤ padding ≤ kernel/2")
        self.kernelSize = kernelSize
        self.stride = stride ?? kernelSize
        self.padding = padding
        self.ceilMode = ceilMode
    }

    public var kind: String { "maxpool2d" }
    public var spec: LayerSpec {
        var s = LayerSpec(kind: kind)
        s.kernelSize = kernelSize; s.stride = stride; s.padding = padding
        if ceilMode { s.ceilMode = true }
        return s
    }

    public func outputShape(for inputShapes: [[Int]]) throws -> [Int] {
        try poolShape(kind, inputShapes, kernel: kernelSize, stride: stride, padding: padding, ceilMode: ceilMode)
    }

    public func forward(_ inputs: [Tensor], mode: Mode) -> Tensor {
        let x = inputs[0]
        let n = x.shape[0], c = x.shape[1], h = x.shape[2], w = x.shape[3]
        let ho = pooledSize(h, kernel: kernelSize, stride: stride, padding: padding, ceilMode: ceilMode)
        let wo = pooledSize(w, kernel: kernelSize, stride: stride, padding: padding, ceilMode: ceilMode)
        var y = Tensor(uninitialized: [n, c, ho, wo])
        let training = mode == .training
        // Inference touches no layer state, so concurrent inference on one layer is safe.
        var argmax = training ? [Int32](repeating: 0, count: n * c * ho * wo) : []
        x.withUnsafeBufferPointer { px in
            y.withUnsafeMutableBufferPointer { py in
                argmax.withUnsafeMutableBufferPointer { pa in
                    nonisolated(unsafe) let (px, py, pa) = (px, py, pa)
                    // Planes are independent: split them (not samples), so a batch of one uses every thread.
                    Parallel.forEachChunk(count: n * c) { _, planes in
                        for plane in planes {
                            ck_maxpool2d_plane(px.baseAddress! + plane * h * w, Int32(h), Int32(w), Int32(kernelSize),
                                               Int32(stride), Int32(padding), py.baseAddress! + plane * ho * wo,
                                               Int32(ho), Int32(wo), training ? pa.baseAddress! + plane * ho * wo : nil)
                        }
                    }
                }
            }
        }
        if training {
            savedArgmax = argmax
            savedInputShape = x.shape
        }
        return y
    }

    public func backward(_ outputGradient: Tensor, needsInputGradient: [Bool]) -> [Tensor?] {
        guard needsInputGradient[0] else { return [nil] }
        var dx = Tensor(zeros: savedInputShape)
        let inPlane = savedInputShape[2] * savedInputShape[3]
        let outPlane = outputGradient.count / max(savedInputShape[0] * savedInputShape[1], 1)
        outputGradient.withUnsafeBufferPointer { pdy in
            dx.withUnsafeMutableBufferPointer { pdx in
                for plane in 0..<(savedInputShape[0] * savedInputShape[1]) {
                    for j in 0..<outPlane {
                        pdx[plane * inPlane + Int(savedArgmax[plane * outPlane + j])] += pdy[plane * outPlane + j]
                    }
                }
            }
        }
        return [dx]
    }
}

/// Average pooling with a square window; padded cells count as zeros (PyTorch's `count_include_pad=True`), so
/// every window divides by k². Shapes: (N, C, H, W) → (N, C, Ho, Wo).
public final class AvgPool2d: Layer {
    public let kernelSize: Int, stride: Int, padding: Int
    private var savedInputShape: [Int] = []

    public init(kernelSize: Int, stride: Int? = nil, padding: Int = 0) {
        precondition(kernelSize >= 1 && (stride ?? 1) >= 1 && padding >= 0 && padding <= kernelSize / 2,
                     "AvgPool2d needs kernel ≥ 1, stride ≥ 1, 0 ≤ padding ≤ kernel/2")
        self.kernelSize = kernelSize
        self.stride = stride ?? kernelSize
        self.padding = padding
    }

    public var kind: String { "avgpool2d" }
    public var spec: LayerSpec {
        var s = LayerSpec(kind: kind)
        s.kernelSize = kernelSize; s.stride = stride; s.padding = padding
        return s
    }

    public func outputShape(for inputShapes: [[Int]]) throws -> [Int] {
        try poolShape(kind, inputShapes, kernel: kernelSize, stride: stride, padding: padding)
    }

    /// Calls `body(inputIndex, outputIndex)` for every (window cell inside the image, output cell) of one plane.
    private func forEachWindowCell(h: Int, w: Int, ho: Int, wo: Int, _ body: (Int, Int) -> Void) {
        for oy in 0..<ho {
            for ox in 0..<wo {
                for ky in 0..<kernelSize {
                    let y = oy * stride - padding + ky
                    if y < 0 || y >= h { continue }
                    for kx in 0..<kernelSize {
                        let x = ox * stride - padding + kx
                        if x >= 0 && x < w { body(y * w + x, oy * wo + ox) }
                    }
                }
            }
        }
    }

    public func forward(_ inputs: [Tensor], mode: Mode) -> Tensor {
        let x = inputs[0]
        let n = x.shape[0], c = x.shape[1], h = x.shape[2], w = x.shape[3]
        let ho = (h + 2 * padding - kernelSize) / stride + 1, wo = (w + 2 * padding - kernelSize) / stride + 1
        var y = Tensor(zeros: [n, c, ho, wo])
        let divisor = 1 / Float(kernelSize * kernelSize)
        x.withUnsafeBufferPointer { px in
            y.withUnsafeMutableBufferPointer { py in
                for plane in 0..<(n * c) {
                    let src = px.baseAddress! + plane * h * w, dst = py.baseAddress! + plane * ho * wo
                    forEachWindowCell(h: h, w: w, ho: ho, wo: wo) { i, o in dst[o] += src[i] * divisor }
                }
            }
        }
        if mode == .training { savedInputShape = x.shape }
        return y
    }

    public func backward(_ outputGradient: Tensor, needsInputGradient: [Bool]) -> [Tensor?] {
        guard needsInputGradient[0] else { return [nil] }
        let s = savedInputShape, h = s[2], w = s[3], ho = outputGradient.shape[2], wo = outputGradient.shape[3]
        var dx = Tensor(zeros: s)
        let divisor = 1 / Float(kernelSize * kernelSize)
        outputGradient.withUnsafeBufferPointer { pdy in
            dx.withUnsafeMutableBufferPointer { pdx in
                for plane in 0..<(s[0] * s[1]) {
                    let src = pdy.baseAddress! + plane * ho * wo, dst = pdx.baseAddress! + plane * h * w
                    forEachWindowCell(h: h, w: w, ho: ho, wo: wo) { i, o in dst[i] += src[o] * divisor }
                }
            }
        }
        return [dx]
    }
}

/// Global average pooling: the mean of each channel's plane, (N, C, H, W) → (N, C). It equals PyTorch's
/// `AdaptiveAvgPool2d(1)` followed by `flatten(1)`.
public final class GlobalAvgPool: Layer {
    private var savedInputShape: [Int] = []

    public init() {}

    public var kind: String { "globalavgpool" }
    public var spec: LayerSpec { LayerSpec(kind: kind) }

    public func outputShape(for inputShapes: [[Int]]) throws -> [Int] {
        try expectInputs(inputShapes, count: 1, kind)
        guard inputShapes[0].count == 3 else {
            throw ShrinkError(.shape, "globalavgpool expects input (C, H, W), got \(inputShapes[0])")
        }
        return [inputShapes[0][0]]
    }

    public func forward(_ inputs: [Tensor], mode: Mode) -> Tensor {
        if mode == .training { savedInputShape = inputs[0].shape }
        return planeMeans(inputs[0], shape: [inputs[0].shape[0], inputs[0].shape[1]])
    }

    public func backward(_ outputGradient: Tensor, needsInputGradient: [Bool]) -> [Tensor?] {
        guard needsInputGradient[0] else { return [nil] }
        return [spreadOverPlanes(outputGradient, inputShape: savedInputShape)]
    }
}

/// The mean of each (sample, channel) plane of an (N, C, H, W) tensor, in an output of `shape` (N·C elements).
func planeMeans(_ x: Tensor, shape: [Int]) -> Tensor {
    let planes = x.shape[0] * x.shape[1], plane = x.shape[2] * x.shape[3]
    var y = Tensor(uninitialized: shape)
    x.withUnsafeBufferPointer { px in
        y.withUnsafeMutableBufferPointer { py in
            nonisolated(unsafe) let (px, py) = (px, py)
            // Planes split across threads (a batch of one too). Each plane is summed in order, element by element;
            // four planes at a time, so the four dependent chains of additions overlap instead of waiting on each
            // other (the same sums, the same bits).
            Parallel.forEachRange(count: planes, grain: max(4, (1 << 15) / max(plane, 1))) { range in
                var i = range.lowerBound
                while i + 4 <= range.upperBound {
                    let (a, b, c, d) = (px.baseAddress! + i * plane, px.baseAddress! + (i + 1) * plane,
                                        px.baseAddress! + (i + 2) * plane, px.baseAddress! + (i + 3) * plane)
                    var (ta, tb, tc, td): (Float, Float, Float, Float) = (0, 0, 0, 0)
                    for j in 0..<plane {
                        ta += a[j]
                        tb += b[j]
                        tc += c[j]
                        td += d[j]
                    }
                    (py[i], py[i + 1], py[i + 2], py[i + 3]) =
                        (ta / Float(plane), tb / Float(plane), tc / Float(plane), td / Float(plane))
                    i += 4
                }
                for k in i..<range.upperBound {
                    var total: Float = 0
                    for j in 0..<plane { total += px[k * plane + j] }
                    py[k] = total / Float(plane)
                }
            }
        }
    }
    return y
}

/// The gradient of `planeMeans`: each plane's output gradient spread evenly over the plane.
func spreadOverPlanes(_ outputGradient: Tensor, inputShape s: [Int]) -> Tensor {
    let plane = s[2] * s[3]
    var dx = Tensor(uninitialized: s)
    outputGradient.withUnsafeBufferPointer { pdy in
        dx.withUnsafeMutableBufferPointer { pdx in
            for i in 0..<(s[0] * s[1]) {
                (pdx.baseAddress! + i * plane).update(repeating: pdy[i] / Float(plane), count: plane)
            }
        }
    }
    return dx
}
