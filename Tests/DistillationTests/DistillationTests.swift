// Distillation: the losses by hand and against finite differences, the trainer's caching and feature hooks, and the
// clear errors for mismatched models, missing nodes and bad settings.
import Datasets
import Distillation
import Foundation
import NeuralNetworks
import Tensors
import Testing

private func random(_ shape: [Int], seed: UInt64) -> Tensor {
    var g = SeededGenerator(seed: seed)
    return Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in g.nextUniform() * 2 - 1 })
}

/// Central differences of `loss` at `x` against `gradient`, element by element.
private func expectGradient(_ x: Tensor, _ gradient: Tensor, h: Float = 1e-2, tolerance: Double = 2e-2,
                            sourceLocation: SourceLocation = #_sourceLocation, _ loss: (Tensor) -> Double) {
    #expect(gradient.shape == x.shape, sourceLocation: sourceLocation)
    for i in 0..<x.count {
        var plus = x, minus = x
        plus.scalars[i] += h
        minus.scalars[i] -= h
        let numeric = (loss(plus) - loss(minus)) / (2 * Double(h))
        let analytic = Double(gradient.scalars[i])
        let diff = abs(numeric - analytic)
        #expect(diff < 1e-4 || diff / max(abs(numeric), abs(analytic)) < tolerance,
                "element \(i): analytic \(analytic), numeric \(numeric)", sourceLocation: sourceLocation)
    }
}

private func expectError(_ fragments: [String], sourceLocation: SourceLocation = #_sourceLocation,
                         _ body: () throws -> Void) {
    let error = #expect(throws: ShrinkError.self, sourceLocation: sourceLocation) { try body() }
    for fragment in fragments {
        #expect(error?.message.contains(fragment) == true, "\(error?.message ?? "") lacks \(fragment)",
                sourceLocation: sourceLocation)
    }
}

@Suite struct DistillationLossTests {
    @Test func responseLossByHand() {
        // Student logits equal to the teacher's: the KL term is 0 and only (1 − α)·CE remains.
        let z = Tensor(shape: [1, 2], scalars: [0, Float(log(3.0))])   // softmax = (1/4, 3/4)
        let r = responseDistillation(studentLogits: z, teacherLogits: z, labels: [1], temperature: 1, alpha: 0.25)
        #expect(abs(r.loss - 0.75 * -log(0.75)) < 1e-6)
        // Gradient: 0.75 · (softmax − onehot) = 0.75 · (1/4, −1/4).
        #expect(abs(r.gradient.scalars[0] - 0.1875) < 1e-6 && abs(r.gradient.scalars[1] + 0.1875) < 1e-6)
        // α = 1, T = 2, teacher (0, 0) (uniform), student (0, 2 ln 3): P_s at T = 2 is (1/4, 3/4);
        // KL(U ‖ P_s) = ½ ln(½ / ¼) + ½ ln(½ / ¾) = ½ ln(4/3); times T² = 4 → 2 ln(4/3).
        let s = Tensor(shape: [1, 2], scalars: [0, 2 * Float(log(3.0))])
        let soft = responseDistillation(studentLogits: s, teacherLogits: Tensor(zeros: [1, 2]), labels: [0],
                                        temperature: 2, alpha: 1)
        #expect(abs(soft.loss - 2 * log(4.0 / 3)) < 1e-5)
        // ∂/∂z_s = α T (P_s − P_t) = 2 · (−¼, ¼).
        #expect(abs(soft.gradient.scalars[0] + 0.5) < 1e-5 && abs(soft.gradient.scalars[1] - 0.5) < 1e-5)
    }

    @Test func responseLossGradient() {
        let s = random([3, 4], seed: 1), t = random([3, 4], seed: 2)
        let labels: [Int32] = [0, 3, 1]
        let r = responseDistillation(studentLogits: s, teacherLogits: t, labels: labels, temperature: 3, alpha: 0.7)
        expectGradient(s, r.gradient) {
            responseDistillation(studentLogits: $0, teacherLogits: t, labels: labels, temperature: 3, alpha: 0.7).loss
        }
    }

    @Test func attentionMapsByHandAndGradient() {
        // One sample, two channels of 1×2: A = Σ_c F² = (1 + 4, 0 + 9) = (5, 9), normalised by √106.
        let f = Tensor(shape: [1, 2, 1, 2], scalars: [1, 0, 2, 3])
        let q = attentionMap(f)
        #expect(abs(q.scalars[0] - Float(5 / 106.0.squareRoot())) < 1e-6)
        #expect(abs(q.scalars[1] - Float(9 / 106.0.squareRoot())) < 1e-6)
        // The same map gives zero loss.
        #expect(attentionTransfer(studentFeatures: f, teacherAttention: q, beta: 10).loss == 0)
        let student = random([2, 3, 2, 2], seed: 3), teacher = attentionMap(random([2, 5, 2, 2], seed: 4))
        let r = attentionTransfer(studentFeatures: student, teacherAttention: teacher, beta: 7)
        expectGradient(student, r.gradient, h: 1e-3) {
            attentionTransfer(studentFeatures: $0, teacherAttention: teacher, beta: 7).loss
        }
    }

