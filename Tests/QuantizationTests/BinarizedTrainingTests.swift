// Binarized training: the rewritten graph (ReLUs into binarized layers removed, BatchNorm after them and their
// producers, a sign before each), training that keeps float masters, and a converted model — BatchNorm folded into
// the stored scales, binarized layers on the XNOR-popcount kernel — that predicts what the trained graph predicts.
import Datasets
import NeuralNetworks
import Quantization
import Tensors
import Testing

@Suite struct BinarizedTrainingTests {
    func smallModel(seed: UInt64) throws -> Model {
        Model(architecture: "fmnist-small",
              graph: try Architecture.fmnistSmall.makeGraph(inputShape: [1, 12, 12], classes: 4, seed: seed),
              normalization: Normalization(mean: 0, std: 1))
    }

    @Test func rewritesTheGraphAroundTheBinarizedLayers() throws {
        let binary = try BinaryQATGraph(try smallModel(seed: 1))
        #expect(binary.binaryLayers == ["conv2", "fc1"] && binary.eightBitLayers == ["conv1", "fc2"])
        #expect(binary.removedActivations == ["relu1", "relu2"])
        #expect(binary.graph.nodes.map(\.name) == [
            "conv1_input_fakequant", "conv1", "conv1_bn", "pool1", "conv2_sign", "conv2", "conv2_bn", "pool2", "flatten",
            "fc1_sign", "fc1", "fc1_bn", "relu3", "fc2_input_fakequant", "fc2",
        ])
        #expect(binary.batchNorms.count == 3)
        // Too few layers to keep a first and a last at 8 bits with anything between.
        var g = SeededGenerator(seed: 1)
        let two = Model(architecture: "two", graph: try Graph(inputShape: [4], nodes: [
            Node(name: "fc1", layer: Linear(inputFeatures: 4, outputFeatures: 3, generator: &g), inputs: ["input"]),
            Node(name: "fc2", layer: Linear(inputFeatures: 3, outputFeatures: 2, generator: &g), inputs: ["fc1"]),
        ]), normalization: Normalization(mean: 0, std: 1))
        let error = #expect(throws: ShrinkError.self) { _ = try BinaryQATGraph(two) }
        #expect(error?.message.contains("at least 3") == true)
    }

    @Test func trainsConvertsAndAgrees() throws {
        let data = try bandedImages(160, seed: 4)
        // A trained float model first, as in use.
        let model = try smallModel(seed: 2)
        var floatTraining = TrainingConfiguration()
        floatTraining.epochs = 5
        floatTraining.batchSize = 16
        _ = try Trainer(graph: model.graph, configuration: floatTraining).fit(train: data)
        var training = TrainingConfiguration()
        training.epochs = 4
        training.batchSize = 16
        training.optimizer = .adam
        training.weightDecay = 0
        let trained = try binarizedTraining(model, train: data, training: training)
        #expect(trained.activationNodes.values.allSatisfy(\.frozen) && trained.batchNorms.allSatisfy(\.frozen))
        // Masters stay float; the forward saw α · sign(W).
        let masters = (trained.graph.node(named: "conv2")!.layer as! Conv2d).weight.value
        #expect(Set(masters.scalars.map(abs)).count > 20)
        let fake = try trained.predict(data.inputs)
        let converted = try trained.converted(settings: ["epochs": "4"])
        let graph = converted.model.graph
        // BatchNorms folded away; binarized layers on the packed kernel; 8-bit first and last weights in the file.
        #expect(!graph.nodes.contains { $0.layer is BatchNorm })
        #expect(graph.node(named: "conv2")?.layer is BinaryConv2d && graph.node(named: "fc1")?.layer is BinaryLinear)
        let stored = IntegerWeightTensor.storedBits(in: try converted.safeTensors())
        #expect(stored["conv2.weight"]?.bits == 1 && stored["fc1.weight"]?.bits == 1)
        #expect(stored["conv1.weight"]?.bits == 8 && stored["fc2.weight"]?.bits == 8)
        #expect(converted.model.provenance.last?.pass == "binarize")
        let logits = predict(graph, try data.inputs, batchSize: 64)
        func labels(_ t: Tensor) -> [Int] {
            (0..<t.shape[0]).map { i in let row = Array(t.scalars[(i * 4)..<(i * 4 + 4)]); return row.firstIndex(of: row.max()!)! }
        }
        let agree = zip(labels(fake), labels(logits)).filter { $0 == $1 }.count
        #expect(agree >= 158, "\(agree) of 160 agree")
        let maxDifference = zip(fake.scalars, logits.scalars).map { abs($0 - $1) }.max() ?? 0
        #expect(maxDifference < 1e-2, "largest logit difference \(maxDifference)")
        #expect(metrics(logits: logits, labels: data.labels).top1 > 0.5)
    }
}
