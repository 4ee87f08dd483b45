// Losses: each returns the batch-mean loss and its gradient with respect to the prediction.
import Foundation
import Tensors

/// A loss value and ∂loss/∂prediction (same shape as the prediction).
public struct LossResult {
    public var loss: Double
    public var gradient: Tensor

    public init(loss: Double, gradient: Tensor) {
        self.loss = loss
        self.gradient = gradient
    }
}

/// Row-wise log-softmax of `logits / temperature` for (N, K) logits, computed stably by subtracting the row max.
public func logSoftmax(_ logits: Tensor, temperature: Float = 1) -> Tensor {
    precondition(logits.rank == 2, "logSoftmax needs (N, K), got \(logits.shape)")
    let n = logits.shape[0], k = logits.shape[1]
    var out = Tensor(zeros: logits.shape)
    logits.withUnsafeBufferPointer { pz in
        out.withUnsafeMutableBufferPointer { po in
            for row in 0..<n {
                let z = pz.baseAddress! + row * k, o = po.baseAddress! + row * k
                var maximum = -Float.infinity
                for j in 0..<k { maximum = max(maximum, z[j] / temperature) }
                var total: Double = 0
                for j in 0..<k { total += Double(expf(z[j] / temperature - maximum)) }
                let logTotal = Float(Foundation.log(total)) + maximum
                for j in 0..<k { o[j] = z[j] / temperature - logTotal }
            }
        }
    }
    return out
}

/// Cross-entropy from logits: `L = −(1/N) Σ_n log softmax(z_n)[y_n]`.
///
/// Shapes: logits (N, K), labels [N] in 0..<K. Gradient: `(softmax(z) − onehot(y)) / N`. Stable for any logits
/// (log-sum-exp with the row max subtracted).
public func crossEntropy(logits: Tensor, labels: [Int32]) -> LossResult {
    let n = logits.shape[0], k = logits.shape[1]
    precondition(labels.count == n, "crossEntropy: \(labels.count) labels for \(n) rows")
    precondition(labels.allSatisfy { $0 >= 0 && Int($0) < k }, "crossEntropy: labels must be in 0..<\(k)")
    var gradient = logSoftmax(logits)
    var loss = 0.0
    gradient.withUnsafeMutableBufferPointer { g in
        for row in 0..<n {
            let label = Int(labels[row])
            loss -= Double(g[row * k + label])
            for j in 0..<k { g[row * k + j] = expf(g[row * k + j]) / Float(n) }
            g[row * k + label] -= 1 / Float(n)
        }
    }
    return LossResult(loss: loss / Double(max(n, 1)), gradient: gradient)
}

/// KL divergence between softened distributions, `L = (1/N) Σ_n KL(P_t ‖ P_s)` with
/// `P = softmax(z / T)`, for distillation [1]. The gradient is with respect to the *student* logits:
/// `∂L/∂z_s = (P_s − P_t) / (T · N)`. Multiply by T² to keep gradient magnitudes comparable across T (Hinton).
///
/// [1] Hinton, Vinyals & Dean, "Distilling the Knowledge in a Neural Network", 2015.
public func klDivergence(studentLogits: Tensor, teacherLogits: Tensor, temperature: Float = 1) -> LossResult {
    precondition(studentLogits.shape == teacherLogits.shape, "klDivergence: shapes differ")
    let n = studentLogits.shape[0], k = studentLogits.shape[1]
    let logStudent = logSoftmax(studentLogits, temperature: temperature)
    let logTeacher = logSoftmax(teacherLogits, temperature: temperature)
    var gradient = Tensor(zeros: studentLogits.shape)
    var loss = 0.0
    for i in 0..<(n * k) {
        let pt = expf(logTeacher.scalars[i]), ps = expf(logStudent.scalars[i])
        if pt > 0 { loss += Double(pt) * Double(logTeacher.scalars[i] - logStudent.scalars[i]) }
        gradient.scalars[i] = (ps - pt) / (temperature * Float(n))
    }
    return LossResult(loss: loss / Double(max(n, 1)), gradient: gradient)
}

/// Mean squared error over all elements, `L = (1/M) Σ (a − b)²`; gradient `2 (a − b) / M` with respect to `a`.
public func meanSquaredError(_ prediction: Tensor, _ target: Tensor) -> LossResult {
    precondition(prediction.count == target.count, "meanSquaredError: \(prediction.shape) vs \(target.shape)")
    var gradient = prediction - target
    let m = Double(max(prediction.count, 1))
    let loss = gradient.dot(gradient) / m
    gradient.scale(by: Float(2 / m))
    return LossResult(loss: loss, gradient: gradient)
}
