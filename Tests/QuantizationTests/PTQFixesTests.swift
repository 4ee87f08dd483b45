// The post-training fixes worked by hand on tiny networks: cross-layer equalization's scales (and that the equalized
// network computes the same function, ReLU6 included), bias absorption, empirical and analytic bias correction, the
// GPTQ and AdaRound codes of a 2 × 2 weight, the per-channel clamp on the integer engine, and the search's fix stage.
import Datasets
import Foundation
import NeuralNetworks
import Quantization
import Tensors
import Testing

private func randomInputs(_ count: Int, shape: [Int], seed: UInt64) -> Tensor {
    var g = SeededGenerator(seed: seed)
    let size = shape.reduce(1, *)
    return Tensor(shape: [count] + shape, scalars: (0..<(count * size)).map { _ in g.nextNormal() })
}

private func randomTensor(_ shape: [Int], seed: UInt64, scale: Float = 1) -> Tensor {
    var g = SeededGenerator(seed: seed)
    return Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in g.nextNormal() * scale })
}

private func maxDifference(_ a: Tensor, _ b: Tensor) -> Float {
    zip(a.scalars, b.scalars).reduce(0) { max($0, abs($1.0 - $1.1)) }
}

/// fc1 (8 → 16, with bias) – relu – fc2 (16 → 4), weights and bias from seeds `seed`, `seed + 1`, `seed + 2`, as a
/// float model.
private func smallMLP(seed: UInt64) throws -> (Graph, Model) {
    let graph = try Graph(inputShape: [8], nodes: [
        Node(name: "fc1", layer: Linear(weight: randomTensor([16, 8], seed: seed), bias: randomTensor([16], seed: seed + 1)),
             inputs: ["input"]),
        Node(name: "relu", layer: ReLU(), inputs: ["fc1"]),
        Node(name: "fc2", layer: Linear(weight: randomTensor([4, 16], seed: seed + 2), bias: nil), inputs: ["relu"]),
    ])
    return (graph, Model(architecture: "custom", graph: graph, normalization: Normalization(mean: 0, std: 1), provenance: []))
}

/// linear(2 → 2) – activation – linear(2 → 2), with weights chosen so the scales are powers of two.
private func twoLinears(_ activation: any Layer) throws -> Graph {
    try Graph(inputShape: [2], nodes: [
        Node(name: "fc1", layer: Linear(weight: Tensor(shape: [2, 2], scalars: [4, 0, 0, 1]),
                                        bias: Tensor(shape: [2], scalars: [2, 1])), inputs: ["input"]),
        Node(name: "act", layer: activation, inputs: ["fc1"]),
        Node(name: "fc2", layer: Linear(weight: Tensor(shape: [2, 2], scalars: [1, 4, 1, 1]),
                                        bias: Tensor(shape: [2], scalars: [0.5, -0.5])), inputs: ["act"]),
    ])
}

@Suite struct CrossLayerEqualizationTests {
    @Test func scalesByHand() throws {
        // r1 = max |W1[i, :]| = (4, 1), r2 = max |W2[:, i]| = (1, 4): s = √(r1/r2) = (2, 0.5). W1 rows divide by s,
        // b1 too, W2 columns multiply by s; then both ranges are (2, 2) and a second round moves nothing.
        let graph = try twoLinears(ReLU())
        let result = try equalizeCrossLayer(graph)
        #expect(result.pairs == [EqualizedPair(producer: "fc1", activation: "act", consumer: "fc2")])
        let fc1 = try #require(result.graph.weightedLayer(named: "fc1")), fc2 = try #require(result.graph.weightedLayer(named: "fc2"))
        #expect(fc1.weight.value.scalars == [2, 0, 0, 2])
        #expect(fc1.bias?.value.scalars == [1, 2])
        #expect(fc2.weight.value.scalars == [2, 2, 2, 0.5])
        #expect(fc2.bias?.value.scalars == [0.5, -0.5])
        #expect(result.scales["act"] == [2, 0.5])
        #expect(result.rounds == 2)
        let x = randomInputs(32, shape: [2], seed: 3)
        #expect(maxDifference(graph.forward(x, mode: .inference), result.graph.forward(x, mode: .inference)) < 1e-5)
        // The input graph is untouched.
        #expect(graph.weightedLayer(named: "fc1")?.weight.value.scalars == [4, 0, 0, 1])
    }

