// Distillation losses: small values with a forward (the loss) and a backward (the gradient with respect to the
// student's tensor). Response-based (Hinton et al. 2015), feature-based through attention maps (Zagoruyko &
// Komodakis 2017; the FitNets hint loss is the plain mean squared error of NeuralNetworks, after a regressor), and
// relation-based distance-wise RKD (Park et al. 2019).
import Foundation
import NeuralNetworks
import Tensors

/// Hinton's loss: `α · T² · KL(P_t ‖ P_s) + (1 − α) · CE(y, z_s)` with `P = softmax(z / T)`.
///
/// Gradient with respect to the student logits: `α · T · (P_s − P_t) / N + (1 − α) · (softmax(z_s) − onehot(y)) / N`
/// (the T² keeps the soft term's gradient comparable across temperatures).
public func responseDistillation(studentLogits: Tensor, teacherLogits: Tensor, labels: [Int32], temperature: Float,
                                 alpha: Float) -> LossResult {
    let soft = klDivergence(studentLogits: studentLogits, teacherLogits: teacherLogits, temperature: temperature)
    let hard = crossEntropy(logits: studentLogits, labels: labels)
    let t2 = temperature * temperature
    var gradient = soft.gradient
    gradient.scale(by: alpha * t2)
    var hardGradient = hard.gradient
    hardGradient.scale(by: 1 - alpha)
    gradient.add(hardGradient)
    return LossResult(loss: Double(alpha * t2) * soft.loss + Double(1 - alpha) * hard.loss, gradient: gradient)
}

/// The attention map of a feature map (N, C, H, W): `A = Σ_c F_c²` per sample, flattened to H·W and normalised to
/// unit L2 norm (Zagoruyko & Komodakis's p = 2), as (N, H·W). Also returns what the backward needs.
public func attentionMap(_ features: Tensor) -> Tensor {
    attention(features).normalised
}

private func attention(_ f: Tensor) -> (normalised: Tensor, raw: [Double], norms: [Double]) {
    precondition(f.rank == 4, "attention maps need (N, C, H, W), got \(f.shape)")
    let (n, c, plane) = (f.shape[0], f.shape[1], f.shape[2] * f.shape[3])
    var raw = [Double](repeating: 0, count: n * plane), norms = [Double](repeating: 0, count: n)
    f.withUnsafeBufferPointer { p in
        for s in 0..<n {
            for ch in 0..<c {
                let base = (s * c + ch) * plane
                for i in 0..<plane { raw[s * plane + i] += Double(p[base + i]) * Double(p[base + i]) }
            }
            norms[s] = max((0..<plane).reduce(0) { $0 + raw[s * plane + $1] * raw[s * plane + $1] }.squareRoot(), 1e-12)
        }
    }
    var out = [Float](repeating: 0, count: n * plane)
    for s in 0..<n { for i in 0..<plane { out[s * plane + i] = Float(raw[s * plane + i] / norms[s]) } }
    return (Tensor(shape: [n, plane], scalars: out), raw, norms)
}

/// Attention transfer: `L = (β / 2) · (1 / (N·H·W)) Σ_n ‖Q_s,n − Q_t,n‖²` — the mean over samples and positions, as
/// in the authors' code, where β = 1000 — between the normalised attention maps of the student's and the teacher's
/// feature maps (same H × W; channels may differ). `teacherAttention` is
/// `attentionMap(teacherFeatures)`, which can be computed once. The gradient is with respect to the student's
/// feature map.
public func attentionTransfer(studentFeatures: Tensor, teacherAttention: Tensor, beta: Float) -> LossResult {
    let (q, raw, norms) = attention(studentFeatures)
    precondition(q.shape == teacherAttention.shape, "attention maps differ: \(q.shape) vs \(teacherAttention.shape)")
    let (n, c, plane) = (studentFeatures.shape[0], studentFeatures.shape[1], q.shape[1])
    var loss = 0.0
    var gradient = Tensor(zeros: studentFeatures.shape)
    studentFeatures.withUnsafeBufferPointer { pf in
        gradient.withUnsafeMutableBufferPointer { pg in
            for s in 0..<n {
                // d = Q_s − Q_t; ∂L/∂Q = β d / (N·HW); Q = A / ‖A‖ ⇒ ∂L/∂A = (g − Q (Q·g)) / ‖A‖; ∂A/∂F_c = 2 F_c.
                var d = [Double](repeating: 0, count: plane), qDotG = 0.0
                for i in 0..<plane {
                    d[i] = Double(q.scalars[s * plane + i] - teacherAttention.scalars[s * plane + i])
                    loss += d[i] * d[i]
                    qDotG += raw[s * plane + i] / norms[s] * d[i]
                }
                let scale = Double(beta) / Double(n * plane)
                for i in 0..<plane {
                    let dA = scale * (d[i] - raw[s * plane + i] / norms[s] * qDotG) / norms[s]
                    for ch in 0..<c {
                        let index = (s * c + ch) * plane + i
                        pg[index] = Float(2 * Double(pf[index]) * dA)
                    }
                }
            }
        }
    }
    return LossResult(loss: Double(beta) / 2 * loss / Double(max(n * plane, 1)), gradient: gradient)
}

