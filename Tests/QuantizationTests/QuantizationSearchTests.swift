// Weight schemes worked by hand, the integer graph with layers kept in float and narrower bit widths, threads that
// do not change results, and the pass's search: observers, granularities, then layers in float, every try reported
// and the choice the documented one.
import Datasets
import NeuralNetworks
import Quantization
import Tensors
import Testing

private func inputs(_ count: Int, shape: [Int], seed: UInt64) -> Tensor {
    var g = SeededGenerator(seed: seed)
    let size = shape.reduce(1, *)
    return Tensor(shape: [count] + shape, scalars: (0..<(count * size)).map { _ in g.nextNormal() })
}

/// A folded fmnist-cnn-like graph on 12×12 inputs and data labelled by the float graph itself (float accuracy 100%).
private func modelAndData(seed: UInt64) throws -> (Model, Dataset, Dataset) {
    let graph = try Architecture.fmnistCNN.makeGraph(inputShape: [1, 12, 12], classes: 4, seed: seed)
    let model = Model(architecture: "fmnist-cnn", graph: graph, normalization: Normalization(mean: 0, std: 1),
                      provenance: [])
    func labelled(_ x: Tensor) throws -> Dataset {
        let logits = graph.forward(x, mode: .inference)
        var labels: [Int32] = []
        for i in 0..<x.shape[0] {
            let row = Array(logits.scalars[(i * 4)..<(i * 4 + 4)])
            labels.append(Int32(row.firstIndex(of: row.max()!)!))
        }
        return try Dataset(inputs: x, labels: labels, classCount: 4)
    }
    return (model, try labelled(inputs(64, shape: [1, 12, 12], seed: seed + 1)),
            try labelled(inputs(48, shape: [1, 12, 12], seed: seed + 2)))
}

@Suite struct WeightSchemeTests {
    @Test func fourBitsPerChannelByHand() throws {
        // Scales that are powers of two make the halves exact. Row 0: max |w| = 1.75 → S = 1.75/7 = 0.25, codes 7 and
        // rint(−0.625/0.25) = rint(−2.5) = −2 (half to even). Row 1: max |w| = 0.875 → S = 0.125, codes 7 and
        // rint(0.0625/0.125) = rint(0.5) = 0.
        let weight = Tensor(shape: [2, 2], scalars: [1.75, -0.625, 0.875, 0.0625])
        let q = try WeightScheme(bits: 4, granularity: .perChannel).quantize(weight)
        #expect(q.values == [7, -2, 7, 0])
        #expect(q.scales == [0.25, 0.125])
        #expect(q.isPerChannel && q.bits == 4)
        // Per tensor: one scale, 0.25; rint(0.875/0.25) = rint(3.5) = 4 and rint(0.0625/0.25) = 0.
        let t = try WeightScheme(bits: 4, granularity: .perTensor).quantize(weight)
        #expect(t.values == [7, -2, 4, 0] && t.scales == [0.25] && !t.isPerChannel)
    }

    @Test func twoBitsIsTernaryAndBitsAreChecked() throws {
        var g = SeededGenerator(seed: 2)
        let weight = Tensor(shape: [4, 9], scalars: (0..<36).map { _ in g.nextNormal() })
        let q = try WeightScheme(bits: 2).quantize(weight)
        #expect(Set(q.values).isSubset(of: [-1, 0, 1]) && Set(q.values).count == 3)
        expectShrinkError(.value, containing: ["2…8", "9"]) { _ = try WeightScheme(bits: 9) }
        expectShrinkError(.value, containing: ["2…8", "1"]) { _ = try WeightScheme(bits: 1) }
        expectShrinkError(.unknownName, containing: ["per-row", "per-channel"]) { _ = try Granularity(named: "per-row") }
    }
}

