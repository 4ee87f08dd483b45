// Quantization-aware training: fake quantization by hand with the straight-through estimator, fake-quantization
// nodes on exactly the integer engine's edges, master weights kept in float, and a converted integer model that
// predicts what the fake-quantized graph predicts.
import Datasets
import NeuralNetworks
import Quantization
import Tensors
import Testing

@Suite struct QuantizationAwareTrainingTests {
    @Test func fakeQuantizeByHandWithTheStraightThroughEstimator() throws {
        let fq = FakeQuantize(bits: 2)   // codes 0…3
        // Observing [0, 3] (moving average of one batch) gives S = 1, Z = 0.
        let x = Tensor(shape: [1, 4], scalars: [0, 1.4, 2.6, 3])
        #expect(fq.forward([x], mode: .training).scalars == [0, 1, 3, 3])
        #expect(fq.parameters?.scales == [1] && fq.parameters?.zeroPoints == [0])
        fq.frozen = true
        // Beyond the range: clamped forward, zero gradient; inside: passed straight through.
        let beyond = Tensor(shape: [1, 3], scalars: [-2, 1.2, 7])
        #expect(fq.forward([beyond], mode: .training).scalars == [0, 1, 3])
        #expect(fq.backward(Tensor(shape: [1, 3], scalars: [5, 6, 7]), needsInputGradient: [true])[0]?.scalars == [0, 6, 0])
        #expect(fq.parameters?.scales == [1])   // frozen: the observer did not move
    }

    @Test func trainsConvertsAndAgrees() throws {
        let data = try bandedImages(128, seed: 3)
        let model = Model(architecture: "fmnist-small",
                          graph: try Architecture.fmnistSmall.makeGraph(inputShape: [1, 12, 12], classes: 4, seed: 1),
                          normalization: Normalization(mean: 0, std: 1))
        var training = TrainingConfiguration()
        training.epochs = 3
        training.batchSize = 16
        let qat = try quantizationAwareTraining(model, train: data, weightBits: 4, activationBits: 6, training: training)
        // Fake quantization sits on the input, the fused conv/linear + ReLU outputs and the logits.
        #expect(Set(qat.activationNodes.keys) == ["input", "relu1", "relu2", "relu3", "fc2"])
        #expect(qat.activationNodes.allSatisfy { $0.value.frozen && $0.value.parameters?.bits == ($0.key == "fc2" ? 8 : 6) })
        // Master weights stay float (not on the 4-bit grid) between steps.
        let conv = qat.folded.node(named: "conv2")!.layer as! Conv2d
        #expect(Set(conv.weight.value.scalars).count > 20)
        let fake = try qat.predict(data.inputs)
        let integer = try qat.converted()
        #expect(integer.integerWeights.values.allSatisfy { $0.bits == 4 })
        let logits = try integer.forward(data.inputs)
        func labels(_ t: Tensor) -> [Int] {
            (0..<t.shape[0]).map { i in let row = Array(t.scalars[(i * 4)..<(i * 4 + 4)]); return row.firstIndex(of: row.max()!)! }
        }
        let agree = zip(labels(fake), labels(logits)).filter { $0 == $1 }.count
        #expect(Double(agree) / 128 >= 0.98, "\(agree) of 128 agree")
        #expect(metrics(logits: fake, labels: data.labels).top1 > 0.5)
        #expect(throws: ShrinkError.self) { _ = try QATGraph(model, weightBits: 4, activationBits: 9) }
    }
}

@Suite struct LearnedScaleAndTernaryTests {
    @Test func learnedStepSizeGradientByHand() {
        let fq = FakeQuantize(bits: 2)   // codes 0…3
        _ = fq.forward([Tensor(shape: [1, 2], scalars: [0, 3])], mode: .training)   // S = 1, Z = 0
        let scale = fq.makeScaleLearnable()
        #expect(scale?.value.scalars == [1] && fq.frozen)
        // x/s = 0.4, 1.6, 5: ∂x̂/∂s = round − x/s = −0.4, 0.4 inside; Qp − Z = 3 where clipped above.
        let y = fq.forward([Tensor(shape: [1, 3], scalars: [0.4, 1.6, 5])], mode: .training)
        #expect(y.scalars == [0, 2, 3])
        let dx = fq.backward(Tensor(shape: [1, 3], repeating: 1), needsInputGradient: [true])[0]
        #expect(dx?.scalars == [1, 1, 0])
        // g = 1/√(3 features · Qp 3) = 1/3; Σ dy · ∂x̂/∂s = −0.4 + 0.4 + 3 = 3.
        #expect(abs((scale?.gradient.scalars[0] ?? 0) - 1) < 1e-6)
        // The scale drives the forward from now on.
        scale?.value = Tensor(shape: [1], scalars: [0.5])
        #expect(fq.forward([Tensor(shape: [1, 2], scalars: [0.6, 5])], mode: .inference).scalars == [0.5, 1.5])
    }

