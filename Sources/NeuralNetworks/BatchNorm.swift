// BatchNorm: batch normalisation over (N) for features or (N, H, W) for images, with running statistics.
import Tensors

/// Batch normalisation, `y = γ · (x − μ) / √(σ² + ε) + β`, per channel.
///
/// Shapes: x (N, C) ("1d") or (N, C, H, W) ("2d"); γ, β, running mean and variance [C]. Training uses the batch's
/// mean and biased variance over N (and H, W) and updates the running statistics as PyTorch does:
/// `running = (1 − m) · running + m · batch` with the *unbiased* batch variance. Inference uses the running
/// statistics. Initialisation: γ = 1, β = 0, running mean 0, running variance 1.
///
/// [1] Ioffe & Szegedy, "Batch Normalization", 2015.
public final class BatchNorm: Layer {
    public let weight: Parameter
    public let bias: Parameter
    public let runningMean: Parameter
    public let runningVariance: Parameter
    public let epsilon: Float
    /// The running statistics' update rate; 1 makes them the last training batch's statistics (recalibration).
    public var momentum: Float
    public var features: Int { weight.value.count }
    /// When set, training forwards normalise with the running statistics and leave them unchanged (γ and β still
    /// train) — the statistics freeze near the end of quantization-aware training, so the last steps train what
    /// inference will compute.
    public var frozen = false

    private var savedNormalized = Tensor(zeros: [0])  // x̂, (N, C, …)
    private var savedInverseStd: [Float] = []          // 1/√(σ²+ε), [C]
    private var savedFrozen = false                    // whether the last training forward used running statistics

    public init(weight: Tensor, bias: Tensor, runningMean: Tensor, runningVariance: Tensor,
                epsilon: Float = 1e-5, momentum: Float = 0.1) {
        let c = weight.count
        precondition([bias.count, runningMean.count, runningVariance.count].allSatisfy { $0 == c },
                     "BatchNorm tensors must all have \(c) elements")
        self.weight = Parameter(weight)
        self.bias = Parameter(bias)
        self.runningMean = Parameter(runningMean, trainable: false)
        self.runningVariance = Parameter(runningVariance, trainable: false)
        self.epsilon = epsilon
        self.momentum = momentum
    }

    public convenience init(features: Int, epsilon: Float = 1e-5, momentum: Float = 0.1) {
        self.init(weight: Tensor(shape: [features], repeating: 1), bias: Tensor(zeros: [features]),
                  runningMean: Tensor(zeros: [features]), runningVariance: Tensor(shape: [features], repeating: 1),
                  epsilon: epsilon, momentum: momentum)
    }

    public var kind: String { "batchnorm" }
    public var parameters: [(name: String, parameter: Parameter)] {
        [("weight", weight), ("bias", bias), ("running_mean", runningMean), ("running_var", runningVariance)]
    }
    public var spec: LayerSpec {
        var s = LayerSpec(kind: kind)
        s.features = features; s.epsilon = epsilon; s.momentum = momentum
        return s
    }

    public func outputShape(for inputShapes: [[Int]]) throws -> [Int] {
        try expectInputs(inputShapes, count: 1, kind)
        let s = inputShapes[0]
        guard (s.count == 1 || s.count == 3), s[0] == features else {
            throw ShrinkError(.shape, "batchnorm expects input (\(features)) or (\(features), H, W), got \(s)")
        }
        return s
    }