@Suite struct IntegerGraphOptionsTests {
    @Test func layersKeptInFloatAndNarrowActivations() throws {
        let (model, calibrationData, _) = try modelAndData(seed: 3)
        let folded = try model.graph.foldingBatchNorm()
        let calibration = try calibrate(folded, on: calibrationData, samples: 64)
        let x = inputs(6, shape: [1, 12, 12], seed: 9)
        let expected = folded.forward(x, mode: .inference)
        let mixed = try QuantizedGraph(folded: folded, calibration: calibration, floatLayers: ["conv2"])
        #expect(mixed.floatLayers == ["conv2"] && mixed.floatComputedNodes.contains("conv2"))
        #expect(Set(mixed.integerWeights.keys) == ["conv1", "fc1", "fc2"])
        #expect((try mixed.forward(x) - expected).maxAbsolute() < 0.1 * expected.maxAbsolute())
        #expect(try mixed.forward(x, backend: .openBLAS) == mixed.forward(x))
        let narrow = try QuantizedGraph(folded: folded, calibration: calibration, activationBits: 5,
                                        weights: try WeightScheme(bits: 6, granularity: .perTensor))
        #expect(narrow.edges.values.allSatisfy { $0.bits == 5 && $0.qmax == 31 })
        #expect(narrow.integerWeights.values.allSatisfy { $0.bits == 6 && $0.scales.count == 1 })
        #expect((try narrow.forward(x) - expected).maxAbsolute() < 0.3 * expected.maxAbsolute())
        expectShrinkError(.unknownName, containing: ["relu1", "conv1, conv2, fc1, fc2"]) {
            _ = try QuantizedGraph(folded: folded, calibration: calibration, floatLayers: ["relu1"])
        }
        expectShrinkError(.value, containing: ["activation bits", "9"]) {
            _ = try QuantizedGraph(folded: folded, calibration: calibration, activationBits: 9)
        }
    }

    @Test func threadCountsGiveTheSameOutputs() throws {
        let (model, calibrationData, _) = try modelAndData(seed: 4)
        let folded = try model.graph.foldingBatchNorm()
        let graph = try QuantizedGraph(folded: folded, calibration: try calibrate(folded, on: calibrationData, samples: 64))
        let x = inputs(37, shape: [1, 12, 12], seed: 10)
        let one = try Parallel.withThreads(1) { try graph.forward(x) }
        #expect(try Parallel.withThreads(2) { try graph.forward(x) } == one)
        #expect(try Parallel.withThreads(3) { try graph.forward(x) } == one)
        #expect(try graph.forward(x.slice(rows: 5..<6)) == one.slice(rows: 5..<6))
    }
}

@Suite struct QuantizationPassTests {
    @Test func withoutToleranceTheFirstTryIsTaken() throws {
        let (model, calibration, validation) = try modelAndData(seed: 5)
        let search = try QuantizationSearch(observers: [.percentile, .minmax], granularities: [.perTensor, .perChannel])
        let outcome = try quantizeAfterTraining(model, calibration: calibration, calibrationSamples: 64,
                                                validation: validation, search: search)
        #expect(outcome.attempts.count == 1 && outcome.attempts[0].stage == "search")
        #expect(outcome.chosen.observer == .percentile && outcome.chosen.granularity == .perTensor)
        #expect(outcome.withinTolerance)
        guard case .integer(let quantized) = outcome.product else { Issue.record("expected an integer model"); return }
        #expect(quantized.float.provenance.last?.settings["observer"] == "percentile")
    }