    @Test func ternaryWeightsByHand() throws {
        // mean |w| = 0.3875, Δ = 0.27125: −0.5 and 0.9 are kept, α = 0.7; the second channel is all below Δ but its
        // largest.
        let w = Tensor(shape: [2, 4], scalars: [0.1, -0.5, 0.9, 0.05, 0.2, 0.2, 0.2, -0.2])
        let q = try WeightQuantizer.ternary.quantize(w)
        #expect(q.bits == 2 && q.values == [0, -1, 1, 0, 1, 1, 1, -1])
        #expect(abs(q.scales[0] - 0.7) < 1e-6 && abs(q.scales[1] - 0.2) < 1e-6)
        #expect(WeightQuantizer.ternary.name == "ternary" && WeightQuantizer.uniform(bits: 4).name == "int4")
    }

    @Test(arguments: [false, true])
    func trainsWithLearnedScalesOrTernaryWeightsAndConverts(ternary: Bool) throws {
        let data = try bandedImages(128, seed: 5)
        let model = Model(architecture: "fmnist-small",
                          graph: try Architecture.fmnistSmall.makeGraph(inputShape: [1, 12, 12], classes: 4, seed: 3),
                          normalization: Normalization(mean: 0, std: 1))
        var training = TrainingConfiguration()
        training.epochs = 4
        training.batchSize = 16
        let qat = try quantizationAwareTraining(model, train: data, weightBits: 4, activationBits: 6, training: training,
                                                learnableScales: !ternary, ternary: ternary)
        let integer = try qat.converted()
        if ternary {
            #expect(qat.learnedWeightScales.isEmpty)
            #expect(integer.integerWeights.values.allSatisfy { $0.bits == 2 && $0.values.allSatisfy { abs($0) <= 1 } })
        } else {
            // The converted weights use the learned scales, which moved from their min/max start.
            #expect(qat.learnedWeightScales.count == 4 && qat.activationNodes.values.allSatisfy { $0.learnedScale != nil })
            let conv1 = integer.integerWeights["conv1"]!
            #expect(conv1.scales == qat.learnedWeightScales[0].value.scalars.map { max(abs($0), .leastNormalMagnitude) })
            let start = try WeightScheme(bits: 4).quantize((qat.folded.node(named: "conv1")!.layer as! Conv2d).weight.value)
            #expect(conv1.scales != start.scales)
        }
        let fake = try qat.predict(data.inputs), logits = try integer.forward(data.inputs)
        func labels(_ t: Tensor) -> [Int] {
            (0..<t.shape[0]).map { i in let row = Array(t.scalars[(i * 4)..<(i * 4 + 4)]); return row.firstIndex(of: row.max()!)! }
        }
        let agree = zip(labels(fake), labels(logits)).filter { $0 == $1 }.count
        #expect(Double(agree) / 128 >= 0.98, "\(agree) of 128 agree")
        #expect(metrics(logits: fake, labels: data.labels).top1 > 0.5)
    }
}

@Suite struct MixedPrecisionTests {
    @Test func fitsTheBudgetWithPerLayerBits() throws {
        let data = try bandedImages(96, seed: 8)
        let model = Model(architecture: "fmnist-small",
                          graph: try Architecture.fmnistSmall.makeGraph(inputShape: [1, 12, 12], classes: 4, seed: 2),
                          normalization: Normalization(mean: 0, std: 1))
        // The all-8-bit file, then a budget below it.
        let eight = try mixedPrecisionQuantization(model, calibration: data, calibrationSamples: 64, validation: data,
                                                   budget: 10_000_000)
        #expect(eight.bits.allSatisfy { $0.bits == 8 })
        let budget = eight.bytes - 1_500
        let mixed = try mixedPrecisionQuantization(model, calibration: data, calibrationSamples: 64, validation: data,
                                                   budget: budget)
        let written = try mixed.model.safeTensors().encoded().count
        #expect(mixed.bytes <= budget && written == mixed.bytes)
        #expect(mixed.bits.contains { $0.bits < 8 } && mixed.bits.allSatisfy { [8, 6, 4, 3, 2].contains($0.bits) })
        #expect(mixed.bits.map(\.node) == ["conv1", "conv2", "fc1", "fc2"])
        #expect(mixed.sensitivity.count == 4 * 4)
        // The integer weights in the file have the chosen widths.
        for (node, bits) in mixed.bits { #expect(mixed.model.graph.integerWeights[node]?.bits == bits) }
        let error = #expect(throws: ShrinkError.self) {
            _ = try mixedPrecisionQuantization(model, calibration: data, calibrationSamples: 64, validation: data,
                                               budget: 100)
        }
        #expect(error?.message.contains("smallest") == true)
    }
}