    @Test func relationalDistanceByHandAndGradient() {
        // Three points on a line at 0, 1, 3: distances 1, 3, 2 (mean 2) → ψ = ½, 3/2, 1. A teacher scaled by 10
        // has the same ψ: the loss is 0 (RKD ignores scale).
        let s = Tensor(shape: [3, 1], scalars: [0, 1, 3])
        #expect(relationalDistance(studentEmbeddings: s, teacherEmbeddings: Tensor(shape: [3, 1], scalars: [0, 10, 30]),
                                   weight: 1).loss < 1e-12)
        // Against a teacher with ψ = (1, 1, 1) (an equilateral triangle): x = (−½, ½, 0), Huber = ⅛ + ⅛ + 0 = ¼,
        // mean over 3 pairs → 1/12.
        let triangle = Tensor(shape: [3, 2], scalars: [0, 0, 1, 0, 0.5, Float(3.0.squareRoot() / 2)])
        let r = relationalDistance(studentEmbeddings: s, teacherEmbeddings: triangle, weight: 1)
        #expect(abs(r.loss - 1.0 / 12) < 1e-6)
        let student = random([4, 3], seed: 5), teacher = random([4, 6], seed: 6)
        let g = relationalDistance(studentEmbeddings: student, teacherEmbeddings: teacher, weight: 25)
        expectGradient(student, g.gradient, h: 1e-3) {
            relationalDistance(studentEmbeddings: $0, teacherEmbeddings: teacher, weight: 25).loss
        }
    }

    @Test func meanAndSampleStandardDeviation() {
        let (mean, std) = meanAndStandardDeviation([1, 2, 3, 4])
        #expect(mean == 2.5 && abs(std - (5.0 / 3).squareRoot()) < 1e-12)
        #expect(meanAndStandardDeviation([7]).std == 0)
    }
}

@Suite(.serialized) struct DistillTrainerTests {
    private func data() throws -> Dataset {
        var g = SeededGenerator(seed: 7)
        var x: [Float] = [], y: [Int32] = []
        for i in 0..<64 {
            let label = i % 4
            for p in 0..<144 { x.append(g.nextNormal() * 0.3 + (p % 4 == label ? 1 : 0)) }
            y.append(Int32(label))
        }
        return try Dataset(inputs: Tensor(shape: [64, 1, 12, 12], scalars: x), labels: y, classCount: 4)
    }

    private func model(_ architecture: Architecture, classes: Int = 4, seed: UInt64 = 1) throws -> Model {
        Model(architecture: architecture.rawValue,
              graph: try architecture.makeGraph(inputShape: [1, 12, 12], classes: classes, seed: seed),
              normalization: Normalization(mean: 0, std: 1))
    }

    @Test(arguments: DistillationKind.allCases)
    func everyKindTrainsTheStudentAndLeavesTheTeacher(kind: DistillationKind) throws {
        let train = try data()
        let teacher = try model(.fmnistCNN, seed: 2), student = try model(.fmnistSmall)
        var configuration = TrainingConfiguration()
        configuration.epochs = 2
        configuration.batchSize = 16
        let teacherBefore = try teacher.safeTensors().encoded(), studentBefore = try student.safeTensors().encoded()
        var settings = DistillationSettings()
        settings.kind = kind
        let history = try distill(student: student, teacher: teacher, train: train, settings: settings,
                                  training: configuration)
        #expect(history.epochs.count == 2 && history.epochs.allSatisfy { $0.train.loss.isFinite })
        #expect(try teacher.safeTensors().encoded() == teacherBefore)
        #expect(try student.safeTensors().encoded() != studentBefore)
        // The student keeps its own nodes: no regressor was added to it.
        #expect(student.graph.nodes.map(\.name) == (try model(.fmnistSmall)).graph.nodes.map(\.name))
        #expect(student.provenance.last?.pass == "distill" && student.provenance.last?.settings["kind"] == kind.rawValue)
    }

    @Test func defaultPairsAndBadInput() throws {
        let train = try data()
        let teacher = try model(.fmnistCNN), student = try model(.fmnistSmall)
        #expect(try defaultPair(teacher: teacher.graph, student: student.graph, kind: .feature)
            == FeaturePair(teacher: "relu3", student: "relu3"))
        #expect(try defaultPair(teacher: teacher.graph, student: student.graph, kind: .attention)
            == FeaturePair(teacher: "pool2", student: "pool2"))
        let configuration = TrainingConfiguration()
        var settings = DistillationSettings()
        expectError(["classes", "10", "4"]) {
            _ = try distill(student: student, teacher: try model(.fmnistCNN, classes: 10), train: train,
                            settings: settings, training: configuration)
        }
        settings.kind = .feature
        settings.pair = FeaturePair(teacher: "conv9", student: "relu3")
        expectError(["teacher has no node named 'conv9'", "conv1"]) {
            _ = try distill(student: student, teacher: teacher, train: train, settings: settings, training: configuration)
        }
        settings.pair = FeaturePair(teacher: "relu2", student: "relu3")
        expectError(["1×1 conv", "relu2:relu3"]) {
            _ = try distill(student: student, teacher: teacher, train: train, settings: settings, training: configuration)
        }
        settings = DistillationSettings()
        settings.temperature = 0
        expectError(["temperature", "positive"]) { try settings.validate() }
        settings.temperature = 2
        settings.alpha = 1.5
        expectError(["alpha", "[0, 1]"]) { try settings.validate() }
        expectError(["unknown distillation kind 'dark'"]) { _ = try DistillationKind(named: "dark") }
    }
}