    @Test(arguments: [nil, 8] as [Int?])
    func theSearchTriesEverythingInOrderAndChoosesAsDocumented(activationBits: Int?) throws {
        let (model, calibration, validation) = try modelAndData(seed: 6)
        // 2-bit weights on labels the float model gets all right: the search has to go all the way.
        let search = try QuantizationSearch(observers: [.minmax, .mse], granularities: [.perChannel, .perTensor],
                                            weightBits: 2, activationBits: activationBits, maximumDrop: 0,
                                            maximumFloatLayers: 3)
        var heard: [QuantizationAttempt] = []
        let outcome = try quantizeAfterTraining(model, calibration: calibration, calibrationSamples: 64,
                                                validation: validation, search: search) { heard.append($0) }
        let attempts = outcome.attempts
        #expect(heard.count == attempts.count)
        #expect(outcome.floatValidationAccuracy == 1)
        let order = [(ObserverKind.minmax, Granularity.perChannel), (.mse, .perChannel), (.minmax, .perTensor),
                     (.mse, .perTensor)]
        for (i, attempt) in attempts.prefix(4).enumerated() where attempt.stage == "search" {
            #expect(attempt.settings.observer.kind == order[i].0 && attempt.settings.granularity == order[i].1)
            #expect(attempt.settings.weightBits == 2 && attempt.settings.activationBits == activationBits)
        }
        let firstWithin = attempts.firstIndex { $0.validationAccuracy == 1 && $0.stage != "sensitivity" }
        let searchCount = attempts.prefix { $0.stage == "search" }.count
        if let firstWithin, firstWithin < searchCount {
            #expect(attempts.count == firstWithin + 1)
        } else {
            // No search try met it: one sensitivity try per conv/linear layer, each with that layer alone in float.
            #expect(searchCount == 4)
            let sensitivity = attempts.dropFirst(4).prefix { $0.stage == "sensitivity" }
            #expect(sensitivity.map(\.settings.floatLayers) == [["conv1"], ["conv2"], ["fc1"], ["fc2"]])
            #expect(attempts.dropFirst(8).allSatisfy { $0.stage == "fallback" })
            // Fallbacks keep the 2, 3, … layers whose sensitivity tries regained the most (ties: graph order).
            let ranked = sensitivity.enumerated().sorted {
                $0.element.validationAccuracy != $1.element.validationAccuracy
                    ? $0.element.validationAccuracy > $1.element.validationAccuracy : $0.offset < $1.offset
            }.map { $0.element.settings.floatLayers[0] }
            for (i, fallback) in attempts.dropFirst(8).enumerated() {
                #expect(fallback.settings.floatLayers == Array(ranked.prefix(2 + i)))
            }
        }
        // The choice: the first try within the tolerance, else the most accurate.
        if outcome.withinTolerance {
            #expect(outcome.chosenAccuracy == 1)
        } else {
            #expect(outcome.chosenAccuracy == attempts.map(\.validationAccuracy).max())
            #expect(attempts.last?.stage == "fallback" && attempts.last?.settings.floatLayers.count == 3)
        }
        // What was chosen is what the product computes.
        let logits = try outcome.product.predict(validation.inputs)
        #expect(metrics(logits: logits, labels: validation.labels).top1 == outcome.chosenAccuracy)
        if activationBits == nil {
            guard case .weightOnly(let weightOnly) = outcome.product else { Issue.record("expected weight-only"); return }
            #expect(Set(weightOnly.weights.keys).isDisjoint(with: outcome.chosen.floatLayers))
            #expect(weightOnly.weights.values.allSatisfy { $0.bits == 2 })
        }
    }

    @Test func badSearchesAreRefused() throws {
        let (model, calibration, validation) = try modelAndData(seed: 7)
        expectShrinkError(.value, containing: ["weight bits", "2…8"]) {
            _ = try QuantizationSearch(observers: [.minmax], weightBits: 12)
        }
        expectShrinkError(.value, containing: ["activation bits", "1"]) {
            _ = try QuantizationSearch(observers: [.minmax], activationBits: 1)
        }
        expectShrinkError(.value, containing: ["observer"]) { _ = try QuantizationSearch(observers: []) }
        let search = try QuantizationSearch(observers: [.minmax], keepFloat: ["pool1"])
        expectShrinkError(.unknownName, containing: ["pool1", "conv1, conv2, fc1, fc2"]) {
            _ = try quantizeAfterTraining(model, calibration: calibration, calibrationSamples: 64,
                                          validation: validation, search: search)
        }
        let empty = try Dataset(inputs: Tensor(shape: [0, 1, 12, 12], scalars: []), labels: [], classCount: 4)
        expectShrinkError(.value, containing: ["calibration", "sample"]) {
            _ = try quantizeAfterTraining(model, calibration: empty, calibrationSamples: 10, validation: validation,
                                          search: try QuantizationSearch(observers: [.minmax]))
        }
    }
}
