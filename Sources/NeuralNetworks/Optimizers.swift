// Optimizers: SGD (momentum, Nesterov, weight decay) and Adam/AdamW, with per-parameter state shaped like it.
import Foundation
import Tensors

/// Updates parameters from their gradients. Masked (pruned) entries get no gradient and stay zero.
public protocol Optimizer: AnyObject {
    /// The step size of the next `step`; schedules set it before each step.
    var learningRate: Float { get set }
    /// Applies one update to every trainable parameter.
    func step(_ parameters: [Parameter])
}

/// An optimizer whose per-parameter state (momentum buffers, moments, step counts) can be saved and restored, so a
/// training resumed from a checkpoint takes the steps an uninterrupted one would.
public protocol CheckpointableOptimizer: Optimizer {
    /// The state of each of `parameters` (by position) that has any, as named float arrays and step counters.
    func state(of parameters: [Parameter]) -> [(index: Int, arrays: [String: [Float]], steps: Int)]
    /// Restores what `state(of:)` returned for the same parameters.
    func restore(_ state: [(index: Int, arrays: [String: [Float]], steps: Int)], of parameters: [Parameter]) throws
}

/// Stochastic gradient descent: `g ← ∇ + λ·w`; `v ← μ·v + g`; `w ← w − η·(Nesterov ? g + μ·v : v)`.
///
/// With μ = 0 it is plain SGD. Weight decay λ is the L2 form (added to the gradient), as in PyTorch's SGD.
/// [1] Sutskever et al., "On the importance of initialization and momentum in deep learning", 2013.
public final class SGD: CheckpointableOptimizer {
    public var learningRate: Float
    public let momentum: Float, weightDecay: Float, nesterov: Bool
    /// Momentum buffers; the entry keeps its parameter alive, so an identifier is never reused for another one.
    private var velocity: [ObjectIdentifier: (parameter: Parameter, buffer: [Float])] = [:]

    public init(learningRate: Float, momentum: Float = 0, weightDecay: Float = 0, nesterov: Bool = false) {
        self.learningRate = learningRate
        self.momentum = momentum
        self.weightDecay = weightDecay
        self.nesterov = nesterov
    }

    public func step(_ parameters: [Parameter]) {
        for p in parameters where p.isTrainable {
            let id = ObjectIdentifier(p)
            var v = velocity.removeValue(forKey: id).map(\.buffer) ?? []
            if v.count != p.value.count { v = [Float](repeating: 0, count: p.value.count) }
            let lr = learningRate, mu = momentum, wd = weightDecay, nesterov = nesterov
            let mask = p.mask?.scalars
            p.value.withUnsafeMutableBufferPointer { w in
                p.gradient.withUnsafeBufferPointer { grad in
                    v.withUnsafeMutableBufferPointer { v in
                        for i in 0..<w.count {
                            let m: Float = mask?[i] ?? 1
                            let g = (grad[i] + wd * w[i]) * m
                            v[i] = mu * v[i] + g
                            w[i] = (w[i] - lr * (nesterov ? g + mu * v[i] : v[i])) * m
                        }
                    }
                }
            }
            velocity[id] = (p, v)
        }
    }

    public func state(of parameters: [Parameter]) -> [(index: Int, arrays: [String: [Float]], steps: Int)] {
        parameters.enumerated().compactMap { index, p in
            velocity[ObjectIdentifier(p)].map { (index, ["velocity": $0.buffer], 0) }
        }
    }

    public func restore(_ state: [(index: Int, arrays: [String: [Float]], steps: Int)], of parameters: [Parameter]) throws {
        velocity = [:]
        for entry in state {
            guard parameters.indices.contains(entry.index), let buffer = entry.arrays["velocity"],
                  buffer.count == parameters[entry.index].value.count else {
                throw ShrinkError(.format, "the checkpoint's momentum of parameter \(entry.index) does not fit the model")
            }
            velocity[ObjectIdentifier(parameters[entry.index])] = (parameters[entry.index], buffer)
        }
    }
}

/// Adam [1] and AdamW [2]: `m ← β1·m + (1−β1)·g`, `v ← β2·v + (1−β2)·g²`,
/// `w ← w − η·m̂/(√v̂ + ε)` with bias-corrected m̂, v̂. Adam adds λ·w to g (L2); AdamW instead decays the weight
/// directly, `w ← w − η·λ·w` (decoupled).
///
/// [1] Kingma & Ba, "Adam", 2015. [2] Loshchilov & Hutter, "Decoupled Weight Decay Regularization", 2019.
public final class Adam: CheckpointableOptimizer {
    public var learningRate: Float
    public let beta1: Float, beta2: Float, epsilon: Float, weightDecay: Float, decoupled: Bool
    /// Moments and step count per parameter; the entry keeps its parameter alive (see SGD).
    private var moments: [ObjectIdentifier: (parameter: Parameter, m: [Float], v: [Float], steps: Int)] = [:]

    public init(learningRate: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8,
                weightDecay: Float = 0, decoupled: Bool = false) {
        self.learningRate = learningRate
        self.beta1 = beta1; self.beta2 = beta2; self.epsilon = epsilon
        self.weightDecay = weightDecay
        self.decoupled = decoupled
    }

    public func step(_ parameters: [Parameter]) {
        for p in parameters where p.isTrainable {
            let id = ObjectIdentifier(p)
            var state = moments.removeValue(forKey: id) ?? (p, [], [], 0)
            if state.m.count != p.value.count {
                state = (p, [Float](repeating: 0, count: p.value.count), [Float](repeating: 0, count: p.value.count), 0)
            }
            state.steps += 1
            let c1 = 1 - Float(Foundation.pow(Double(beta1), Double(state.steps)))
            let c2 = 1 - Float(Foundation.pow(Double(beta2), Double(state.steps)))
            let lr = learningRate, b1 = beta1, b2 = beta2, eps = epsilon, wd = weightDecay, decoupled = decoupled
            let mask = p.mask?.scalars
            p.value.withUnsafeMutableBufferPointer { w in
                p.gradient.withUnsafeBufferPointer { grad in
                    for i in 0..<w.count {
                        let keep: Float = mask?[i] ?? 1
                        var g = grad[i] * keep
                        if decoupled { w[i] -= lr * wd * w[i] } else { g += wd * w[i] * keep }
                        state.m[i] = b1 * state.m[i] + (1 - b1) * g
                        state.v[i] = b2 * state.v[i] + (1 - b2) * g * g
                        w[i] = (w[i] - lr * (state.m[i] / c1) / ((state.v[i] / c2).squareRoot() + eps)) * keep
                    }
                }
            }
            moments[id] = state
        }
    }

    public func state(of parameters: [Parameter]) -> [(index: Int, arrays: [String: [Float]], steps: Int)] {
        parameters.enumerated().compactMap { index, p in
            moments[ObjectIdentifier(p)].map { (index, ["m": $0.m, "v": $0.v], $0.steps) }
        }
    }

    public func restore(_ state: [(index: Int, arrays: [String: [Float]], steps: Int)], of parameters: [Parameter]) throws {
        moments = [:]
        for entry in state {
            guard parameters.indices.contains(entry.index), let m = entry.arrays["m"], let v = entry.arrays["v"],
                  m.count == parameters[entry.index].value.count, v.count == m.count, entry.steps >= 0 else {
                throw ShrinkError(.format, "the checkpoint's moments of parameter \(entry.index) do not fit the model")
            }
            moments[ObjectIdentifier(parameters[entry.index])] = (parameters[entry.index], m, v, entry.steps)
        }
    }
}