    @Test func relu6BecomesAClampPerChannel() throws {
        // The same scales; ReLU6's cap moves with each channel: 6 / s = (3, 12).
        let graph = try twoLinears(ReLU6())
        let result = try equalizeCrossLayer(graph)
        let clamp = try #require(result.graph.node(named: "act")?.layer as? ChannelClamp)
        #expect(clamp.caps.value.scalars == [3, 12])
        let x = randomInputs(64, shape: [2], seed: 4)
        var big = x
        big.withUnsafeMutableBufferPointer { p in for i in p.indices { p[i] *= 4 } }  // past the cap of 6 as well
        for input in [x, big] {
            #expect(maxDifference(graph.forward(input, mode: .inference), result.graph.forward(input, mode: .inference)) < 1e-5)
        }
    }

    @Test func depthwiseSeparableChainKeepsItsFunctionAndEqualizesRanges() throws {
        // conv 3×3 – ReLU6 – depthwise 3×3 – ReLU – pointwise 1×1, channels of very different ranges.
        var dwWeight = randomTensor([6, 1, 3, 3], seed: 11)
        dwWeight.withUnsafeMutableBufferPointer { p in for i in p.indices { p[i] *= Float(1 << (i / 9)) / 4 } }
        let graph = try Graph(inputShape: [2, 6, 6], nodes: [
            Node(name: "stem", layer: Conv2d(weight: randomTensor([6, 2, 3, 3], seed: 10), bias: randomTensor([6], seed: 13),
                                             padding: 1), inputs: ["input"]),
            Node(name: "relu_stem", layer: ReLU6(), inputs: ["stem"]),
            Node(name: "dw", layer: Conv2d(weight: dwWeight, bias: randomTensor([6], seed: 14), padding: 1, groups: 6),
                 inputs: ["relu_stem"]),
            Node(name: "relu_dw", layer: ReLU(), inputs: ["dw"]),
            Node(name: "pw", layer: Conv2d(weight: randomTensor([4, 6, 1, 1], seed: 12), bias: nil), inputs: ["relu_dw"]),
        ])
        let result = try equalizeCrossLayer(graph)
        #expect(result.pairs.map(\.producer) == ["stem", "dw"])
        let x = randomInputs(8, shape: [2, 6, 6], seed: 15)
        let before = graph.forward(x, mode: .inference), after = result.graph.forward(x, mode: .inference)
        let largest = before.scalars.map(abs).max()!
        #expect(maxDifference(before, after) <= 1e-5 * largest)
        // Converged: each depthwise channel's range equals both its producer's and its consumer's.
        let stem = result.graph.weightedLayer(named: "stem")!.weight.value
        let dw = result.graph.weightedLayer(named: "dw")!.weight.value
        let pw = result.graph.weightedLayer(named: "pw")!.weight.value
        for c in 0..<6 {
            let r1 = stem.scalars[(c * 18)..<((c + 1) * 18)].map(abs).max()!
            let r2 = dw.scalars[(c * 9)..<((c + 1) * 9)].map(abs).max()!
            let r3 = (0..<4).map { abs(pw.scalars[$0 * 6 + c]) }.max()!
            #expect(abs(r1 - r2) <= 1e-3 * r2 && abs(r2 - r3) <= 1e-3 * r2, "channel \(c): \(r1) \(r2) \(r3)")
        }
    }

