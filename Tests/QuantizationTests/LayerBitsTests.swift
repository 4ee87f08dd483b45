// Per-layer weight bits by node name: the integer engine and weight-only quantization store each named layer's
// weights at its own width (and the others at the search's), the file keeps them, the settings and provenance record
// them, and unknown nodes, bad widths and a layer both in float and given bits are refused.
import Datasets
import Foundation
import NeuralNetworks
import Quantization
import Tensors
import Testing

private func modelAndData() throws -> (Model, Dataset, Dataset) {
    let graph = try Architecture.fmnistCNN.makeGraph(inputShape: [1, 12, 12], classes: 4, seed: 21)
    return (Model(architecture: "fmnist-cnn", graph: graph, normalization: Normalization(mean: 0, std: 1)),
            try bandedImages(32, seed: 22), try bandedImages(16, seed: 23))
}

@Suite struct LayerBitsTests {
    @Test func theIntegerEngineStoresEachLayersOwnBits() throws {
        let (model, data, validation) = try modelAndData()
        let search = try QuantizationSearch(observers: [.minmax], layerWeightBits: ["conv1": 4, "fc1": 3])
        let outcome = try quantizeAfterTraining(model, calibration: data, calibrationSamples: 32, validation: validation,
                                                search: search)
        guard case .integer(let quantized) = outcome.product else { Issue.record("expected an integer model"); return }
        let bits = quantized.graph.integerWeights.mapValues(\.bits)
        #expect(bits == ["conv1": 4, "conv2": 8, "fc1": 3, "fc2": 8])
        // conv1's codes are exactly those of a 4-bit per-channel scheme: |q| ≤ 7.
        let folded = try model.graph.foldingBatchNorm()
        let expected = try WeightScheme(bits: 4).quantize(folded.weightedLayer(named: "conv1")!.weight.value)
        #expect(quantized.graph.integerWeights["conv1"]!.values == expected.values)
        #expect(quantized.graph.integerWeights["conv1"]!.scales == expected.scales)
        // The file keeps the widths.
        let reloaded = try QuantizedModel.load(try quantized.safeTensors(), file: "layer bits")
        #expect(reloaded.graph.integerWeights.mapValues(\.bits) == bits)
        #expect(outcome.chosen.layerWeightBits == ["conv1": 4, "fc1": 3] && outcome.chosen.weightBits(of: "conv2") == 8)
        #expect(quantized.float.provenance.last?.settings["layer_weight_bits"] == "conv1:4,fc1:3")
        #expect(outcome.chosen.summary == "minmax, per-channel, w8a8, bits: conv1=4,fc1=3")
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        #expect(String(decoding: try encoder.encode(outcome.chosen), as: UTF8.self).contains(
            #""granularity":"per-channel","layer_weight_bits":{"conv1":4,"fc1":3},"observer":"minmax""#))
    }

    @Test func weightOnlyStoresEachLayersOwnBits() throws {
        let (model, data, validation) = try modelAndData()
        let search = try QuantizationSearch(observers: [.mse], weightBits: 6, activationBits: nil, keepFloat: ["fc2"],
                                            layerWeightBits: ["conv2": 2])
        let outcome = try quantizeAfterTraining(model, calibration: data, calibrationSamples: 32, validation: validation,
                                                search: search)
        guard case .weightOnly(let product) = outcome.product else { Issue.record("expected weight-only"); return }
        #expect(product.weights.mapValues(\.bits) == ["conv1": 6, "conv2": 2, "fc1": 6])
        #expect(Set(product.weights["conv2"]!.values).isSubset(of: [-1, 0, 1]))
        // The model that runs holds the dequantized 2-bit weights.
        #expect(product.model.graph.weightedLayer(named: "conv2")!.weight.value == product.weights["conv2"]!.dequantized())
    }

    @Test func layersLeftInFloatByTheFallbackLoseTheirBits() throws {
        let (model, data, _) = try modelAndData()
        // Labels the float model gets all right and 2-bit weights (3-bit conv1) with no tolerance: the sensitivity
        // stage puts each layer in float in turn.
        let inputs = try bandedImages(48, seed: 24).inputs
        let logits = model.graph.forward(inputs, mode: .inference)
        let validation = try Dataset(inputs: inputs, labels: logits.argmaxRows().map { Int32($0) }, classCount: 4)
        let search = try QuantizationSearch(observers: [.minmax], weightBits: 2, maximumDrop: 0, maximumFloatLayers: 1,
                                            layerWeightBits: ["conv1": 3])
        let outcome = try quantizeAfterTraining(model, calibration: data, calibrationSamples: 32, validation: validation,
                                                search: search)
        #expect(outcome.attempts.filter { $0.stage == "sensitivity" }.map(\.settings.floatLayers)
            == [["conv1"], ["conv2"], ["fc1"], ["fc2"]])
        for attempt in outcome.attempts {
            let inFloat = attempt.settings.floatLayers.contains("conv1")
            #expect(attempt.settings.layerWeightBits == (inFloat ? [:] : ["conv1": 3]), "\(attempt.settings.summary)")
        }
    }

    @Test func unknownNodesAndBadBitsAreRefused() throws {
        let (model, data, validation) = try modelAndData()
        let search = try QuantizationSearch(observers: [.minmax], layerWeightBits: ["relu1": 4])
        expectShrinkError(.unknownName, containing: ["'relu1'", "weight bits", "conv1, conv2, fc1, fc2"]) {
            _ = try quantizeAfterTraining(model, calibration: data, calibrationSamples: 32, validation: validation,
                                          search: search)
        }
        expectShrinkError(.value, containing: ["'conv1'", "2…8", "9"]) {
            _ = try QuantizationSearch(observers: [.minmax], layerWeightBits: ["conv1": 9])
        }
        expectShrinkError(.value, containing: ["'fc2'", "float", "4-bit"]) {
            _ = try QuantizationSearch(observers: [.minmax], keepFloat: ["fc2"], layerWeightBits: ["fc2": 4])
        }
        let scheme = try WeightScheme(bits: 4)
        expectShrinkError(.unknownName, containing: ["'pool1'", "conv1, conv2, fc1, fc2"]) {
            _ = try WeightOnlyModel(model, scheme: scheme, layerSchemes: ["pool1": scheme])
        }
    }
}
