// Distill: trains a student against a teacher. The teacher runs in inference mode once over the training set and
// its outputs are cached (the trainer does no augmentation, so they would be the same every epoch); features are
// taken from named nodes through the trainer's `keeping` hook; a regressor (1×1 conv or linear) maps the student's
// feature to the teacher's when their widths differ, trains with the student and is not part of the saved student.
// Also the recovery step for other passes: a pruned student distilled from its own dense parent.
import Datasets
import Foundation
import NeuralNetworks
import Tensors

/// Which knowledge the student learns from.
public enum DistillationKind: String, CaseIterable, Codable, Sendable, NamedChoice {
    public static let choiceName = "distillation kind"
    /// Soft targets: Hinton's `α T² KL + (1 − α) CE`.
    case response
    /// FitNets: the student's feature, through a regressor, matches the teacher's (mean squared error), plus CE.
    case feature
    /// Attention transfer: the normalised spatial attention maps of a feature pair match, plus CE.
    case attention
    /// Relational (RKD, distance-wise): pairwise distances of embeddings within a batch match, plus CE.
    case relation
}

/// A teacher node and the student node that should match it.
public struct FeaturePair: Codable, Sendable, Equatable {
    public var teacher: String
    public var student: String

    public init(teacher: String, student: String) {
        self.teacher = teacher
        self.student = student
    }
}

/// How to distil.
///
/// JSON: `kind`, `temperature`, `alpha`, then `beta`, `pair` and `loss` (the custom loss's name) when set. A custom
/// loss cannot be decoded.
public struct DistillationSettings: Codable, Sendable {
    public var kind: DistillationKind = .response
    /// Softmax temperature of the response loss (> 0).
    public var temperature: Float = 4
    /// Weight of the soft term in the response loss, in [0, 1] (0.5: measured better than Hinton's usual 0.9 here,
    /// docs/distillation.md).
    public var alpha: Float = 0.5
    /// Weight of the feature, attention or relation term (nil: 1 for feature, 1000 for attention as in Zagoruyko &
    /// Komodakis, 25 for relation as in Park et al.).
    public var beta: Float?
    /// The node pair for feature, attention and relation kinds (nil: chosen from the graphs, see `defaultPair`).
    public var pair: FeaturePair?
    /// A user-defined loss replacing the loss of `kind` (see `DistillationLoss`); encoded by its name only.
    public var loss: (any DistillationLoss)?

    public init() {}

    enum CodingKeys: String, CodingKey {
        case kind, temperature, alpha, beta, pair, loss
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        kind = try container.decode(DistillationKind.self, forKey: .kind)
        temperature = try container.decode(Float.self, forKey: .temperature)
        alpha = try container.decode(Float.self, forKey: .alpha)
        beta = try container.decodeIfPresent(Float.self, forKey: .beta)
        pair = try container.decodeIfPresent(FeaturePair.self, forKey: .pair)
        if let name = try container.decodeIfPresent(String.self, forKey: .loss) {
            throw DecodingError.dataCorruptedError(forKey: .loss, in: container, debugDescription: "the custom "
                + "distillation loss '\(name)' cannot be read back from its name; set DistillationSettings.loss")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(kind, forKey: .kind)
        try container.encode(temperature, forKey: .temperature)
        try container.encode(alpha, forKey: .alpha)
        try container.encodeIfPresent(beta, forKey: .beta)
        try container.encodeIfPresent(pair, forKey: .pair)
        try container.encodeIfPresent(loss?.name, forKey: .loss)
    }

    /// The weight actually used.
    public var effectiveBeta: Float {
        beta ?? (kind == .attention ? 1000 : kind == .relation ? 25 : 1)
    }