    @Test func biasAbsorptionByHand() throws {
        // fc1: x ↦ 2x + 5, ReLU, fc2: ↦ 2x (equal ranges: equalization leaves them). On calibration inputs −1, 0, 1 the
        // pre-activation is 3, 5, 7 ≥ c = 3: b1 = 2, b2 = 0 + 2·3 = 6; the outputs on those inputs (6, 10, 14) stay.
        let graph = try Graph(inputShape: [1], nodes: [
            Node(name: "fc1", layer: Linear(weight: Tensor(shape: [1, 1], scalars: [2]), bias: Tensor(shape: [1], scalars: [5])),
                 inputs: ["input"]),
            Node(name: "relu", layer: ReLU(), inputs: ["fc1"]),
            Node(name: "fc2", layer: Linear(weight: Tensor(shape: [1, 1], scalars: [2]), bias: Tensor(shape: [1], scalars: [0])),
                 inputs: ["relu"]),
        ])
        let calibration = Tensor(shape: [3, 1], scalars: [-1, 0, 1])
        let result = try equalizeCrossLayer(graph).absorbingBiases(calibration: calibration)
        #expect(result.scales["relu"] == [1])
        #expect(result.graph.weightedLayer(named: "fc1")?.bias?.value.scalars == [2])
        #expect(result.graph.weightedLayer(named: "fc2")?.bias?.value.scalars == [6])
        #expect(result.absorbed["relu"] == [3])
        #expect(result.graph.forward(calibration, mode: .inference).scalars == [6, 10, 14])
        #expect(graph.forward(calibration, mode: .inference).scalars == [6, 10, 14])
    }
}

@Suite struct BiasCorrectionTests {
    @Test func empiricalByHand() throws {
        // 3-bit weights, per tensor: max |w| = 0.5 → S = 0.5/3, codes (3, rint(1.2) = 1), W̃ = (0.5, 1/6), ΔW = (0, −1/30).
        // Calibration rows (0, 2) and (2, 4): E[x] = (1, 3), so the output mean moved by −0.1: b = 0.25 + 0.1 = 0.35.
        let graph = try Graph(inputShape: [2], nodes: [
            Node(name: "fc", layer: Linear(weight: Tensor(shape: [1, 2], scalars: [0.5, 0.2]),
                                           bias: Tensor(shape: [1], scalars: [0.25])), inputs: ["input"]),
        ])
        let x = Tensor(shape: [2, 2], scalars: [0, 2, 2, 4])
        let statistics = try graph.layerInputStatistics([x])
        #expect(statistics["fc"]?.means == [[1, 3]])
        #expect(statistics["fc"]?.secondMoments == [[2, 4, 4, 10]])
        let q = try WeightScheme(bits: 3, granularity: .perTensor).quantize(graph.weightedLayer(named: "fc")!.weight.value)
        #expect(q.values == [3, 1])
        let corrected = try correctingBiases(graph, quantized: ["fc": q], means: statistics.mapValues(\.means))
        let bias = try #require(corrected.weightedLayer(named: "fc")?.bias?.value.scalars.first)
        #expect(abs(bias - 0.35) < 1e-6)
        // The corrected layer with quantized weights has the float layer's mean output on the calibration data.
        let float = graph.forward(x, mode: .inference).scalars
        let w̃ = q.dequantized().scalars
        let quantizedOutputs = (0..<2).map { r in w̃[0] * x.scalars[2 * r] + w̃[1] * x.scalars[2 * r + 1] + bias }
        #expect(abs(quantizedOutputs.reduce(0, +) - float.reduce(0, +)) < 1e-5)
    }

