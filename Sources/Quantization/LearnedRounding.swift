// LearnedRounding: choosing each weight's integer code for what the layer computes on calibration data rather than
// for the weight alone. Both methods keep the grid (the scales nearest rounding would use) and minimise the layer's
// reconstruction error E‖(W̃ − W) x‖² = Σ_rows Δw H Δwᵀ, with H = E[x xᵀ] from `LayerInputStatistics`:
// - GPTQ quantizes one input column at a time and spreads each column's rounding error over the columns not yet
//   quantized, by the Cholesky factor of H⁻¹ (the OBS update of second-order pruning with "quantize" for "remove").
// - AdaRound learns, per weight, whether to round down or up: W̃ = s · clamp(⌊W/s⌋ + h(V), −L, L) with the rectified
//   sigmoid h(V) = clamp(σ(V)(ζ − γ) + γ, 0, 1), ζ = 1.1, γ = −0.1, V trained by Adam on the reconstruction error plus
//   λ Σ (1 − |2h(V) − 1|^β), β annealed from 20 to 2 after a warm start without the regulariser; then h rounds to 0/1.
//
// [1] Frantar, Ashkboos, Hoefler & Alistarh, "GPTQ: Accurate Post-Training Quantization for Generative Pre-trained
//     Transformers", ICLR 2023, algorithm 1.
// [2] Nagel, Amjad, van Baalen, Louizos & Blankevoort, "Up or Down? Adaptive Rounding for Post-Training
//     Quantization", ICML 2020, equations (21)–(24) and section 5.
import Foundation
import NeuralNetworks
import Tensors

/// How weights are rounded to their integer codes.
public enum WeightRounding: String, CaseIterable, Codable, Sendable, NamedChoice {
    public static let choiceName = "rounding"
    /// Each weight to its nearest code.
    case nearest
    /// AdaRound: learned up-or-down rounding per weight.
    case adaround
    /// GPTQ: column by column, with the error spread over the columns not yet quantized.
    case gptq
}

/// AdaRound's optimisation. The defaults follow the paper's regulariser (λ = 0.01, β from 20 to 2, a warm start of
/// 20% of the iterations without it) on a shorter schedule: 1,000 Adam steps at a learning rate of 10⁻² instead of
/// 10,000 at 10⁻³ (the same total movement of V), since each step here is one product with the full H.
public struct AdaRoundOptions: Sendable, Equatable {
    public var iterations = 1000
    public var learningRate: Float = 1e-2
    public var regularization: Float = 0.01
    public var warmup: Float = 0.2
    public var betaStart: Float = 20
    public var betaEnd: Float = 2

    public init(iterations: Int = 1000) { self.iterations = iterations }

    func validate() throws {
        guard (1...1_000_000).contains(iterations) else {
            throw ShrinkError(.value, "AdaRound iterations must be in 1…1000000, got \(iterations)")
        }
        guard learningRate > 0, regularization >= 0, (0..<1).contains(warmup), betaStart >= betaEnd, betaEnd > 0 else {
            throw ShrinkError(.value, "AdaRound needs a positive learning rate, λ ≥ 0, a warm start in [0, 1) and β "
                + "decreasing to a positive end")
        }
    }
}