    public func forward(_ inputs: [Tensor], mode: Mode) -> Tensor {
        let x = inputs[0]
        let n = x.shape[0], c = features
        let spatial = x.count / max(n * c, 1)
        let m = n * spatial
        var y = Tensor(uninitialized: x.shape)
        var mean = [Float](repeating: 0, count: c), inverseStd = [Float](repeating: 0, count: c)
        // Channels (statistics) and (sample, channel) planes (normalisation) are split across threads; each
        // channel's sums run over its samples in order whatever the split, so the bits do not depend on it.
        x.withUnsafeBufferPointer { px in
            nonisolated(unsafe) let px = px
            if mode == .training && !frozen {
                var unbiased = [Float](repeating: 0, count: c)
                mean.withUnsafeMutableBufferPointer { pm in
                    inverseStd.withUnsafeMutableBufferPointer { ps in
                        unbiased.withUnsafeMutableBufferPointer { pu in
                            nonisolated(unsafe) let (pm, ps, pu) = (pm, ps, pu)
                            let epsilon = Double(self.epsilon)
                            Parallel.forEachChunk(count: c) { _, channels in
                                for ch in channels {
                                    var total = 0.0, squares = 0.0
                                    for sample in 0..<n {
                                        let p = px.baseAddress! + (sample * c + ch) * spatial
                                        var s: Float = 0
                                        for j in 0..<spatial { s += p[j] }
                                        total += Double(s)
                                    }
                                    let mu = total / Double(m)
                                    for sample in 0..<n {
                                        let p = px.baseAddress! + (sample * c + ch) * spatial
                                        var s: Float = 0
                                        for j in 0..<spatial { let d = p[j] - Float(mu); s += d * d }
                                        squares += Double(s)
                                    }
                                    let variance = squares / Double(m)
                                    pm[ch] = Float(mu)
                                    ps[ch] = Float(1 / (variance + epsilon).squareRoot())
                                    pu[ch] = Float(m > 1 ? variance * Double(m) / Double(m - 1) : variance)
                                }
                            }
                        }
                    }
                }
                for ch in 0..<c {
                    runningMean.value.scalars[ch] = (1 - momentum) * runningMean.value.scalars[ch] + momentum * mean[ch]
                    runningVariance.value.scalars[ch] = (1 - momentum) * runningVariance.value.scalars[ch]
                        + momentum * unbiased[ch]
                }
            } else {
                for ch in 0..<c {
                    mean[ch] = runningMean.value.scalars[ch]
                    inverseStd[ch] = 1 / (runningVariance.value.scalars[ch] + epsilon).squareRoot()
                }
            }
            let gamma = weight.value.scalars, beta = bias.value.scalars
            let (means, inverses) = (mean, inverseStd)
            y.withUnsafeMutableBufferPointer { py in
                nonisolated(unsafe) let py = py
                Parallel.forEachChunk(count: n * c) { _, planes in
                    for plane in planes {
                        let ch = plane % c, offset = plane * spatial
                        let scale = gamma[ch] * inverses[ch], shift = beta[ch] - means[ch] * scale
                        for j in 0..<spatial { py[offset + j] = px[offset + j] * scale + shift }
                    }
                }
            }
        }
        if mode == .training {
            // x̂ = (y − β) / γ would lose precision when γ ≈ 0; store it directly.
            var normalized = Tensor(uninitialized: x.shape)
            let (means, inverses) = (mean, inverseStd)
            x.withUnsafeBufferPointer { px in
                normalized.withUnsafeMutableBufferPointer { pn in
                    nonisolated(unsafe) let (px, pn) = (px, pn)
                    Parallel.forEachChunk(count: n * c) { _, planes in
                        for plane in planes {
                            let ch = plane % c, offset = plane * spatial
                            for j in 0..<spatial { pn[offset + j] = (px[offset + j] - means[ch]) * inverses[ch] }
                        }
                    }
                }
            }
            savedNormalized = normalized
            savedInverseStd = inverseStd
            savedFrozen = frozen
        }
        return y
    }

