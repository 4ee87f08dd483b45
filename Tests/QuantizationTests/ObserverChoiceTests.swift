// ObserverChoice: a user-defined observer plugged into calibration, the integer engine, weight quantization and the
// post-training search — the scales it fixes are the scales used — with the built-ins' JSON unchanged and clear errors
// for a factory that ignores the axis, a built-in's name taken, or an observer listed twice.
import Datasets
import Foundation
import NeuralNetworks
import Quantization
import Tensors
import Testing

/// Ignores the data's values and returns the range [low, high] for every channel; counts what it saw.
private final class FixedRangeObserver: Observer {
    let name = "fixed"
    let axis: Int?
    let low: Float, high: Float
    private(set) var observed = 0
    private var channels = 1

    init(axis: Int?, low: Float, high: Float) {
        self.axis = axis
        self.low = low
        self.high = high
    }

    func observe(_ tensor: Tensor) throws {
        if let axis { channels = tensor.shape[axis] }
        observed += 1
    }

    func computeParameters(bits: Int, signed: Bool, symmetric: Bool, narrowRange: Bool) throws
        -> QuantizationParameters {
        guard observed > 0 else { throw ShrinkError(.value, "the fixed observer has seen no data") }
        return try .compute(minimums: [Float](repeating: low, count: channels),
                            maximums: [Float](repeating: high, count: channels), axis: axis, bits: bits,
                            signed: signed, symmetric: symmetric, narrowRange: narrowRange)
    }

    func reset() { observed = 0 }

    var description: String { "fixed [\(low), \(high)]" }
}

private func fixed(_ low: Float, _ high: Float) -> ObserverChoice {
    .custom(name: "fixed") { FixedRangeObserver(axis: $0, low: low, high: high) }
}

/// fmnist-cnn on 12×12 inputs with banded images to calibrate on and validate with.
private func modelAndData() throws -> (Model, Dataset, Dataset) {
    let graph = try Architecture.fmnistCNN.makeGraph(inputShape: [1, 12, 12], classes: 4, seed: 11)
    return (Model(architecture: "fmnist-cnn", graph: graph, normalization: Normalization(mean: 0, std: 1)),
            try bandedImages(32, seed: 12), try bandedImages(16, seed: 13))
}

@Suite struct ObserverChoiceTests {
    @Test func calibrationAndTheIntegerEngineUseTheCustomRanges() throws {
        let (model, data, _) = try modelAndData()
        let folded = try model.graph.foldingBatchNorm()
        // uint8 affine on [0, 255]: S = 255 / 255 = 1, Z = round(255 − 255 / 1) = 0, on every edge.
        let calibration = try calibrate(folded, on: data, samples: 32, observer: fixed(0, 255), batchSize: 8)
        #expect(calibration.observers.count == folded.nodes.count + 1)
        #expect(calibration.observers.values.allSatisfy { ($0 as? FixedRangeObserver)?.observed == 4 })
        let graph = try QuantizedGraph(folded: folded, calibration: calibration)
        #expect(!graph.edges.isEmpty && graph.edges.values.allSatisfy { $0.scales == [1] && $0.zeroPoints == [0] })
        // The built-in path is the same function with a built-in choice.
        let minmax = try calibrate(folded, on: data, samples: 32, kind: .minmax)
        #expect(minmax.observers.values.allSatisfy { $0 is MinMaxObserver })
    }

    @Test func weightsTakeTheCustomRangePerChannelOrPerTensor() throws {
        // int8 symmetric narrow range on [−127, 127]: S = 127 / 127 = 1, so the codes are the weights rounded
        // half to even: 1.4 → 1, −2.6 → −3, 0.2 → 0, 5.5 → 6, −0.5 → 0, 3 → 3.
        let weight = Tensor(shape: [2, 3], scalars: [1.4, -2.6, 0.2, 5.5, -0.5, 3])
        let perChannel = try WeightScheme(bits: 8, granularity: .perChannel, observer: fixed(-127, 127)).quantize(weight)
        #expect(perChannel.scales == [1, 1] && perChannel.isPerChannel)
        #expect(perChannel.values == [1, -3, 0, 6, 0, 3])
        let perTensor = try WeightScheme(bits: 8, granularity: .perTensor, observer: fixed(-127, 127)).quantize(weight)
        #expect(perTensor.scales == [1] && !perTensor.isPerChannel)
        // A factory that ignores the axis it is given is caught.
        let careless = ObserverChoice.custom(name: "careless") { _ in FixedRangeObserver(axis: nil, low: -1, high: 1) }
        expectShrinkError(.value, containing: ["'careless'", "axis 0", "honour"]) {
            _ = try WeightScheme(observer: careless).quantize(weight)
        }
    }

