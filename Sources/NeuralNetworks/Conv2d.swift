// Conv2d: 2-D convolution (stride, padding, groups; dilation 1) as im2col + one sgemm per (sample, group), a
// depthwise convolution by a direct kernel (ck_depthwise_*), and inference by implicit GEMM (ck_conv2d_forward):
// every non-depthwise conv where the CPU has AVX-512, an ungrouped k×k conv of one image where it has AVX2 and FMA
// and GEMM runs on OpenBLAS.
import CKernels
import Foundation
import Tensors

/// A 2-D convolution with square kernels, `y[n, o] = b[o] + Σ_c W[o, c] ⋆ x[n, g(o)·C/G + c]`.
///
/// Shapes: x (N, C, H, W), W [O, C/G, k, k] (OIHW), b [O], y (N, O, Ho, Wo) with `Ho = (H + 2p − k)/s + 1`.
/// Groups G split input and output channels into G independent convolutions; G = C = O is depthwise.
/// 1×1 convolutions with stride 1 and no padding skip im2col and go straight to sgemm; depthwise convolutions (G = C,
/// any channel multiplier O/C) run a direct kernel, forward and backward. Inference keeps the weights packed for its
/// kernel and repacks them when `weight.version` moves.
/// MACs per sample: `Ho · Wo · O · (C/G) · k²`. Initialisation: He uniform over fan-in `(C/G)·k²`, zero bias.
public final class Conv2d: ActivationFusing {
    public let weight: Parameter
    public let bias: Parameter?
    public let stride: Int
    public let padding: Int
    public let groups: Int
    public var outputChannels: Int { weight.value.shape[0] }
    public var inputChannels: Int { weight.value.shape[1] * groups }
    public var kernelSize: Int { weight.value.shape[2] }

    private var savedGeometry: ConvolutionGeometry?
    private var savedBatch = 0

    /// Creates the layer from its tensors: `weight` [O, C/G, k, k], `bias` [O] or nil.
    public init(weight: Tensor, bias: Tensor?, stride: Int = 1, padding: Int = 0, groups: Int = 1) {
        precondition(weight.rank == 4 && weight.shape[2] == weight.shape[3], "Conv2d weight must be [O, C/G, k, k]")
        precondition(groups >= 1 && weight.shape[0] % groups == 0, "Conv2d output channels must divide by groups")
        precondition(stride >= 1 && padding >= 0, "Conv2d needs stride ≥ 1 and padding ≥ 0")
        self.weight = Parameter(weight)
        self.bias = bias.map { Parameter($0) }
        self.stride = stride
        self.padding = padding
        self.groups = groups
    }

    /// Creates a He-initialised layer.
    public convenience init(inputChannels: Int, outputChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
                            groups: Int = 1, bias: Bool = true, generator: inout SeededGenerator) {
        precondition(inputChannels % groups == 0, "Conv2d input channels must divide by groups")
        let fanIn = inputChannels / groups * kernelSize * kernelSize
        self.init(weight: heUniform(shape: [outputChannels, inputChannels / groups, kernelSize, kernelSize],
                                    fanIn: fanIn, generator: &generator),
                  bias: bias ? Tensor(zeros: [outputChannels]) : nil, stride: stride, padding: padding, groups: groups)
    }

    public var kind: String { "conv2d" }
    public var parameters: [(name: String, parameter: Parameter)] {
        [("weight", weight)] + (bias.map { [("bias", $0)] } ?? [])
    }
    public var spec: LayerSpec {
        var s = LayerSpec(kind: kind)
        s.inputChannels = inputChannels; s.outputChannels = outputChannels; s.kernelSize = kernelSize
        s.stride = stride; s.padding = padding; s.groups = groups; s.bias = bias != nil
        return s
    }

    private func geometry(height: Int, width: Int) -> ConvolutionGeometry {
        ConvolutionGeometry(channels: inputChannels / groups, height: height, width: width,
                            kernelHeight: kernelSize, kernelWidth: kernelSize, stride: stride, padding: padding)
    }

    private var isPointwise: Bool { kernelSize == 1 && stride == 1 && padding == 0 }
    /// Depthwise: one input channel per group, run by the direct kernel.
    private var isDepthwise: Bool { groups > 1 && groups == inputChannels }

