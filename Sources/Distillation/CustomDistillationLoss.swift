// CustomDistillationLoss: the extension point for distillation losses. A user-defined `DistillationLoss` gets, batch
// by batch, the student's logits (and its value at the pair's student node, if it asks), the teacher's cached outputs
// for the same samples and the labels, and returns the loss with its gradients. The engine has no autograd: those
// gradients are the seeds the student's backward pass starts from, as the built-in losses of DistillationLosses.swift
// return them.
import NeuralNetworks
import Tensors

/// What a user-defined distillation loss sees of one training batch.
public struct DistillationBatch {
    /// The student's logits (N, classes), computed in training mode.
    public let studentLogits: Tensor
    /// The teacher's logits for the same samples (N, classes), computed once in inference mode.
    public let teacherLogits: Tensor
    /// The labels (N).
    public let labels: [Int32]
    /// The student's value at the pair's student node (N, …) when the loss `usesFeatures`; else nil.
    public let studentFeature: Tensor?
    /// The teacher's value at the pair's teacher node (N, …), cached, when the loss `usesFeatures`; else nil.
    public let teacherFeature: Tensor?
    /// The samples' positions in the training set.
    public let indices: ArraySlice<Int>
}

/// The loss of one batch and its gradients with respect to the student's tensors.
public struct DistillationLossResult {
    /// The loss the trainer reports (the built-ins give the mean over the batch).
    public var loss: Double
    /// ∂L/∂(student logits), (N, classes): for a mean over the batch, with its 1/N, as `crossEntropy` gives it.
    public var logitsGradient: Tensor
    /// ∂L/∂(student feature), in the feature's shape; nil when the loss does not depend on the feature.
    public var featureGradient: Tensor?

    public init(loss: Double, logitsGradient: Tensor, featureGradient: Tensor? = nil) {
        self.loss = loss
        self.logitsGradient = logitsGradient
        self.featureGradient = featureGradient
    }
}

/// A user-defined distillation loss: what `DistillationSettings.loss` holds to replace the loss of
/// `DistillationSettings.kind`.
///
/// With `usesFeatures`, the pair is `DistillationSettings.pair` or, when nil, the input of each graph's last layer
/// (`defaultPair(teacher:student:kind: .feature)`); the features come raw (no regressor, no attention map), so
/// their shapes may differ and the loss maps one to the other itself. The loss alone decides the objective: add the
/// hard-label cross-entropy to it if it should count. The temperature, α and β settings are not used.
///
/// ```swift
/// struct Soft: DistillationLoss {      // Hinton's loss at T = 4, α = 0.5, as the built-in response kind
///     let name = "soft"
///     func loss(_ batch: DistillationBatch) throws -> DistillationLossResult {
///         let r = responseDistillation(studentLogits: batch.studentLogits, teacherLogits: batch.teacherLogits,
///                                      labels: batch.labels, temperature: 4, alpha: 0.5)
///         return DistillationLossResult(loss: r.loss, logitsGradient: r.gradient)
///     }
/// }
/// ```
public protocol DistillationLoss: Sendable {
    /// The name recorded in the settings' JSON (`loss`) and in the student's provenance.
    var name: String { get }
    /// Whether the loss reads the pair's features (the teacher's are then cached for the whole training set).
    /// Defaults to false.
    var usesFeatures: Bool { get }
    /// The loss of one batch and its gradients.
    func loss(_ batch: DistillationBatch) throws -> DistillationLossResult
}

extension DistillationLoss {
    public var usesFeatures: Bool { false }
}

extension DistillationLoss {
    /// `loss(batch)`, with the gradients' shapes checked against the tensors they differentiate.
    ///
    /// - Throws: the loss's own errors; `ShrinkError(.shape)` naming the loss for a gradient of the wrong shape.
    func checkedLoss(_ batch: DistillationBatch) throws -> DistillationLossResult {
        let result = try loss(batch)
        guard result.logitsGradient.shape == batch.studentLogits.shape else {
            throw ShrinkError(.shape, "the distillation loss '\(name)' gave a logits gradient of shape "
                + "\(result.logitsGradient.shape) for logits of shape \(batch.studentLogits.shape)")
        }
        if let gradient = result.featureGradient {
            guard let feature = batch.studentFeature, gradient.shape == feature.shape else {
                throw ShrinkError(.shape, "the distillation loss '\(name)' gave a feature gradient of shape "
                    + "\(gradient.shape) for " + (batch.studentFeature.map { "a feature of shape \($0.shape)" }
                        ?? "no feature (it does not set usesFeatures)"))
            }
        }
        return result
    }
}