    @Test func layerByLayerByHand() throws {
        // fc1 as above (ΔW = (0, −1/30), E[x] = (1, 3): b1 = 0.25 + 0.1 = 0.35), then fc2: y ↦ 3y + 1, whose 3-bit
        // weight 3 is exact (code 3, scale 1). Once fc1 is corrected its output mean is the float one, so fc2 has
        // nothing left to correct; and the quantized model's output mean equals the float model's.
        let graph = try Graph(inputShape: [2], nodes: [
            Node(name: "fc1", layer: Linear(weight: Tensor(shape: [1, 2], scalars: [0.5, 0.2]),
                                            bias: Tensor(shape: [1], scalars: [0.25])), inputs: ["input"]),
            Node(name: "fc2", layer: Linear(weight: Tensor(shape: [1, 1], scalars: [3]),
                                            bias: Tensor(shape: [1], scalars: [1])), inputs: ["fc1"]),
        ])
        let x = Tensor(shape: [2, 2], scalars: [0, 2, 2, 4])
        let scheme = try WeightScheme(bits: 3, granularity: .perTensor)
        let q = try ["fc1": scheme.quantize(graph.weightedLayer(named: "fc1")!.weight.value),
                     "fc2": scheme.quantize(graph.weightedLayer(named: "fc2")!.weight.value)]
        #expect(q["fc2"]!.values == [3] && q["fc2"]!.scales == [1])
        let corrected = try correctingBiasesLayerByLayer(graph, quantized: q, calibration: x)
        #expect(abs(corrected.weightedLayer(named: "fc1")!.bias!.value.scalars[0] - 0.35) < 1e-6)
        #expect(abs(corrected.weightedLayer(named: "fc2")!.bias!.value.scalars[0] - 1) < 1e-6)
        // The float weights stay in the corrected graph.
        #expect(corrected.weightedLayer(named: "fc1")!.weight.value.scalars == [0.5, 0.2])
    }

    @Test func analyticMeansFromBatchNorm() throws {
        // E[ReLU(N(0, 1))] = 1/√(2π); E[clamp(N(0, 1), 0, 1)] = φ(0) − φ(1) + 1 − Φ(1) = 0.315626; N(1, 0) clamps to 1.
        let norm = BatchNorm(weight: Tensor(shape: [3], scalars: [1, -1, 0]), bias: Tensor(shape: [3], scalars: [0, 0, 1]),
                             runningMean: Tensor(zeros: [3]), runningVariance: Tensor(shape: [3], repeating: 1))
        func graph(_ activation: any Layer) throws -> Graph {
            try Graph(inputShape: [3], nodes: [
                Node(name: "fc1", layer: Linear(weight: Tensor(shape: [3, 3], scalars: [1, 0, 0, 0, 1, 0, 0, 0, 1]), bias: nil),
                     inputs: ["input"]),
                Node(name: "bn", layer: norm, inputs: ["fc1"]),
                Node(name: "act", layer: activation, inputs: ["bn"]),
                Node(name: "fc2", layer: Linear(weight: Tensor(shape: [1, 3], scalars: [1, 1, 1]), bias: nil), inputs: ["act"]),
            ])
        }
        let relu = try graph(ReLU())
        let means = try #require(analyticInputMeans(original: relu, folded: try relu.foldingBatchNorm())["fc2"]?.first)
        let expected: [Float] = [1 / (2 * Float.pi).squareRoot(), 1 / (2 * Float.pi).squareRoot(), 1]
        for (m, e) in zip(means, expected) { #expect(abs(m - e) < 1e-6) }
        let clipped = try graph(ClampedReLU(cap: 1))
        let clippedMeans = try #require(analyticInputMeans(original: clipped, folded: try clipped.foldingBatchNorm())["fc2"]?.first)
        #expect(abs(clippedMeans[0] - 0.315626) < 1e-5 && abs(clippedMeans[2] - 1) < 1e-6)
        // fc1 reads the graph input: no BatchNorm describes it.
        #expect(analyticInputMeans(original: relu, folded: try relu.foldingBatchNorm())["fc1"] == nil)
    }
}

@Suite struct LearnedRoundingTests {
    // W = [[0.4, 0.45], [0.6, 0.3]] on a grid of step 1 (codes −1…1), inputs correlated: H = [[1, 0.9], [0.9, 1]].
    // Row 0: nearest (0, 0) leaves ΔW H ΔWᵀ = 0.6865; (0, 1) leaves 0.0665, the least of the four. Row 1: nearest
    // (1, 0) is already best (0.034). GPTQ by hand (H dampened by 0.01): U = chol(H⁻¹) = [[2.19253, −1.95378],
    // [0, 0.99496]]; row 0 rounds 0.4 to 0, error 0.4/2.19253 = 0.18244 moves 0.45 to 0.45 + 0.18244·1.95378 = 0.80644
    // → 1; row 1 rounds 0.6 to 1, error −0.18244 moves 0.3 to −0.05644 → 0.
    let weights: [Float] = [0.4, 0.45, 0.6, 0.3]
    let hessian: [Float] = [1, 0.9, 0.9, 1]

