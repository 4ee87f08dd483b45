// Learning-rate schedules: step decay and cosine annealing, with optional linear warm-up.
import Foundation

/// A learning rate as a function of the training step.
public enum LearningRateSchedule: Sendable, Equatable {
    /// The base rate throughout.
    case constant
    /// `η = η0 · γ^⌊epoch / every⌋` (PyTorch's StepLR).
    case step(everyEpochs: Int, gamma: Float)
    /// `η = η_min + (η0 − η_min) · (1 + cos(π · t / T)) / 2` over all steps T (SGDR without restarts) [1].
    /// [1] Loshchilov & Hutter, "SGDR: Stochastic Gradient Descent with Warm Restarts", 2017.
    case cosine(minimum: Float)

    /// The rate at `step` (0-based) of `totalSteps`, with `stepsPerEpoch` steps an epoch and a linear warm-up
    /// from η0/10 over the first `warmupSteps` steps.
    public func rate(base: Float, step: Int, totalSteps: Int, stepsPerEpoch: Int, warmupSteps: Int = 0) -> Float {
        if step < warmupSteps {
            return base * (0.1 + 0.9 * Float(step) / Float(warmupSteps))
        }
        switch self {
        case .constant:
            return base
        case .step(let every, let gamma):
            let epoch = step / max(stepsPerEpoch, 1)
            return base * Float(Foundation.pow(Double(gamma), Double(epoch / max(every, 1))))
        case .cosine(let minimum):
            let t = Double(step - warmupSteps), span = Double(max(totalSteps - warmupSteps, 1))
            return minimum + (base - minimum) * Float((1 + Foundation.cos(Double.pi * t / span)) / 2)
        }
    }
}