/// GPTQ codes for a `rows × depth` weight (row-major) on the grid `scales` (one per row) with codes in −limit…limit,
/// given H = E[x xᵀ] (depth × depth). H is dampened by `dampening` × its mean diagonal; inputs that are always 0
/// (a zero diagonal) get diagonal 1 and their weights rounded as they are.
///
/// - Throws: `ShrinkError(.shape)` when the sizes do not fit; `ShrinkError(.value)` when the dampened H is not
///   positive definite.
public func gptqCodes(weights: [Float], rows: Int, depth: Int, hessian: [Float], scales: [Float], limit: Int,
                      dampening: Float = 0.01) throws -> [Int8] {
    guard rows >= 1, depth >= 1, weights.count == rows * depth, hessian.count == depth * depth,
          scales.count == rows, (1...127).contains(limit) else {
        throw ShrinkError(.shape, "GPTQ: \(weights.count) weights, a \(hessian.count)-element H and \(scales.count) "
            + "scales do not fit \(rows) × \(depth), or the code limit \(limit) is outside 1…127")
    }
    var h = hessian
    for c in 0..<depth where h[c * depth + c] == 0 { h[c * depth + c] = 1 }
    let meanDiagonal = (0..<depth).reduce(Float(0)) { $0 + h[$1 * depth + $1] } / Float(depth)
    for c in 0..<depth { h[c * depth + c] += dampening * meanDiagonal }
    let u = try LinearAlgebra.choleskyOfInverse(h, n: depth)
    var w = weights
    var codes = [Int8](repeating: 0, count: rows * depth)
    let bound = Float(limit)
    for c in 0..<depth {
        let d = u[c * depth + c]
        for r in 0..<rows {
            let s = scales[r]
            let q = min(max((w[r * depth + c] / s).rounded(.toNearestOrEven), -bound), bound)
            codes[r * depth + c] = Int8(q)
            let error = (w[r * depth + c] - q * s) / d
            if c + 1 < depth {
                for j in (c + 1)..<depth { w[r * depth + j] -= error * u[c * depth + j] }
            }
        }
    }
    return codes
}

/// AdaRound codes for a `rows × depth` weight on the grid `scales` (one per row), codes in −limit…limit, given
/// H = E[x xᵀ]. Deterministic: the optimisation uses the full H, no sampling.
///
/// - Throws: `ShrinkError(.shape)` when the sizes do not fit; `ShrinkError(.value)` for bad options.
public func adaRoundCodes(weights: [Float], rows: Int, depth: Int, hessian: [Float], scales: [Float], limit: Int,
                          options: AdaRoundOptions = AdaRoundOptions()) throws -> [Int8] {
    guard rows >= 1, depth >= 1, weights.count == rows * depth, hessian.count == depth * depth,
          scales.count == rows, (1...127).contains(limit) else {
        throw ShrinkError(.shape, "AdaRound: \(weights.count) weights, a \(hessian.count)-element H and \(scales.count) "
            + "scales do not fit \(rows) × \(depth), or the code limit \(limit) is outside 1…127")
    }
    try options.validate()
    let zeta: Float = 1.1, gamma: Float = -0.1, bound = Float(limit), count = rows * depth
    var floors = [Float](repeating: 0, count: count), v = [Float](repeating: 0, count: count)
    for i in 0..<count {
        let x = weights[i] / scales[i / depth], f = x.rounded(.down)
        floors[i] = f
        // h(V) = x − ⌊x⌋ at the start: V = −log((ζ − γ) / (rest − γ) − 1).
        let rest = min(max(x - f, 1e-4), 1 - 1e-4)
        v[i] = -logf((zeta - gamma) / (rest - gamma) - 1)
    }
    func rectified(_ v: Float) -> (h: Float, slope: Float) {
        let sigma = 1 / (1 + expf(-v)), raw = sigma * (zeta - gamma) + gamma
        return raw <= 0 ? (0, 0) : raw >= 1 ? (1, 0) : (raw, sigma * (1 - sigma) * (zeta - gamma))
    }
    var m = [Float](repeating: 0, count: count), second = [Float](repeating: 0, count: count)
    var delta = [Float](repeating: 0, count: count), product = [Float](repeating: 0, count: count)
    var slopes = [Float](repeating: 0, count: count), hs = [Float](repeating: 0, count: count)
    var inside = [Bool](repeating: true, count: count)
    let warmupSteps = Int((Float(options.iterations) * options.warmup).rounded(.down))
    let (beta1, beta2, epsilon): (Float, Float, Float) = (0.9, 0.999, 1e-8)
    for step in 0..<options.iterations {
        for i in 0..<count {
            let (h, slope) = rectified(v[i])
            hs[i] = h
            slopes[i] = slope
            let code = floors[i] + h
            inside[i] = code >= -bound && code <= bound
            delta[i] = scales[i / depth] * min(max(code, -bound), bound) - weights[i]
        }
        // ∂/∂W̃ Σ_rows Δw H Δwᵀ = 2 ΔW H (H symmetric).
        delta.withUnsafeBufferPointer { pd in
            hessian.withUnsafeBufferPointer { ph in
                product.withUnsafeMutableBufferPointer { pp in
                    GEMM.sgemm(.none, .none, m: rows, n: depth, k: depth, a: pd.baseAddress!, b: ph.baseAddress!,
                               beta: 0, c: pp.baseAddress!)
                }
            }
        }
        let regularized = step >= warmupSteps
        let progress = options.iterations > warmupSteps
            ? Float(step - warmupSteps) / Float(options.iterations - warmupSteps) : 1
        let beta = options.betaEnd + (options.betaStart - options.betaEnd) * max(0, 1 - progress)
        let t = Float(step + 1)
        let correction1 = 1 - powf(beta1, t), correction2 = 1 - powf(beta2, t)
        for i in 0..<count {
            var gradient = inside[i] ? 2 * product[i] * scales[i / depth] * slopes[i] : 0
            if regularized && slopes[i] > 0 {
                // ∂/∂h λ(1 − |2h − 1|^β) = −2λβ |2h − 1|^(β−1) sign(2h − 1).
                let centred = 2 * hs[i] - 1
                let magnitude = abs(centred)
                if magnitude > 0 {
                    gradient += -2 * options.regularization * beta * powf(magnitude, beta - 1)
                        * (centred > 0 ? 1 : -1) * slopes[i]
                }
            }
            m[i] = beta1 * m[i] + (1 - beta1) * gradient
            second[i] = beta2 * second[i] + (1 - beta2) * gradient * gradient
            v[i] -= options.learningRate * (m[i] / correction1) / ((second[i] / correction2).squareRoot() + epsilon)
        }
    }
    return (0..<count).map { i in
        Int8(min(max(floors[i] + (v[i] >= 0 ? 1 : 0), -bound), bound))
    }
}