    @Test func gptqByHand() throws {
        #expect(try gptqCodes(weights: weights, rows: 2, depth: 2, hessian: hessian, scales: [1, 1], limit: 1) == [0, 1, 1, 0])
    }

    @Test func adaRoundByHand() throws {
        // λ = 0.1: on four weights the paper's λ = 0.01 is too weak against this H to drive h(V) to 0 or 1 (it ends
        // at 0.38, 0.47, 0.70, 0.20, which rounds like nearest); at 0.1 every h settles at the best codes.
        var options = AdaRoundOptions()
        options.regularization = 0.1
        #expect(try adaRoundCodes(weights: weights, rows: 2, depth: 2, hessian: hessian, scales: [1, 1], limit: 1,
                                  options: options) == [0, 1, 1, 0])
        // With uncorrelated inputs (H = I) the best rounding is the nearest one, and AdaRound finds it.
        #expect(try adaRoundCodes(weights: weights, rows: 2, depth: 2, hessian: [1, 0, 0, 1], scales: [1, 1], limit: 1)
            == [0, 0, 1, 0])
    }

    @Test func learnedRoundingLowersTheLayerError() throws {
        // A conv on correlated inputs, 3-bit per-channel weights: both methods reconstruct the layer's outputs on the
        // calibration data better than nearest rounding, on the same grid.
        let conv = Conv2d(weight: randomTensor([8, 3, 3, 3], seed: 21), bias: nil, padding: 1)
        let graph = try Graph(inputShape: [3, 8, 8], nodes: [Node(name: "conv", layer: conv, inputs: ["input"])])
        var x = randomInputs(16, shape: [3, 8, 8], seed: 22)
        x.withUnsafeMutableBufferPointer { p in for i in 1..<p.count { p[i] = 0.7 * p[i - 1] + 0.3 * p[i] } }
        let statistics = try #require(try graph.layerInputStatistics([x])["conv"])
        let nearest = try WeightScheme(bits: 3).quantize(conv.weight.value)
        func error(_ q: IntegerWeightTensor) throws -> Float {
            let quantized = try Graph(inputShape: [3, 8, 8], nodes: [
                Node(name: "conv", layer: Conv2d(weight: q.dequantized(), bias: nil, padding: 1), inputs: ["input"])])
            let a = graph.forward(x, mode: .inference), b = quantized.forward(x, mode: .inference)
            return zip(a.scalars, b.scalars).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }
        }
        let base = try error(nearest)
        for method in [WeightRounding.gptq, .adaround] {
            let rounded = try roundWeight(conv.weight.value, nearest: nearest, statistics: statistics, method: method)
            #expect(rounded.scales == nearest.scales && rounded.bits == 3)
            #expect(rounded.values.allSatisfy { abs($0) <= 3 })
            let e = try error(rounded)
            #expect(e < 0.8 * base, "\(method): \(e) against nearest \(base)")
        }
    }

    @Test func badArgumentsAreErrors() {
        expectShrinkError(.shape) {
            _ = try gptqCodes(weights: [1, 2], rows: 2, depth: 2, hessian: hessian, scales: [1, 1], limit: 1)
        }
        expectShrinkError(.value, containing: ["iterations"]) {
            _ = try adaRoundCodes(weights: weights, rows: 2, depth: 2, hessian: hessian, scales: [1, 1], limit: 1,
                                  options: AdaRoundOptions(iterations: 0))
        }
    }
}

