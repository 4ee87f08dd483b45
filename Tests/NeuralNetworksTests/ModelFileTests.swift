// The model file: round trips give identical outputs and bytes; corrupt or mismatched files give clear errors.
import Datasets
import Foundation
import NeuralNetworks
import Tensors
import Testing

private func temporaryDirectory() throws -> String {
    let path = temporaryRoot + "/\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// Every temporary directory of this test process lives under one root, removed when the process exits.
private let temporaryRoot: String = {
    atexit { try? FileManager.default.removeItem(atPath: NSTemporaryDirectory() + "shrink-model-tests-\(getpid())") }
    return NSTemporaryDirectory() + "shrink-model-tests-\(getpid())"
}()

private func model(_ architecture: Architecture = .resnet8) throws -> Model {
    Model(architecture: architecture.rawValue,
          graph: try architecture.makeGraph(inputShape: [1, 12, 12], classes: 4, seed: 3),
          normalization: Normalization(mean: 0.25, std: 0.5),
          provenance: [ProvenanceStep(pass: "train", settings: ["epochs": "1"])])
}

private func expectError(_ kind: ShrinkError.Kind, containing text: String, _ body: () throws -> Void,
                         sourceLocation: SourceLocation = #_sourceLocation) {
    do {
        try body()
        Issue.record("expected a \(kind) error containing '\(text)'", sourceLocation: sourceLocation)
    } catch let error as ShrinkError {
        #expect(error.kind == kind, "\(error.message)", sourceLocation: sourceLocation)
        #expect(error.message.contains(text), "\(error.message)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
    }
}

@Suite struct ModelFileTests {
    @Test(arguments: Architecture.allCases)
    func roundTripGivesIdenticalOutputsAndBytes(architecture: Architecture) throws {
        let dir = try temporaryDirectory()
        let original = try model(architecture)
        _ = original.graph.forward(randomTensor([4, 1, 12, 12], seed: 1), mode: .training)  // move BN statistics
        let path = dir + "/m.safetensors"
        try original.save(to: path)
        let loaded = try Model.load(from: path)
        let x = randomTensor([3, 1, 12, 12], seed: 2)
        #expect(loaded.graph.forward(x, mode: .inference) == original.graph.forward(x, mode: .inference))
        #expect(loaded.normalization == original.normalization && loaded.provenance == original.provenance)
        #expect(loaded.architecture == architecture.rawValue)
        let again = dir + "/again.safetensors"
        try loaded.save(to: again)
        #expect(try readFile(path) == readFile(again))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).sorted() == ["again.safetensors", "m.safetensors"])
    }

    @Test func tensorsAreNamedLikeAPyTorchStateDict() throws {
        let names = try model(.fmnistCNN).safeTensors().order
        #expect(names == ["conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "fc1.weight", "fc1.bias",
                          "fc2.weight", "fc2.bias"])
        let bn = try model(.resnet8).safeTensors().order
        #expect(bn.contains("bn1.running_mean") && bn.contains("layer2_downsample_conv.weight"))
    }

    @Test func truncatedAndCorruptFilesAreRejected() throws {
        let bytes = try model(.mlp).safeTensors().encoded()
        expectError(.format, containing: "at least 8") { _ = try SafeTensorsFile.decode(Array(bytes.prefix(5)), file: "f") }
        expectError(.format, containing: "header claims") { _ = try SafeTensorsFile.decode(Array(bytes.prefix(100)), file: "f") }
        expectError(.format, containing: "data_offsets") {
            _ = try SafeTensorsFile.decode(Array(bytes.dropLast(10)), file: "f")
        }
        var huge = bytes
        huge.replaceSubrange(0..<8, with: [0, 0, 0, 0, 0, 0, 0, 0x7F])
        expectError(.format, containing: "header claims") { _ = try SafeTensorsFile.decode(huge, file: "f") }
        var garbage = bytes
        garbage[9] = 0x7B  // '{' inside the JSON
        garbage[10] = 0x7B
        expectError(.format, containing: "not valid JSON") { _ = try SafeTensorsFile.decode(garbage, file: "f") }
    }

    @Test func mismatchedTensorsAreRejected() throws {
        var container = try model(.mlp).safeTensors()
        container.tensors["fc1.weight"] = SafeTensor(Tensor(zeros: [3, 3]))
        expectError(.shape, containing: "fc1.weight") { _ = try Model.load(container, file: "f") }
        container = try model(.mlp).safeTensors()
        container.tensors["fc2.bias"] = nil
        container.order.removeAll { $0 == "fc2.bias" }
        expectError(.format, containing: "'fc2.bias' is missing") { _ = try Model.load(container, file: "f") }
        container = try model(.mlp).safeTensors()
        container.metadata["shrink.graph"] = "{\"nodes\": 3}"
        expectError(.format, containing: "shrink.graph") { _ = try Model.load(container, file: "f") }
        container = try model(.mlp).safeTensors()
        container.tensors["fc3.bias"] = SafeTensor(Tensor(shape: [4], scalars: [0, .nan, 0, 0]))
        expectError(.value, containing: "non-finite") { _ = try Model.load(container, file: "f") }
        container.metadata = [:]
        expectError(.format, containing: "is this a Shrink model file") { _ = try Model.load(container, file: "f") }
    }

    @Test func missingFileAndUnwritablePathAreErrorsThatLeaveNothingBehind() throws {
        #expect(throws: ShrinkError.self) { _ = try Model.load(from: "/nonexistent/model.safetensors") }
        let dir = try temporaryDirectory()
        let blocker = dir + "/file"
        _ = FileManager.default.createFile(atPath: blocker, contents: Data([1]))
        #expect(throws: ShrinkError.self) { try model(.mlp).save(to: blocker + "/m.safetensors") }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["file"])
    }
}

/// Data whose labels go past the model's classes is refused when it meets the model, naming the data and the sample.
@Test func dataWithALabelPastTheModelsClassesNamesTheSample() throws {
    let m = Model(architecture: "mlp", graph: try Architecture.mlp.makeGraph(inputShape: [12], classes: 4, seed: 3),
                  normalization: Normalization(mean: 0.25, std: 0.5))
    var data = try Dataset(inputs: Tensor(shape: [3, 12], repeating: 0.5), labels: [0, 6, 3], classCount: 7)
    data.origin = "labels.npz (test split)"
    expectError(.value, containing: "labels.npz (test split): sample 1 has label 6; the model predicts classes 0 to 3") {
        _ = try m.prepare(data)
    }
    let fitting = try Dataset(inputs: Tensor(shape: [2, 12], repeating: 0.5), labels: [0, 3], classCount: 4)
    #expect(try m.prepare(fitting).classCount == 4)
}