    public func outputShape(for inputShapes: [[Int]]) throws -> [Int] {
        try expectInputs(inputShapes, count: 1, kind)
        let s = inputShapes[0]
        guard s.count == 3, s[0] == inputChannels else {
            throw ShrinkError(.shape, "conv2d expects input (\(inputChannels), H, W), got \(s)")
        }
        let g = geometry(height: s[1], width: s[2])
        guard s[1] + 2 * padding >= kernelSize, s[2] + 2 * padding >= kernelSize else {
            throw ShrinkError(.shape, "conv2d kernel \(kernelSize) does not fit input \(s) with padding \(padding)")
        }
        return [outputChannels, g.outputHeight, g.outputWidth]
    }

    public func macs(for inputShapes: [[Int]]) -> Int {
        guard let out = try? outputShape(for: inputShapes) else { return 0 }
        return out[1] * out[2] * outputChannels * (inputChannels / groups) * kernelSize * kernelSize
    }

    public func forward(_ inputs: [Tensor], mode: Mode) -> Tensor {
        compute(inputs[0], mode: mode, fusing: nil)
    }

    /// Inference with the following activation fused in: applied to each group's output planes while in cache.
    public func forward(_ inputs: [Tensor], fusing activation: FusedActivation) -> Tensor {
        compute(inputs[0], mode: .inference, fusing: activation)
    }

    private func compute(_ x: Tensor, mode: Mode, fusing activation: FusedActivation?) -> Tensor {
        if isDepthwise { return depthwise(x, mode: mode, fusing: activation) }
        if mode == .inference, usesImplicitGEMM(batch: x.shape[0]) {
            return implicitGEMM(x, fusing: activation)
        }
        // x (N, C, H, W) → y (N, O, Ho, Wo)
        let n = x.shape[0], h = x.shape[2], w = x.shape[3]
        let g = geometry(height: h, width: w)
        let og = outputChannels / groups, kRows = g.columnRows, cols = g.columnCount
        if mode == .inference, n == 1, BLAS.threads > 1, groups > 1 || isPointwise,
           outputChannels * kRows * cols >= GEMM.parallelThreshold {
            return inferSplit(x, fusing: activation)
        }
        let inPlane = g.channels * h * w
        var y = Tensor(uninitialized: [n, outputChannels, g.outputHeight, g.outputWidth])
        // Samples are independent: split them across threads, each unfolding one (sample, group) at a time into its
        // own scratch, local to the call so that concurrent inference on one layer is safe. Training keeps the input,
        // not the columns: backward unfolds each sample again into a scratch that stays in cache, which is cheaper
        // than writing every sample's columns (30 MB a batch for fmnist-cnn's conv2) out to memory and reading them
        // back.
        let perGroup = kRows * cols
        let chunks = Parallel.chunkCount(count: n)
        var columns = [Float](unsafeUninitializedCapacity: isPointwise ? 0 : perGroup * chunks) {
            $1 = isPointwise ? 0 : perGroup * chunks
        }
        let biasValues = bias?.value.scalars
        x.withUnsafeBufferPointer { px in
            weight.value.withUnsafeBufferPointer { pw in
                y.withUnsafeMutableBufferPointer { py in
                    columns.withUnsafeMutableBufferPointer { pc in
                        nonisolated(unsafe) let (px, pw, py, pc) = (px, pw, py, pc)
                        Parallel.forEachChunk(count: n) { chunk, samples in
                            for sample in samples {
                                for group in 0..<groups {
                                    forwardGroup(group, input: px.baseAddress! + (sample * groups + group) * inPlane,
                                                 output: py.baseAddress! + (sample * outputChannels + group * og) * cols,
                                                 columns: isPointwise ? nil : pc.baseAddress! + chunk * perGroup,
                                                 geometry: g, weights: pw.baseAddress!, bias: biasValues,
                                                 activation: activation)
                                }
                            }
                        }
                    }
                }
            }
        }
        if mode == .training {
            savedGeometry = g
            savedBatch = n
            savedInput = x
        }
        return y
    }

    /// The input of the last training forward, which backward unfolds again (or, for a 1×1 or depthwise conv, reads
    /// in place).
    private var savedInput = Tensor(zeros: [0])