@Suite struct ChannelClampTests {
    @Test func integerEngineCapsEachChannel() throws {
        // conv → per-channel clamp (caps 0.5, 2, +∞): the producer requantizes to the clamp's edge, the clamp caps codes.
        let clamp = try ChannelClamp(caps: Tensor(shape: [3], scalars: [0.5, 2, .infinity]))
        let graph = try Graph(inputShape: [2, 5, 5], nodes: [
            Node(name: "conv", layer: Conv2d(weight: randomTensor([3, 2, 3, 3], seed: 31), bias: randomTensor([3], seed: 32),
                                             padding: 1), inputs: ["input"]),
            Node(name: "clamp", layer: clamp, inputs: ["conv"]),
            Node(name: "pool", layer: GlobalAvgPool(), inputs: ["clamp"]),
        ])
        #expect(QuantizedEdges(folded: graph).fusedReLU == ["conv": "clamp"])
        let x = randomInputs(16, shape: [2, 5, 5], seed: 33)
        let calibration = try calibrate(graph, on: try Dataset(inputs: x, labels: [Int32](repeating: 0, count: 16),
                                                              classCount: 2), samples: 16)
        let quantized = try QuantizedGraph(folded: graph, calibration: calibration)
        let float = graph.forward(x, mode: .inference), integer = try quantized.forward(x)
        let step = quantized.edges["clamp"]!.scales[0]
        #expect(maxDifference(float, integer) <= 2 * step)
        // Every value of channel 0 stays at or below its cap on the engine too: the pooled mean cannot pass it.
        for n in 0..<16 { #expect(integer.scalars[n * 3] <= 0.5 + step) }
    }

    @Test func savesLoadsAndChecksCaps() throws {
        let graph = try twoLinears(ReLU6())
        let equalized = try equalizeCrossLayer(graph).graph
        let model = Model(architecture: "custom", graph: equalized, normalization: Normalization(mean: 0, std: 1),
                          provenance: [])
        let loaded = try Model.load(try model.safeTensors(), file: "memory")
        let x = randomInputs(8, shape: [2], seed: 5)
        #expect(loaded.graph.forward(x, mode: .inference).scalars == equalized.forward(x, mode: .inference).scalars)
        expectShrinkError(.value, containing: ["cap"]) { _ = try ChannelClamp(caps: Tensor(shape: [2], scalars: [1, -1])) }
    }
}

@Suite struct FixStageTests {
    @Test func searchTriesTheFixesInOrderAndReportsThem() throws {
        // An MLP whose 2-bit per-tensor weights cannot meet a tolerance of 0: the fix stage tries equalization, bias
        // correction, GPTQ and AdaRound in that order, each on the best try so far.
        let (graph, model) = try smallMLP(seed: 41)
        func labelled(_ x: Tensor) throws -> Dataset {
            let logits = graph.forward(x, mode: .inference)
            let labels = (0..<x.shape[0]).map { i -> Int32 in
                let row = Array(logits.scalars[(i * 4)..<(i * 4 + 4)])
                return Int32(row.firstIndex(of: row.max()!)!)
            }
            return try Dataset(inputs: x, labels: labels, classCount: 4)
        }
        let calibration = try labelled(randomInputs(64, shape: [8], seed: 44))
        let validation = try labelled(randomInputs(200, shape: [8], seed: 45))
        let search = try QuantizationSearch(observers: [.minmax], granularities: [.perTensor], weightBits: 2,
                                            maximumDrop: 0, equalization: nil, biasCorrection: nil, rounding: nil,
                                            adaRound: AdaRoundOptions(iterations: 200))
        let outcome = try quantizeAfterTraining(model, calibration: calibration, calibrationSamples: 64,
                                                validation: validation, search: search)
        let stages = outcome.attempts.map(\.stage)
        #expect(stages.first == "search")
        #expect(Array(stages.dropFirst().prefix(2)) == ["equalization", "bias-correction"] || outcome.withinTolerance)
        if !outcome.withinTolerance { #expect(stages == ["search", "equalization", "bias-correction", "rounding", "rounding"]) }
        let roundings = outcome.attempts.filter { $0.stage == "rounding" }.map(\.settings.rounding)
        #expect(roundings == Array([.gptq, .adaround].prefix(roundings.count)))
        // The chosen try is the most accurate one, and its fixes are in the settings and the JSON.
        #expect(outcome.chosenAccuracy == outcome.attempts.map(\.validationAccuracy).max())
        var fixed = outcome.chosen
        fixed.equalization = true
        fixed.biasCorrection = .analytic
        fixed.rounding = .adaround
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let json = String(decoding: try encoder.encode(fixed), as: UTF8.self)
        #expect(json.contains(#""bias_correction":"analytic""#) && json.contains(#""rounding":"adaround""#)
            && json.contains(#""equalization":true"#))
        #expect(try JSONDecoder().decode(QuantizationSettings.self, from: Data(json.utf8)) == fixed)
        #expect(outcome.attempts.allSatisfy { $0.seconds >= 0 })
        // Without a tolerance nothing is left to fix: one try.
        let one = try quantizeAfterTraining(model, calibration: calibration, calibrationSamples: 64, validation: validation,
                                            search: try QuantizationSearch(observers: [.minmax], equalization: nil,
                                                                           biasCorrection: nil, rounding: nil))
        #expect(one.attempts.count == 1)
    }
}

@Suite struct QuantizationReportTests {
    @Test func sqnrByHand() {
        // Signal 1² + 2² = 5, noise 0² + 1² = 1: 10 · log10 5 = 6.99 dB.
        #expect(abs(signalToQuantizationNoise([1, 2], [1, 1]) - 10 * log10(5)) < 1e-12)
        #expect(signalToQuantizationNoise([1, 2], [1, 2]) == .infinity)
    }

    @Test func reportsEveryEdgeAndLayerAndHonoursRangeOverrides() throws {
        let (_, model) = try smallMLP(seed: 51)
        let x = randomInputs(64, shape: [8], seed: 54)
        let data = try Dataset(inputs: x, labels: (0..<64).map { Int32($0 % 4) }, classCount: 4)
        let search = try QuantizationSearch(observers: [.minmax], edgeRanges: ["relu": 0...6])
        let outcome = try quantizeAfterTraining(model, calibration: data, calibrationSamples: 64, validation: data,
                                                search: search)
        guard case .integer(let quantized) = outcome.product else { Issue.record("expected an integer model"); return }
        #expect(quantized.graph.edges["relu"]?.scales == [Float(6) / 255])
        let report = try quantizationReport(outcome.product, calibration: x, validation: data)
        // fc1's ReLU is fused: its edge is listed once, as the ReLU's.
        #expect(report.edges.map(\.node) == ["input", "relu", "fc2"])
        #expect(report.layers.map(\.node) == ["fc1", "fc2"])
        #expect(report.edges.allSatisfy { ($0.sqnr_db ?? .infinity) > 10 })
        #expect(report.layers.allSatisfy { ($0.weight_sqnr_db ?? 0) > 30 && $0.weight_bits == 8 })
        // An edge that is not one, and a range that is empty, are errors naming them.
        expectShrinkError(.unknownName, containing: ["fc1", "relu"]) {
            _ = try quantizeAfterTraining(model, calibration: data, calibrationSamples: 64, validation: data,
                                          search: try QuantizationSearch(observers: [.minmax], edgeRanges: ["fc1": 0...1]))
        }
        expectShrinkError(.value, containing: ["relu", "min < max"]) {
            _ = try quantizeAfterTraining(model, calibration: data, calibrationSamples: 64, validation: data,
                                          search: try QuantizationSearch(observers: [.minmax], edgeRanges: ["relu": 1...1]))
        }
        // Weight-only: float activations, so layers only.
        let weightOnly = try quantizeAfterTraining(model, calibration: data, calibrationSamples: 64, validation: data,
                                                   search: try QuantizationSearch(observers: [.minmax], weightBits: 4,
                                                                                  activationBits: nil))
        let onlyLayers = try quantizationReport(weightOnly.product, calibration: x, validation: data)
        #expect(onlyLayers.edges.isEmpty && onlyLayers.layers.count == 2)
        #expect(onlyLayers.layers.allSatisfy { $0.weight_bits == 4 })
    }
}
