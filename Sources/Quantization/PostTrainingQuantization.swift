// PostTrainingQuantization: the pass — fold BatchNorm, calibrate, convert to the integer engine, verify on held-out
// training samples and, when the accuracy drop is too large, try the next observer (step 5 of the survey's
// procedure, automated).
import Datasets
import NeuralNetworks
import Tensors

/// One try of the pass: the observer used and the accuracy it kept on the validation samples.
public struct QuantizationAttempt: Codable, Sendable {
    public var observer: String
    public var validationAccuracy: Double

    enum CodingKeys: String, CodingKey {
        case observer
        case validationAccuracy = "validation_accuracy"
    }
}

/// The outcome of `quantizeAfterTraining`.
public struct QuantizationOutcome {
    public var model: QuantizedModel
    public var attempts: [QuantizationAttempt]
    /// The float model's accuracy on the same validation samples.
    public var floatValidationAccuracy: Double
    /// Whether the chosen attempt is within `maximumDrop` (always true without a tolerance).
    public var withinTolerance: Bool
}

/// Quantizes `model` to uint8 activations and per-channel int8 weights.
///
/// `calibration` and `validation` must be disjoint parts of the *training* split, already prepared (normalised) by
/// the model; the test split is kept for the final, honest measurement. The observers are tried in order; without a
/// tolerance the first is taken, with one (`maximumDrop`, in accuracy points, e.g. 0.3) the first whose validation
/// accuracy is within it, else the best of all.
public func quantizeAfterTraining(_ model: Model, calibration: Dataset, calibrationSamples: Int, validation: Dataset,
                                  observers: [ObserverKind], maximumDrop: Double?) throws -> QuantizationOutcome {
    guard !observers.isEmpty else { throw ShrinkError(.value, "quantization needs at least one observer to try") }
    guard validation.count >= 1 else { throw ShrinkError(.value, "quantization needs validation samples") }
    let folded = try model.graph.foldingBatchNorm()
    let floatModel = Model(architecture: model.architecture, graph: folded, normalization: model.normalization,
                           provenance: model.provenance)
    let floatAccuracy = evaluate(folded, on: validation).top1
    var attempts: [QuantizationAttempt] = []
    var best: (graph: QuantizedGraph, accuracy: Double, observer: ObserverKind)?
    for kind in observers {
        let calibrated = try calibrate(folded, on: calibration, samples: calibrationSamples, kind: kind)
        let graph = try QuantizedGraph(folded: folded, calibration: calibrated)
        let logits = try QuantizedModel(float: floatModel, graph: graph).predict(validation.inputs)
        let accuracy = metrics(logits: logits, labels: validation.labels).top1
        attempts.append(QuantizationAttempt(observer: kind.rawValue, validationAccuracy: accuracy))
        if best == nil || accuracy > best!.accuracy { best = (graph, accuracy, kind) }
        if let maximumDrop, (floatAccuracy - accuracy) * 100 <= maximumDrop { best = (graph, accuracy, kind); break }
        if maximumDrop == nil { break }
    }
    let chosen = best!
    floatModel.provenance.append(ProvenanceStep(pass: "quantize", settings: [
        "scheme": "u8 activations per tensor, s8 weights per channel", "observer": chosen.observer.rawValue,
        "calibration_samples": "\(min(calibrationSamples, calibration.count))",
        "max_accuracy_drop": maximumDrop.map { "\($0)" } ?? "none",
    ]))
    return QuantizationOutcome(model: QuantizedModel(float: floatModel, graph: chosen.graph), attempts: attempts,
                               floatValidationAccuracy: floatAccuracy,
                               withinTolerance: maximumDrop.map { (floatAccuracy - chosen.accuracy) * 100 <= $0 } ?? true)
}