/// `weight` (a conv's [out, in/groups, k, k] or a linear's [out, in]) rounded by `method` on the grid of `nearest`
/// (the same weight rounded to nearest: its scales, bits and granularity), one group at a time with that group's H.
///
/// - Throws: `ShrinkError(.shape)` when the statistics do not fit the weight; errors from the methods.
public func roundWeight(_ weight: Tensor, nearest: IntegerWeightTensor, statistics: LayerInputStatistics,
                        method: WeightRounding, adaRound: AdaRoundOptions = AdaRoundOptions()) throws -> IntegerWeightTensor {
    guard method != .nearest else { return nearest }
    let out = weight.shape[0], depth = weight.count / out, groups = statistics.sums.count
    guard depth == statistics.depth, groups >= 1, out % groups == 0 else {
        throw ShrinkError(.shape, "input statistics of depth \(statistics.depth) in \(groups) group(s) do not fit a "
            + "weight of shape \(weight.shape)")
    }
    let limit = nearest.bits == 1 ? 1 : (1 << (nearest.bits - 1)) - 1
    let rowsPerGroup = out / groups, h = statistics.secondMoments
    var codes = [Int8]()
    codes.reserveCapacity(weight.count)
    for g in 0..<groups {
        let rows = (g * rowsPerGroup)..<((g + 1) * rowsPerGroup)
        let w = Array(weight.scalars[(rows.lowerBound * depth)..<(rows.upperBound * depth)])
        let scales = rows.map { nearest.isPerChannel ? nearest.scales[$0] : nearest.scales[0] }
        switch method {
        case .gptq:
            codes += try gptqCodes(weights: w, rows: rowsPerGroup, depth: depth, hessian: h[g], scales: scales,
                                   limit: limit)
        case .adaround:
            codes += try adaRoundCodes(weights: w, rows: rowsPerGroup, depth: depth, hessian: h[g], scales: scales,
                                       limit: limit, options: adaRound)
        case .nearest:
            break
        }
    }
    return try IntegerWeightTensor(shape: weight.shape, values: codes, scales: nearest.scales, bits: nearest.bits,
                                   perChannel: nearest.isPerChannel)
}