    @Test func theSearchTriesCustomObserversAndRecordsThemByName() throws {
        let (model, data, validation) = try modelAndData()
        let search = try QuantizationSearch(observers: [fixed(0, 255), .minmax], maximumDrop: 100)
        let outcome = try quantizeAfterTraining(model, calibration: data, calibrationSamples: 32, validation: validation,
                                                search: search)
        #expect(outcome.attempts.count == 1 && outcome.chosen.observer.name == "fixed" && outcome.chosen.observer.kind == nil)
        guard case .integer(let quantized) = outcome.product else { Issue.record("expected an integer model"); return }
        #expect(quantized.graph.edges.values.allSatisfy { $0.scales == [1] && $0.zeroPoints == [0] })
        #expect(quantized.float.provenance.last?.settings["observer"] == "fixed")
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        #expect(String(decoding: try encoder.encode(outcome.chosen), as: UTF8.self)
            == #"{"activation_bits":8,"float_layers":[],"granularity":"per-channel","observer":"fixed","weight_bits":8}"#)
        // Weight-only: the custom observer sets the weights' scales.
        let weightOnly = try quantizeAfterTraining(
            model, calibration: data, calibrationSamples: 32, validation: validation,
            search: try QuantizationSearch(observers: [fixed(-127, 127)], activationBits: nil))
        guard case .weightOnly(let product) = weightOnly.product else { Issue.record("expected weight-only"); return }
        #expect(product.weights.count == 4 && product.weights.values.allSatisfy { $0.scales.allSatisfy { $0 == 1 } })
    }

    @Test func mixedPrecisionCalibratesWithTheCustomObserver() throws {
        let (model, data, validation) = try modelAndData()
        let outcome = try mixedPrecisionQuantization(model, calibration: data, calibrationSamples: 32,
                                                     validation: validation, budget: Int.max, candidates: [4],
                                                     observer: fixed(0, 255))
        #expect(outcome.model.graph.edges.values.allSatisfy { $0.scales == [1] && $0.zeroPoints == [0] })
        #expect(outcome.model.float.provenance.last?.settings["observer"] == "fixed")
        #expect(outcome.bits.allSatisfy { $0.bits == 8 })   // an unbounded budget lowers nothing
    }

    @Test func builtInsKeepTheirJSONAndNames() throws {
        let settings = QuantizationSettings(observer: .movingAverage, granularity: .perTensor, weightBits: 4,
                                            activationBits: nil, floatLayers: ["fc2"])
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let json = try encoder.encode(settings)
        #expect(String(decoding: json, as: UTF8.self)
            == #"{"float_layers":["fc2"],"granularity":"per-tensor","observer":"moving-average","weight_bits":4}"#)
        let decoded = try JSONDecoder().decode(QuantizationSettings.self, from: json)
        #expect(decoded == settings && decoded.observer.kind == .movingAverage)
        #expect(settings.summary == "moving-average, per-tensor, w4 weight-only, float: fc2")
        let custom = QuantizationSettings(observer: fixed(0, 1), granularity: .perTensor, weightBits: 4,
                                          activationBits: nil, floatLayers: [])
        #expect(throws: DecodingError.self) {
            _ = try JSONDecoder().decode(QuantizationSettings.self, from: try encoder.encode(custom))
        }
        for kind in ObserverKind.allCases {
            #expect(ObserverChoice.builtIn(kind).name == kind.rawValue)
            #expect(ObserverChoice.builtIn(kind).make(axis: 0).axis == 0)
        }
    }

    @Test func badChoicesAreRefused() throws {
        let impostor = ObserverChoice.custom(name: "minmax") { MinMaxObserver(axis: $0) }
        expectShrinkError(.value, containing: ["'minmax'", "built-in", "entropy"]) {
            _ = try QuantizationSearch(observers: [impostor])
        }
        expectShrinkError(.value, containing: ["'fixed'", "twice"]) {
            _ = try QuantizationSearch(observers: [fixed(0, 1), .minmax, fixed(0, 2)])
        }
        expectShrinkError(.value, containing: ["name"]) {
            _ = try QuantizationSearch(observers: [.custom(name: "") { MinMaxObserver(axis: $0) }])
        }
    }
}