    /// Inference of one image on the im2col path with several threads, every part doing its whole share — bias,
    /// product and fused activation while the piece is in cache — instead of one thread filling and activating
    /// around a split product: a grouped conv splits its groups (each part unfolds its own groups into its own
    /// scratch), a 1×1 conv its output pixels in bands of 32 columns (each product reads its band of the input in
    /// place). Each output's sum is the single-threaded product's.
    private func inferSplit(_ x: Tensor, fusing activation: FusedActivation?) -> Tensor {
        let h = x.shape[2], w = x.shape[3]
        let g = geometry(height: h, width: w)
        let og = outputChannels / groups, kRows = g.columnRows, cols = g.columnCount
        let inPlane = g.channels * h * w
        var y = Tensor(uninitialized: [1, outputChannels, g.outputHeight, g.outputWidth])
        let splitsGroups = groups > 1
        let units = splitsGroups ? groups : (cols + 31) / 32
        let parts = min(BLAS.threads, units)
        var scratch = [Float](unsafeUninitializedCapacity: splitsGroups && !isPointwise ? parts * kRows * cols : 0) {
            $1 = splitsGroups && !isPointwise ? parts * kRows * cols : 0
        }
        let biasValues = bias?.value.scalars
        let pointwise = isPointwise
        x.withUnsafeBufferPointer { px in
            weight.value.withUnsafeBufferPointer { pw in
                y.withUnsafeMutableBufferPointer { py in
                    scratch.withUnsafeMutableBufferPointer { pc in
                        nonisolated(unsafe) let (px, pw, py, pc) = (px, pw, py, pc)
                        Parallel.perform(iterations: parts, threads: parts) { part in
                            Parallel.withThreads(1) {
                                let first = units * part / parts, last = units * (part + 1) / parts
                                if splitsGroups {
                                    for group in first..<last {
                                        forwardGroup(group, input: px.baseAddress! + group * inPlane,
                                                     output: py.baseAddress! + group * og * cols,
                                                     columns: pointwise ? nil : pc.baseAddress! + part * kRows * cols,
                                                     geometry: g, weights: pw.baseAddress!, bias: biasValues,
                                                     activation: activation)
                                    }
                                } else {
                                    let start = min(cols, first * 32), end = min(cols, last * 32)
                                    guard start < end else { return }
                                    let out = py.baseAddress! + start
                                    for o in 0..<og {
                                        (out + o * cols).update(repeating: biasValues?[o] ?? 0, count: end - start)
                                    }
                                    GEMM.sgemm(.none, .none, m: og, n: end - start, k: kRows, a: pw.baseAddress!,
                                               b: px.baseAddress! + start, ldb: cols, beta: 1, c: out, ldc: cols)
                                    if let activation {
                                        for o in 0..<og { activation.apply(out + o * cols, count: end - start) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return y
    }

    /// One group of one image on the im2col path: unfolds `input` into `columns` (nil for a 1×1 conv, which
    /// multiplies the input in place), fills the group's outputs with their bias, adds W · columns — (og × kRows) ·
    /// (kRows × cols) — and applies the fused activation while the outputs are in cache.
    private func forwardGroup(_ group: Int, input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
                              columns: UnsafeMutablePointer<Float>?, geometry g: ConvolutionGeometry,
                              weights: UnsafePointer<Float>, bias: [Float]?, activation: FusedActivation?) {
        let og = outputChannels / groups, kRows = g.columnRows, cols = g.columnCount
        let b = unfold(input, g, into: columns)
        for o in 0..<og {
            (output + o * cols).update(repeating: bias?[group * og + o] ?? 0, count: cols)
        }
        GEMM.sgemm(.none, .none, m: og, n: cols, k: kRows, a: weights + group * og * kRows, b: b, beta: 1, c: output)
        activation?.apply(output, count: og * cols)
    }

    /// The GEMM's right-hand side for one (sample, group): `input` unfolded into `columns` by im2col, or, for a 1×1
    /// conv (no `columns`), the input itself.
    private func unfold(_ input: UnsafePointer<Float>, _ g: ConvolutionGeometry,
                        into columns: UnsafeMutablePointer<Float>?) -> UnsafePointer<Float> {
        guard let columns else { return input }
        im2col(input, g, columns)
        return UnsafePointer(columns)
    }

    /// Whether inference runs the implicit-GEMM kernel (`ck_conv2d_forward`); training, which keeps its columns for
    /// backward, always unfolds with im2col. On CPUs with AVX2 and FMA but no AVX-512 the kernel runs an ungrouped
    /// k×k conv of a batch of one where GEMM is OpenBLAS: larger batches of small images, where each sample's call
    /// is small beside its fixed costs, were faster by im2col there (fmnist-cnn at batch 256: 69 against 48 ms).
    ///
    /// With AVX-512 (`ck_conv2d_path() == 2`) the kernel serves every conv but the depthwise ones, at any batch: its
    /// 6-row tiles fit the few output channels of a group or a mobile network's 1×1 convs better than the GEMM's
    /// 14-row ones, the weights are packed once instead of on every call, a 1×1 conv reads its input in place and a
    /// k×k conv never writes an im2col matrix. `SHRINK_CONV=im2col` turns the kernel off, `SHRINK_CONV=implicit` on
    /// for every non-depthwise conv, for comparisons.
    private func usesImplicitGEMM(batch: Int) -> Bool {
        let path = ck_conv2d_path()
        guard path != 0 else { return false }
        switch Self.convolutionChoice {
        case "im2col": return false
        case "implicit": return true
        default:
            if path == 2 { return true }
            return batch == 1 && groups == 1 && kernelSize > 1 && GEMM.backend == .openBLAS
        }
    }
    /// The multiply-adds from which the kernel splits a batch of one across threads: 2¹⁷, a quarter of the GEMM's
    /// threshold, since the kernel's parts need no packing of their own (fmnist-cnn's conv1, 225,792 multiply-adds,
    /// splits: 0.075 → 0.070 ms a batch-1 call at two threads).
    static let splitThreshold = 1 << 17
    static let convolutionChoice = ProcessInfo.processInfo.environment["SHRINK_CONV"]

    /// The weights packed for `ck_conv2d_forward` (each group's block after the other) or, for `channels`, for
    /// `ck_conv2d_forward_channels`, and the weight version they were packed from; rebuilt when the weights change.
    /// A layer keeps only the layouts its input sizes have asked for.
    private var packed: (version: Int, values: [Float])?
    private var channelPacked: (version: Int, values: [Float])?
    private let packing = NSLock()

    private func packedWeights(depth: Int, channels: Bool = false) -> [Float] {
        packing.lock()
        defer { packing.unlock() }
        let cached = channels ? channelPacked : packed
        if let cached, cached.version == weight.version { return cached.values }
        let og = outputChannels / groups
        let perGroup = Int(channels ? ck_conv2d_channel_packed_size(Int64(og), Int64(depth))
                                    : ck_conv2d_packed_size(Int64(og), Int64(depth)))
        var values = [Float](repeating: 0, count: perGroup * groups)
        weight.value.withUnsafeBufferPointer { pw in
            values.withUnsafeMutableBufferPointer { pp in
                for group in 0..<groups {
                    let w = pw.baseAddress! + group * og * depth, out = pp.baseAddress! + group * perGroup
                    if channels {
                        ck_conv2d_pack_channel_weights(w, Int64(og), Int64(depth), out)
                    } else {
                        ck_conv2d_pack_weights(w, Int64(og), Int64(depth), out)
                    }
                }
            }
        }
        if channels { channelPacked = (weight.version, values) } else { packed = (weight.version, values) }
        return values
    }

    /// Inference by implicit GEMM: per (sample, group), the packed weights times the unfolded input, gathered panel
    /// by panel, with the pixels on the vector lanes or the output channels (`ck_conv2d_channel_tiles`: a k×k conv
    /// whose group's channels fill 16-lane vectors, read straight from a padded copy of its input, or a 1×1 conv on a
    /// small plane whose pixels fill the lanes badly, 7×7 being 49 of 64). A batch of one splits across threads when the
    /// product is worth the hand-off: its output pixels in whole panels of 16 when each part gets two panels or more,
    /// else its groups, else its output channels in whole panels of the tiles (6 pixel-tile rows or 16 lanes of
    /// channels; a 7×7 plane is four panels: split by pixels, each part's tile would be a quarter of the kernel's
    /// widest). A larger batch splits its samples. Every output gets the bits of one unsplit call. A fused ReLU,
    /// ReLU6 or hard-swish is applied in the kernel's registers, any other fused activation to each piece while in
    /// cache.
    private func implicitGEMM(_ x: Tensor, fusing activation: FusedActivation?) -> Tensor {
        let n = x.shape[0], h = x.shape[2], w = x.shape[3]
        let g = geometry(height: h, width: w)
        let og = outputChannels / groups, depth = g.columnRows, cols = g.columnCount
        let inPlane = g.channels * h * w
        let channelTiles = ck_conv2d_channel_tiles(Int64(og), Int64(cols), Int64(kernelSize), Int64(stride)) != 0
        let weights = packedWeights(depth: depth, channels: channelTiles)
        let perGroup = Int(channelTiles ? ck_conv2d_channel_packed_size(Int64(og), Int64(depth))
                                        : ck_conv2d_packed_size(Int64(og), Int64(depth)))
        var y = Tensor(uninitialized: [n, outputChannels, g.outputHeight, g.outputWidth])
        let rowPanel = channelTiles ? 16 : 6
        let panels = (cols + 15) / 16, rowPanels = (og + rowPanel - 1) / rowPanel
        var parts = n == 1 && BLAS.threads > 1 && outputChannels * depth * cols >= Conv2d.splitThreshold
            ? 2 * BLAS.threads : 1
        enum Split { case pixels, groups, rows }
        let split: Split = panels >= 2 * parts ? .pixels : groups >= parts ? .groups : .rows
        if split == .rows { parts = max(1, min(parts, rowPanels)) }
        let biasValues = bias?.value ?? Tensor(zeros: [0])
        let (k, s, p) = (Int64(kernelSize), Int64(stride), Int64(padding))
        // ReLU, ReLU6 and hard-swish are applied in the kernel's registers; other activations go over each piece
        // after it.
        var afterwards = activation
        let fused = UnsafeMutablePointer<ck_fused_activation>.allocate(capacity: 1)
        defer { fused.deallocate() }
        fused.initialize(to: ck_fused_activation(kind: 0, cap: 0))
        switch activation {
        case .clamp(let cap)?:
            fused.pointee = ck_fused_activation(kind: Int32(CK_ACTIVATION_CLAMP), cap: cap)
            afterwards = nil
        case .pointwise(.hardSwish, _, _)?:
            fused.pointee = ck_fused_activation(kind: Int32(CK_ACTIVATION_HARDSWISH), cap: 0)
            afterwards = nil
        default: break
        }
        nonisolated(unsafe) let clamp: UnsafeMutablePointer<ck_fused_activation>? =
            afterwards == nil && activation != nil ? fused : nil
        x.withUnsafeBufferPointer { px in
            y.withUnsafeMutableBufferPointer { py in
                weights.withUnsafeBufferPointer { pp in
                    biasValues.withUnsafeBufferPointer { pb in
                        nonisolated(unsafe) let (px, py, pp, pb) = (px, py, pp, pb)
                        Parallel.forEachChunk(count: n * parts) { _, items in
                            for item in items {
                                let sample = item / parts, part = item % parts
                                var (start, end, rowStart, rowEnd) = (0, cols, 0, og)
                                var groupRange = 0..<groups
                                switch split {
                                case .pixels:
                                    start = min(cols, part * panels / parts * 16)
                                    end = min(cols, (part + 1) * panels / parts * 16)
                                case .groups:
                                    groupRange = groups * part / parts..<groups * (part + 1) / parts
                                case .rows:
                                    rowStart = rowPanels * part / parts * rowPanel
                                    rowEnd = min(og, rowPanels * (part + 1) / parts * rowPanel)
                                }
                                guard start < end, rowStart < rowEnd else { continue }
                                for group in groupRange {
                                    let out = py.baseAddress! + (sample * outputChannels + group * og) * cols
                                    let forward = channelTiles ? ck_conv2d_forward_channels : ck_conv2d_forward_rows
                                    _ = forward(pp.baseAddress! + group * perGroup, Int64(og),
                                                px.baseAddress! + (sample * groups + group) * inPlane,
                                                Int64(g.channels), Int64(h), Int64(w), k, s, p,
                                                pb.isEmpty ? nil : pb.baseAddress! + group * og, out,
                                                Int64(g.outputHeight), Int64(g.outputWidth), Int64(start), Int64(end),
                                                Int64(rowStart), Int64(rowEnd), clamp)
                                    guard let activation = afterwards else { continue }
                                    if start == 0, end == cols {
                                        activation.apply(out + rowStart * cols, count: (rowEnd - rowStart) * cols)
                                    } else {
                                        for o in rowStart..<rowEnd {
                                            activation.apply(out + o * cols + start, count: end - start)
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return y
    }

    /// The depthwise forward: the direct kernel, (sample, channel) runs split across threads.
    private func depthwise(_ x: Tensor, mode: Mode, fusing activation: FusedActivation?) -> Tensor {
        let n = x.shape[0], h = x.shape[2], w = x.shape[3]
        let g = geometry(height: h, width: w)
        let (oh, ow) = (g.outputHeight, g.outputWidth)
        var y = Tensor(uninitialized: [n, outputChannels, oh, ow])
        let inSample = inputChannels * h * w, outSample = outputChannels * oh * ow
        let multiplier = Int64(outputChannels / groups), k = Int64(kernelSize)
        let (strideValue, pad) = (Int64(stride), Int64(padding))
        let biasValues = bias?.value
        x.withUnsafeBufferPointer { px in
            weight.value.withUnsafeBufferPointer { pw in
                y.withUnsafeMutableBufferPointer { py in
                    nonisolated(unsafe) let (px, pw, py) = (px, pw, py)
                    let run = { (pb: UnsafePointer<Float>?) in
                        nonisolated(unsafe) let pb = pb
                        // Work items are (sample, input channel) pairs, so a batch of one still splits across
                        // threads; each channel's outputs are computed alike whatever the split.
                        let inputPlane = h * w, outputPlane = oh * ow, perInput = Int(multiplier)
                        let (inputChannels, kernelSize) = (self.inputChannels, self.kernelSize)
                        Parallel.forEachChunk(count: n * inputChannels) { _, items in
                            var item = items.lowerBound
                            while item < items.upperBound {
                                let sample = item / inputChannels, first = item % inputChannels
                                let count = min(items.upperBound - item, inputChannels - first)
                                let out = py.baseAddress! + sample * outSample + first * perInput * outputPlane
                                ck_depthwise_forward(px.baseAddress! + sample * inSample + first * inputPlane,
                                                     Int64(count * perInput), multiplier, Int64(h), Int64(w),
                                                     pw.baseAddress! + first * perInput * kernelSize * kernelSize, k,
                                                     strideValue, pad, pb.map { $0 + first * perInput }, out,
                                                     Int64(oh), Int64(ow))
                                activation?.apply(out, count: count * perInput * outputPlane)
                                item += count
                            }
                        }
                    }
                    if let biasValues {
                        biasValues.withUnsafeBufferPointer { run($0.baseAddress!) }
                    } else {
                        run(nil)
                    }
                }
            }
        }
        if mode == .training {
            savedGeometry = g
            savedBatch = n
            savedInput = x
        }
        return y
    }

    /// The depthwise backward: per-chunk weight gradients summed in chunk order (the same bits for any thread count).
    private func depthwiseBackward(_ dy: Tensor, _ g: ConvolutionGeometry, wantInput: Bool) -> Tensor? {
        let n = savedBatch, h = g.height, w = g.width, (oh, ow) = (g.outputHeight, g.outputWidth)
        let inSample = inputChannels * h * w, outSample = outputChannels * oh * ow
        let multiplier = Int64(outputChannels / groups), k = Int64(kernelSize)
        var dx = wantInput ? Tensor(zeros: [n, inputChannels, h, w]) : Tensor(zeros: [0])
        let chunks = Parallel.chunkCount(count: n)
        let weightCount = weight.value.count
        var partial = [Float](repeating: 0, count: max(chunks - 1, 0) * weightCount)
        savedInput.withUnsafeBufferPointer { px in
            dy.withUnsafeBufferPointer { pdy in
                weight.value.withUnsafeBufferPointer { pw in
                    weight.gradient.withUnsafeMutableBufferPointer { pdw in
                        dx.withUnsafeMutableBufferPointer { pdx in
                            partial.withUnsafeMutableBufferPointer { ppart in
                                nonisolated(unsafe) let (px, pdy, pw, pdw, pdx, ppart) = (px, pdy, pw, pdw, pdx, ppart)
                                Parallel.forEachChunk(count: n) { chunk, samples in
                                    let dW = chunk == 0 ? pdw.baseAddress! : ppart.baseAddress! + (chunk - 1) * weightCount
                                    for sample in samples {
                                        ck_depthwise_backward(px.baseAddress! + sample * inSample,
                                                              pdy.baseAddress! + sample * outSample, Int64(outputChannels),
                                                              multiplier, Int64(h), Int64(w), pw.baseAddress!, k,
                                                              Int64(stride), Int64(padding), dW,
                                                              wantInput ? pdx.baseAddress! + sample * inSample : nil,
                                                              Int64(oh), Int64(ow))
                                    }
                                }
                                addChunkGradients(ppart, into: pdw, chunks: chunks)
                            }
                        }
                    }
                }
            }
        }
        return wantInput ? dx : nil
    }

    public func backward(_ outputGradient: Tensor, needsInputGradient: [Bool]) -> [Tensor?] {
        guard let g = savedGeometry else { preconditionFailure("Conv2d.backward before forward(mode: .training)") }
        if isDepthwise {
            let dx = depthwiseBackward(outputGradient, g, wantInput: needsInputGradient[0])
            addBiasGradient(outputGradient, columns: g.outputHeight * g.outputWidth)
            return [dx]
        }
        let dy = outputGradient  // (N, O, Ho, Wo)
        let n = savedBatch, og = outputChannels / groups, kRows = g.columnRows, cols = g.columnCount
        let inPlane = g.channels * g.height * g.width
        let wantInput = needsInputGradient[0]
        var dx = wantInput ? Tensor(zeros: [n, inputChannels, g.height, g.width]) : Tensor(zeros: [0])
        // The weight gradient dW += dy · colᵀ is (og × kRows) per group; when kRows fills the GEMM's tiles worse
        // than og does (fmnist-cnn's conv1: 32 × 9, each 32-column panel nine-wide), it is taken as its transpose,
        // dWᵀ += col · dyᵀ, into a transposed buffer moved back at the end: every element is the same chain of
        // multiply-adds over the same pixels, so the same bits either way.
        let transposed = GEMM.tileFill(rows: kRows, columns: og) > GEMM.tileFill(rows: og, columns: kRows)
        // Samples split across threads: each chunk adds its weight gradient into its own buffer (chunk 0 into the
        // parameter's, or its transpose), summed afterwards in chunk order, so a thread count always gives the same
        // bits. Each chunk unfolds one (sample, group) at a time into its own column scratch.
        let chunks = Parallel.chunkCount(count: n)
        let weightCount = weight.value.count
        var partialWeightGradients = [Float](repeating: 0, count: (chunks - 1 + (transposed ? 1 : 0)) * weightCount)
        if transposed {
            weight.gradient.withUnsafeBufferPointer { pdw in
                partialWeightGradients.withUnsafeMutableBufferPointer { ppart in
                    for group in 0..<groups {
                        transpose(pdw.baseAddress! + group * og * kRows, rows: og, columns: kRows,
                                  into: ppart.baseAddress! + group * og * kRows)
                    }
                }
            }
        }
        let scratch = isPointwise ? 0 : (wantInput ? 2 : 1) * kRows * cols
        var columns = [Float](unsafeUninitializedCapacity: chunks * scratch) { $1 = chunks * scratch }
        dy.withUnsafeBufferPointer { pdy in
            savedInput.withUnsafeBufferPointer { px in
                weight.value.withUnsafeBufferPointer { pw in
                    weight.gradient.withUnsafeMutableBufferPointer { pdw in
                        dx.withUnsafeMutableBufferPointer { pdx in
                            columns.withUnsafeMutableBufferPointer { pc in
                                partialWeightGradients.withUnsafeMutableBufferPointer { ppart in
                                    nonisolated(unsafe) let (pdy, px, pw, pdw, pdx, pc, ppart) =
                                        (pdy, px, pw, pdw, pdx, pc, ppart)
                                    Parallel.forEachChunk(count: n) { chunk, samples in
                                        let own = transposed ? chunk : chunk - 1
                                        let dW = own < 0 ? pdw.baseAddress! : ppart.baseAddress! + own * weightCount
                                        let col = isPointwise ? nil : pc.baseAddress! + chunk * scratch
                                        let dCol = wantInput ? col.map { $0 + kRows * cols } : nil
                                        for sample in samples {
                                            for group in 0..<groups {
                                                let gradOut = pdy.baseAddress! + (sample * outputChannels + group * og) * cols
                                                let input = px.baseAddress! + (sample * groups + group) * inPlane
                                                let unfolded = unfold(input, g, into: col)
                                                let wg = pw.baseAddress! + group * og * kRows
                                                if transposed {
                                                    // y = W · col  ⇒  dWᵀ += col · dyᵀ
                                                    GEMM.sgemm(.none, .transposed, m: kRows, n: og, k: cols, a: unfolded,
                                                               b: gradOut, beta: 1, c: dW + group * og * kRows)
                                                } else {
                                                    // y = W · col  ⇒  dW += dy · colᵀ
                                                    GEMM.sgemm(.none, .transposed, m: og, n: kRows, k: cols, a: gradOut,
                                                               b: unfolded, beta: 1, c: dW + group * og * kRows)
                                                }
                                                guard wantInput else { continue }
                                                let dInput = pdx.baseAddress! + (sample * groups + group) * inPlane
                                                if let dCol {
                                                    // dcol = Wᵀ · dy, then fold back: dx += col2im(dcol)
                                                    GEMM.sgemm(.transposed, .none, m: kRows, n: cols, k: og, a: wg, b: gradOut,
                                                               c: dCol)
                                                    col2im(dCol, g, dInput)
                                                } else {
                                                    // dx += Wᵀ · dy
                                                    GEMM.sgemm(.transposed, .none, m: kRows, n: cols, k: og, a: wg, b: gradOut,
                                                               beta: 1, c: dInput)
                                                }
                                            }
                                        }
                                    }
                                    if transposed {
                                        // Chunk 0's transposed sum replaces the gradient; the others are added after it.
                                        for chunk in 0..<chunks {
                                            for group in 0..<groups {
                                                let part = ppart.baseAddress! + chunk * weightCount + group * og * kRows
                                                let out = pdw.baseAddress! + group * og * kRows
                                                if chunk == 0 {
                                                    transpose(part, rows: kRows, columns: og, into: out)
                                                } else {
                                                    for i in 0..<og { for j in 0..<kRows { out[i * kRows + j] += part[j * og + i] } }
                                                }
                                            }
                                        }
                                    } else {
                                        addChunkGradients(ppart, into: pdw, chunks: chunks)
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        addBiasGradient(dy, columns: cols)
        return [wantInput ? dx : nil]
    }

    /// `out` (columns × rows) = the transpose of `source` (rows × columns).
    private func transpose(_ source: UnsafePointer<Float>, rows: Int, columns: Int, into out: UnsafeMutablePointer<Float>) {
        for i in 0..<rows { for j in 0..<columns { out[j * rows + i] = source[i * columns + j] } }
    }

    /// The weight gradient += the gradients chunks 1… left in `partials` (chunk 0 wrote straight into it), in chunk
    /// order, so a thread count always gives the same bits.
    private func addChunkGradients(_ partials: UnsafeMutableBufferPointer<Float>,
                                   into gradient: UnsafeMutableBufferPointer<Float>, chunks: Int) {
        for chunk in 1..<max(chunks, 1) {
            let part = partials.baseAddress! + (chunk - 1) * gradient.count
            for i in 0..<gradient.count { gradient[i] += part[i] }
        }
    }

    /// bias gradient += the output gradient summed over samples and positions: each channel's plane summed in order,
    /// eight channels' sums interleaved so their chains of additions overlap (one channel at a time waits on each
    /// addition's latency; the bits are the same).
    private func addBiasGradient(_ dy: Tensor, columns cols: Int) {
        guard let bias else { return }
        let n = dy.shape[0], channels = outputChannels
        dy.withUnsafeBufferPointer { pdy in
            bias.gradient.withUnsafeMutableBufferPointer { pdb in
                for sample in 0..<n {
                    let planes = pdy.baseAddress! + sample * channels * cols
                    var o = 0
                    while o + 8 <= channels {
                        let r = planes + o * cols
                        var (t0, t1, t2, t3, t4, t5, t6, t7): (Float, Float, Float, Float, Float, Float, Float, Float)
                            = (0, 0, 0, 0, 0, 0, 0, 0)
                        for j in 0..<cols {
                            t0 += r[j]; t1 += r[cols + j]; t2 += r[2 * cols + j]; t3 += r[3 * cols + j]
                            t4 += r[4 * cols + j]; t5 += r[5 * cols + j]; t6 += r[6 * cols + j]; t7 += r[7 * cols + j]
                        }
                        pdb[o] += t0; pdb[o + 1] += t1; pdb[o + 2] += t2; pdb[o + 3] += t3
                        pdb[o + 4] += t4; pdb[o + 5] += t5; pdb[o + 6] += t6; pdb[o + 7] += t7
                        o += 8
                    }
                    for c in o..<channels {
                        let row = planes + c * cols
                        var total: Float = 0
                        for j in 0..<cols { total += row[j] }
                        pdb[c] += total
                    }
                }
            }
        }
    }
}