/// Distance-wise relational knowledge distillation (RKD-D): for every pair of samples in the batch, the distance
/// between their embeddings divided by the batch's mean pair distance, `ψ(i, j) = ‖e_i − e_j‖ / μ`; the loss is the
/// mean Huber (smooth L1, δ = 1) of `ψ_s − ψ_t` over pairs, times `weight`. Embeddings are (N, D); the student's and
/// the teacher's D may differ. The gradient is with respect to the student's embeddings.
public func relationalDistance(studentEmbeddings s: Tensor, teacherEmbeddings t: Tensor, weight: Float) -> LossResult {
    let n = s.shape[0]
    precondition(t.shape[0] == n, "relation: \(n) student and \(t.shape[0]) teacher embeddings")
    guard n >= 2 else { return LossResult(loss: 0, gradient: Tensor(zeros: s.shape)) }
    let ds = s.count / n, dt = t.count / n
    func distances(_ e: Tensor, _ d: Int) -> [Double] {
        var out = [Double](repeating: 0, count: n * n)
        for i in 0..<n { for j in (i + 1)..<n {
            var sum = 0.0
            for k in 0..<d { let v = Double(e.scalars[i * d + k] - e.scalars[j * d + k]); sum += v * v }
            out[i * n + j] = sum.squareRoot(); out[j * n + i] = out[i * n + j]
        } }
        return out
    }
    let pairs = Double(n * (n - 1) / 2)
    let studentDistances = distances(s, ds), teacherDistances = distances(t, dt)
    let muS = max(stride(from: 0, to: n * n, by: 1).reduce(0) { $0 + studentDistances[$1] } / 2 / pairs, 1e-12)
    let muT = max(stride(from: 0, to: n * n, by: 1).reduce(0) { $0 + teacherDistances[$1] } / 2 / pairs, 1e-12)
    // L = (w / P) Σ_{i<j} huber(x_ij), x = D_s/μ_s − D_t/μ_t; μ_s depends on every D_s: ∂L/∂D_ij =
    // (w / P) (h'(x_ij) / μ_s − (Σ_{k<l} h'(x_kl) D_kl) / (μ_s² P)).
    var loss = 0.0, weighted = 0.0
    var derivative = [Double](repeating: 0, count: n * n)
    for i in 0..<n { for j in (i + 1)..<n {
        let x = studentDistances[i * n + j] / muS - teacherDistances[i * n + j] / muT
        loss += abs(x) < 1 ? 0.5 * x * x : abs(x) - 0.5
        derivative[i * n + j] = abs(x) < 1 ? x : (x > 0 ? 1 : -1)
        weighted += derivative[i * n + j] * studentDistances[i * n + j]
    } }
    let w = Double(weight) / pairs
    var gradient = [Float](repeating: 0, count: s.count)
    for i in 0..<n { for j in (i + 1)..<n {
        let dij = studentDistances[i * n + j]
        guard dij > 1e-12 else { continue }
        let dL = w * (derivative[i * n + j] / muS - weighted / (muS * muS * pairs))
        for k in 0..<ds {
            let g = Float(dL * Double(s.scalars[i * ds + k] - s.scalars[j * ds + k]) / dij)
            gradient[i * ds + k] += g
            gradient[j * ds + k] -= g
        }
    } }
    return LossResult(loss: w * loss, gradient: Tensor(shape: s.shape, scalars: gradient))
}