    /// - Throws: `ShrinkError(.value)` for a temperature that is not positive, α outside [0, 1], or a negative β.
    public func validate() throws {
        guard temperature > 0, temperature.isFinite else {
            throw ShrinkError(.value, "the temperature must be positive, got \(temperature)")
        }
        guard alpha >= 0, alpha <= 1 else { throw ShrinkError(.value, "alpha must be in [0, 1], got \(alpha)") }
        if let beta, !(beta >= 0 && beta.isFinite) {
            throw ShrinkError(.value, "beta must be a non-negative number, got \(beta)")
        }
    }
}

/// The pair a kind uses when none is given: for feature and relation, the input of each graph's last layer (the
/// penultimate representation); for attention, the last feature maps of equal height and width in both graphs.
public func defaultPair(teacher: Graph, student: Graph, kind: DistillationKind) throws -> FeaturePair {
    func penultimate(_ g: Graph) -> String { g.node(named: g.outputName)?.inputs.first ?? Graph.inputName }
    switch kind {
    case .response, .feature, .relation:
        return FeaturePair(teacher: penultimate(teacher), student: penultimate(student))
    case .attention:
        let maps = { (g: Graph) in g.nodes.indices.filter { g.outputShapes[$0].count == 3 }.reversed() }
        for t in maps(teacher) {
            for s in maps(student) where Array(student.outputShapes[s].suffix(2)) == Array(teacher.outputShapes[t].suffix(2)) {
                return FeaturePair(teacher: teacher.nodes[t].name, student: student.nodes[s].name)
            }
        }
        throw ShrinkError(.value, "the teacher and the student have no feature maps of the same height and width "
            + "for attention transfer; name a pair with --feature-pairs")
    }
}

/// Trains `student` (in place) against `teacher` on `train` with `training`'s schedule, and returns the training
/// history. `student` keeps its graph's nodes; the regressor, if any, is not added to it.
///
/// - Throws: `ShrinkError(.value)` when the models' inputs or classes differ, a pair names a missing node, a pair's
///   shapes cannot be matched, or the settings are invalid.
public func distill(student: Model, teacher: Model, train: Dataset, settings: DistillationSettings,
                    training: TrainingConfiguration, test: Dataset? = nil) throws -> TrainingHistory {
    try settings.validate()
    let s = student.graph, t = teacher.graph
    guard s.outputShape == t.outputShape else {
        throw ShrinkError(.value, "the teacher has \(t.outputShape.first ?? 0) classes and the student "
            + "\(s.outputShape.first ?? 0); they must match")
    }
    guard s.inputShape == t.inputShape else {
        throw ShrinkError(.value, "the teacher takes samples of shape \(t.inputShape) and the student \(s.inputShape)")
    }
    // A custom loss takes the place of `kind`; with features it reads the pair raw, as feature distillation does.
    let builtIn: DistillationKind? = settings.loss == nil ? settings.kind : nil
    let pair = try settings.pair ?? defaultPair(teacher: t, student: s, kind: builtIn ?? .feature)
    func shape(_ g: Graph, _ name: String, _ role: String) throws -> [Int] {
        if name == Graph.inputName { return g.inputShape }
        guard let i = g.nodes.firstIndex(where: { $0.name == name }) else {
            throw ShrinkError(.value, "the \(role) has no node named '\(name)'; its nodes are: "
                + g.nodes.map(\.name).joined(separator: ", "))
        }
        return g.outputShapes[i]
    }
    let teacherShape = try shape(t, pair.teacher, "teacher"), studentShape = try shape(s, pair.student, "student")

    // The teacher's outputs for the whole training set, once: logits, and the pair's value as the loss needs it.
    let usesPair = settings.loss?.usesFeatures ?? (settings.kind != .response)
    let perSample: Int
    switch builtIn {
    case nil: perSample = usesPair ? teacherShape.reduce(1, *) : 0
    case .response: perSample = 0
    case .attention:
        guard teacherShape.count == 3, studentShape.count == 3, teacherShape.suffix(2) == studentShape.suffix(2) else {
            throw ShrinkError(.value, "attention transfer needs feature maps of the same height and width; the pair "
                + "\(pair.teacher):\(pair.student) has shapes \(teacherShape) and \(studentShape)")
        }
        perSample = teacherShape[1] * teacherShape[2]
    case .feature, .relation: perSample = teacherShape.reduce(1, *)
    }
    let classes = t.outputShape.reduce(1, *)
    guard Double(train.count) * Double(classes + perSample) * 4 <= 2e9 else {
        throw ShrinkError(.value, "the teacher's \(pair.teacher) for \(train.count) samples would take more than 2 GB "
            + "to cache; pick a smaller node with --feature-pairs")
    }
    var cachedLogits = [Float](repeating: 0, count: train.count * classes)
    var cachedPair = [Float](repeating: 0, count: train.count * perSample)
    var start = 0
    while start < train.count {
        let end = min(start + 256, train.count)
        let inputs = try train.inputs(start..<end)
        let values = t.forward(inputs, mode: .inference, keeping: usesPair ? [pair.teacher] : [])
        let logits = values[t.outputName]!
        cachedLogits.replaceSubrange((start * classes)..<(end * classes), with: logits.scalars)
        if usesPair {
            var value = pair.teacher == Graph.inputName ? inputs : values[pair.teacher]!
            if builtIn == .attention { value = attentionMap(value) }
            cachedPair.replaceSubrange((start * perSample)..<(end * perSample), with: value.scalars)
        }
        start = end
    }
    func rows(_ cache: [Float], width: Int, _ indices: ArraySlice<Int>, shape: [Int]) -> Tensor {
        var out = [Float]()
        out.reserveCapacity(indices.count * width)
        for i in indices { out.append(contentsOf: cache[(i * width)..<((i + 1) * width)]) }
        return Tensor(shape: [indices.count] + shape, scalars: out)
    }

    // A regressor from the student's feature to the teacher's when they differ (FitNets).
    var regressor: (any Layer)?
    if builtIn == .feature && studentShape != teacherShape {
        var generator = SeededGenerator(seed: training.seed, stream: "distillation-regressor")
        if studentShape.count == 3, teacherShape.count == 3, studentShape.suffix(2) == teacherShape.suffix(2) {
            regressor = Conv2d(inputChannels: studentShape[0], outputChannels: teacherShape[0], kernelSize: 1,
                               generator: &generator)
        } else if studentShape.count == 1, teacherShape.count == 1 {
            regressor = Linear(inputFeatures: studentShape[0], outputFeatures: teacherShape[0], generator: &generator)
        } else {
            throw ShrinkError(.value, "feature distillation maps (C, H, W) to (C′, H, W) with a 1×1 conv or (D) to (D′) "
                + "with a linear layer; the pair \(pair.teacher):\(pair.student) has shapes \(teacherShape) and "
                + "\(studentShape)")
        }
    }

    let trainer = Trainer(graph: s, configuration: training)
    trainer.extraParameters = regressor?.parameters.map(\.parameter).filter(\.isTrainable) ?? []
    if usesPair { trainer.keeping = [pair.student] }
    let beta = settings.effectiveBeta, output = s.outputName
    trainer.loss = { batch in
        let teacherLogits = rows(cachedLogits, width: classes, batch.indices, shape: t.outputShape)
        if let custom = settings.loss {
            let feature = !usesPair ? nil : pair.student == Graph.inputName ? batch.inputs : batch.values[pair.student]!
            let r = try custom.checkedLoss(DistillationBatch(
                studentLogits: batch.logits, teacherLogits: teacherLogits, labels: batch.labels,
                studentFeature: feature,
                teacherFeature: usesPair ? rows(cachedPair, width: perSample, batch.indices, shape: teacherShape) : nil,
                indices: batch.indices))
            // The input takes no gradient; a feature at the output adds to the logits' gradient.
            guard let featureGradient = r.featureGradient, pair.student != Graph.inputName else {
                return (r.loss, [output: r.logitsGradient])
            }
            if pair.student == output {
                var gradient = r.logitsGradient
                gradient.add(featureGradient)
                return (r.loss, [output: gradient])
            }
            return (r.loss, [output: r.logitsGradient, pair.student: featureGradient])
        }
        switch settings.kind {
        case .response:
            let r = responseDistillation(studentLogits: batch.logits, teacherLogits: teacherLogits, labels: batch.labels,
                                         temperature: settings.temperature, alpha: settings.alpha)
            return (r.loss, [output: r.gradient])
        case .feature, .attention, .relation:
            let hard = crossEntropy(logits: batch.logits, labels: batch.labels)
            let feature = pair.student == Graph.inputName ? batch.inputs : batch.values[pair.student]!
            let target = rows(cachedPair, width: perSample, batch.indices,
                              shape: settings.kind == .attention ? [perSample] : teacherShape)
            let term: LossResult
            switch settings.kind {
            case .attention:
                term = attentionTransfer(studentFeatures: feature, teacherAttention: target, beta: beta)
            case .relation:
                term = relationalDistance(studentEmbeddings: feature.reshaped([feature.shape[0], studentShape.reduce(1, *)]),
                                          teacherEmbeddings: target.reshaped([target.shape[0], perSample]), weight: beta)
            default:
                if let regressor {
                    let mapped = regressor.forward([feature], mode: .training)
                    var mse = meanSquaredError(mapped, target)
                    mse.gradient.scale(by: beta)
                    term = LossResult(loss: Double(beta) * mse.loss,
                                      gradient: regressor.backward(mse.gradient, needsInputGradient: [true])[0]!)
                } else {
                    var mse = meanSquaredError(feature, target)
                    mse.gradient.scale(by: beta)
                    term = LossResult(loss: Double(beta) * mse.loss, gradient: mse.gradient)
                }
            }
            guard pair.student != Graph.inputName else { return (hard.loss, [output: hard.gradient]) }
            if pair.student == output {
                var gradient = hard.gradient
                gradient.add(term.gradient)
                return (hard.loss + term.loss, [output: gradient])
            }
            return (hard.loss + term.loss, [output: hard.gradient, pair.student: term.gradient])
        }
    }
    let history = try trainer.fit(train: train, test: test)
    var record = ["kind": settings.kind.rawValue, "teacher": teacher.architecture, "temperature": "\(settings.temperature)",
                  "alpha": "\(settings.alpha)", "epochs": "\(training.epochs)", "seed": "\(training.seed)"]
    if usesPair {
        record["pair"] = "\(pair.teacher):\(pair.student)"
        record["beta"] = "\(beta)"
    }
    if let custom = settings.loss {
        // The custom loss has no temperature, α or β of its own here; it is recorded as "custom" with its name.
        record = ["kind": "custom", "loss": custom.name, "teacher": teacher.architecture,
                  "epochs": "\(training.epochs)", "seed": "\(training.seed)"]
        if usesPair { record["pair"] = "\(pair.teacher):\(pair.student)" }
    }
    student.provenance.append(ProvenanceStep(pass: "distill", settings: record))
    return history
}

/// Mean and sample standard deviation (n − 1) of a list of accuracies.
public func meanAndStandardDeviation(_ values: [Double]) -> (mean: Double, std: Double) {
    guard !values.isEmpty else { return (0, 0) }
    let mean = values.reduce(0, +) / Double(values.count)
    guard values.count > 1 else { return (mean, 0) }
    let variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(values.count - 1)
    return (mean, variance.squareRoot())
}