    public func backward(_ outputGradient: Tensor, needsInputGradient: [Bool]) -> [Tensor?] {
        let dy = outputGradient, xhat = savedNormalized
        let n = xhat.shape[0], c = features
        let spatial = xhat.count / max(n * c, 1)
        let m = Float(n * spatial)
        var sumDy = [Float](repeating: 0, count: c), sumDyXhat = [Float](repeating: 0, count: c)
        dy.withUnsafeBufferPointer { pdy in
            xhat.withUnsafeBufferPointer { px in
                sumDy.withUnsafeMutableBufferPointer { pa in
                    sumDyXhat.withUnsafeMutableBufferPointer { pb in
                        nonisolated(unsafe) let (pdy, px, pa, pb) = (pdy, px, pa, pb)
                        // Per channel, the samples' partial sums are added in sample order (any split).
                        Parallel.forEachChunk(count: c) { _, channels in
                            for ch in channels {
                                for sample in 0..<n {
                                    let offset = (sample * c + ch) * spatial
                                    var a: Float = 0, b: Float = 0
                                    for j in 0..<spatial { a += pdy[offset + j]; b += pdy[offset + j] * px[offset + j] }
                                    pa[ch] += a; pb[ch] += b
                                }
                            }
                        }
                    }
                }
            }
        }
        // y = γ·x̂ + β  ⇒  dγ += Σ dy·x̂, dβ += Σ dy
        for ch in 0..<c {
            weight.gradient.scalars[ch] += sumDyXhat[ch]
            bias.gradient.scalars[ch] += sumDy[ch]
        }
        guard needsInputGradient[0] else { return [nil] }
        // dx = γ/σ · (dy − mean(dy) − x̂ · mean(dy·x̂))
        var dx = Tensor(uninitialized: dy.shape)
        let gamma = weight.value.scalars, inverses = savedInverseStd, frozenStatistics = savedFrozen
        let (sumsDy, sumsDyXhat) = (sumDy, sumDyXhat)
        dy.withUnsafeBufferPointer { pdy in
            xhat.withUnsafeBufferPointer { px in
                dx.withUnsafeMutableBufferPointer { pdx in
                    nonisolated(unsafe) let (pdy, px, pdx) = (pdy, px, pdx)
                    Parallel.forEachChunk(count: n * c) { _, planes in
                        for plane in planes {
                            let ch = plane % c, offset = plane * spatial
                            let k = gamma[ch] * inverses[ch]
                            // Frozen statistics are constants: dx = γ/σ · dy.
                            let meanDy = frozenStatistics ? 0 : sumsDy[ch] / m
                            let meanDyXhat = frozenStatistics ? 0 : sumsDyXhat[ch] / m
                            for j in 0..<spatial {
                                pdx[offset + j] = k * (pdy[offset + j] - meanDy - px[offset + j] * meanDyXhat)
                            }
                        }
                    }
                }
            }
        }
        return [dx]
    }
}

extension Graph {
    /// Re-estimates every BatchNorm's running mean and variance from `batches` of prepared training inputs, in place:
    /// the statistics restart, each batch is run in training mode, and the running values become the plain average
    /// of the batches' statistics (the k-th batch weighs 1/k, as PyTorch's `update_bn` does; the unbiased variance,
    /// as training keeps it). Nothing trains: γ, β and the weights stay. Dropout is active, as in training. For a
    /// network whose weights changed after training (pruned, quantized) and whose statistics no longer fit them.
    ///
    /// - Returns: how many BatchNorm layers were re-estimated.
    /// - Throws: `ShrinkError(.value)` when no batch holds a sample.
    @discardableResult
    public func reestimateBatchNorm(_ batches: some Sequence<Tensor>) throws -> Int {
        let norms = nodes.compactMap { $0.layer as? BatchNorm }
        guard !norms.isEmpty else { return 0 }
        let saved = norms.map { ($0.momentum, $0.frozen) }
        let statistics = norms.map { ($0.runningMean.value, $0.runningVariance.value) }
        defer { for (norm, state) in zip(norms, saved) { norm.momentum = state.0; norm.frozen = state.1 } }
        for norm in norms {
            norm.frozen = false
            norm.runningMean.value = Tensor(zeros: [norm.features])
            norm.runningVariance.value = Tensor(shape: [norm.features], repeating: 1)
        }
        var count = 0
        for x in batches where x.shape[0] >= 2 {
            count += 1
            for norm in norms { norm.momentum = 1 / Float(count) }
            _ = forward(x, mode: .training)
        }
        guard count > 0 else {
            for (norm, kept) in zip(norms, statistics) {
                norm.runningMean.value = kept.0
                norm.runningVariance.value = kept.1
            }
            throw ShrinkError(.value, "re-estimating BatchNorm statistics needs at least one batch of 2 or more samples")
        }
        return norms.count
    }
}
