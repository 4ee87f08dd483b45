// Custom distillation losses: a user-defined loss equal to a built-in one trains the same weights exactly, its
// feature gradient is seeded at the pair's node, wrong gradient shapes and the loss's own errors stop training with
// the loss named, and settings record the loss by name.
import Datasets
import Distillation
import Foundation
import NeuralNetworks
import Tensors
import Testing

/// Hinton's loss through the public function, as the built-in response kind computes it.
private struct Soft: DistillationLoss {
    let name = "soft"
    var temperature: Float = 4, alpha: Float = 0.5
    func loss(_ batch: DistillationBatch) throws -> DistillationLossResult {
        let r = responseDistillation(studentLogits: batch.studentLogits, teacherLogits: batch.teacherLogits,
                                     labels: batch.labels, temperature: temperature, alpha: alpha)
        return DistillationLossResult(loss: r.loss, logitsGradient: r.gradient)
    }
}

/// FitNets' hint without a regressor: cross-entropy plus the mean squared error of the pair's features.
private struct Hint: DistillationLoss {
    let name = "hint"
    var usesFeatures: Bool { true }
    func loss(_ batch: DistillationBatch) throws -> DistillationLossResult {
        let hard = crossEntropy(logits: batch.studentLogits, labels: batch.labels)
        let mse = meanSquaredError(batch.studentFeature!, batch.teacherFeature!)
        return DistillationLossResult(loss: hard.loss + mse.loss, logitsGradient: hard.gradient,
                                      featureGradient: mse.gradient)
    }
}

/// Returns a gradient of the wrong shape.
private struct Misshapen: DistillationLoss {
    let name = "misshapen"
    func loss(_ batch: DistillationBatch) throws -> DistillationLossResult {
        DistillationLossResult(loss: 0, logitsGradient: Tensor(zeros: [1]))
    }
}

/// Fails on the first batch.
private struct Failing: DistillationLoss {
    let name = "failing"
    func loss(_ batch: DistillationBatch) throws -> DistillationLossResult {
        throw ShrinkError(.value, "the failing loss failed on \(batch.indices.count) samples")
    }
}

@Suite(.serialized) struct CustomLossTests {
    private func data() throws -> Dataset {
        var g = SeededGenerator(seed: 9)
        var x: [Float] = [], y: [Int32] = []
        for i in 0..<48 {
            let label = i % 4
            for p in 0..<144 { x.append(g.nextNormal() * 0.3 + (p % 4 == label ? 1 : 0)) }
            y.append(Int32(label))
        }
        return try Dataset(inputs: Tensor(shape: [48, 1, 12, 12], scalars: x), labels: y, classCount: 4)
    }

    private func model(_ architecture: Architecture, seed: UInt64) throws -> Model {
        Model(architecture: architecture.rawValue,
              graph: try architecture.makeGraph(inputShape: [1, 12, 12], classes: 4, seed: seed),
              normalization: Normalization(mean: 0, std: 1))
    }

    private var configuration: TrainingConfiguration {
        var configuration = TrainingConfiguration()
        configuration.epochs = 2
        configuration.batchSize = 16
        return configuration
    }

    /// A fresh fmnist-small (seed 1) distilled from `teacher` with `settings`.
    private func distilled(_ settings: DistillationSettings, teacher: Model) throws -> Model {
        let student = try model(.fmnistSmall, seed: 1)
        _ = try distill(student: student, teacher: teacher, train: try data(), settings: settings,
                        training: configuration)
        return student
    }

    @Test func aCustomResponseLossTrainsTheSameStudentAsTheBuiltIn() throws {
        let teacher = try model(.fmnistCNN, seed: 2)
        var builtIn = DistillationSettings()
        builtIn.temperature = 3
        builtIn.alpha = 0.7
        var custom = DistillationSettings()
        custom.loss = Soft(temperature: 3, alpha: 0.7)
        let a = try distilled(builtIn, teacher: teacher), b = try distilled(custom, teacher: teacher)
        #expect(a.graph.parameters.map(\.parameter.value) == b.graph.parameters.map(\.parameter.value))
        #expect(b.provenance.last?.settings == ["kind": "custom", "loss": "soft", "teacher": "fmnist-cnn",
                                                       "epochs": "2", "seed": "0"])
        // A different loss trains a different student: the comparison above can fail.
        custom.loss = Soft(temperature: 1, alpha: 0.7)
        let c = try distilled(custom, teacher: teacher)
        #expect(c.graph.parameters.map(\.parameter.value) != a.graph.parameters.map(\.parameter.value))
    }

    @Test func theFeatureGradientIsSeededAtThePairsNode() throws {
        // Teacher and student of one architecture: the feature kind needs no regressor, so its loss is the hint's.
        let teacher = try model(.fmnistSmall, seed: 2)
        var builtIn = DistillationSettings()
        builtIn.kind = .feature
        builtIn.beta = 1
        builtIn.pair = FeaturePair(teacher: "relu2", student: "relu2")
        var custom = DistillationSettings()
        custom.loss = Hint()
        custom.pair = builtIn.pair
        let a = try distilled(builtIn, teacher: teacher), b = try distilled(custom, teacher: teacher)
        #expect(a.graph.parameters.map(\.parameter.value) == b.graph.parameters.map(\.parameter.value))
        #expect(b.provenance.last?.settings["pair"] == "relu2:relu2")
        // Without the pair the default is the input of the last layer on both sides.
        custom.pair = nil
        let d = try distilled(custom, teacher: teacher)
        #expect(d.provenance.last?.settings["pair"] == "relu3:relu3")
    }

    @Test func wrongShapesAndErrorsStopTraining() throws {
        let teacher = try model(.fmnistCNN, seed: 2)
        var settings = DistillationSettings()
        settings.loss = Misshapen()
        expectError(["'misshapen'", "[1]", "[16, 4]"]) { _ = try distilled(settings, teacher: teacher) }
        settings.loss = Failing()
        expectError(["failing loss failed on 16 samples"]) { _ = try distilled(settings, teacher: teacher) }
    }

    @Test func settingsRecordTheLossByName() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var settings = DistillationSettings()
        #expect(String(decoding: try encoder.encode(settings), as: UTF8.self)
            == #"{"alpha":0.5,"kind":"response","temperature":4}"#)
        settings.loss = Soft()
        let json = try encoder.encode(settings)
        #expect(String(decoding: json, as: UTF8.self) == #"{"alpha":0.5,"kind":"response","loss":"soft","temperature":4}"#)
        #expect(throws: DecodingError.self) { _ = try JSONDecoder().decode(DistillationSettings.self, from: json) }
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
