// Pruning: masks as pure functions of scores, the schedules' formulas, channel groups across residual adds, concat
// and depthwise convs, surgery that equals silencing the same channels in the dense net, and the pass keeping
// pruned weights at zero through fine-tuning.
import Datasets
import NeuralNetworks
import Pruning
import Tensors
import Testing

@Suite struct MaskTests {
    @Test func layerScopeRemovesTheLowestScoresTiesByPosition() throws {
        let a = Tensor(shape: [2, 3], scalars: [0.5, -.infinity, 0.1, 0.1, 2, 0.3])
        let b = Tensor(shape: [4], scalars: [1, 1, 1, 1])
        let masks = try pruningMasks(scores: [("a", a), ("b", b)], sparsity: 0.5, scope: .layer)
        // a: remove 3 — −∞ first, then the two 0.1s (the earlier first), leaving 0.5, 2 and 0.3? no: 3 of 6 go:
        // −∞ (index 1), 0.1 (index 2), 0.1 (index 3).
        #expect(masks["a"]!.scalars == [1, 0, 0, 0, 1, 1])
        // b: all tied; the first two positions go.
        #expect(masks["b"]!.scalars == [0, 0, 1, 1])
    }

    @Test func globalScopeUsesOneThreshold() throws {
        let a = Tensor(shape: [4], scalars: [0.9, 0.8, 0.7, 0.6])
        let b = Tensor(shape: [4], scalars: [0.1, 0.2, 0.3, 0.65])
        let masks = try pruningMasks(scores: [("a", a), ("b", b)], sparsity: 0.5, scope: .global)
        #expect(masks["a"]!.scalars == [1, 1, 1, 0])
        #expect(masks["b"]!.scalars == [0, 0, 0, 1])
        #expect(sparsity(of: [masks["a"]!, masks["b"]!]) == 0.5)
    }

    @Test func badTargetsAreRefused() {
        let a = Tensor(shape: [2], scalars: [1, 2])
        expectError(["[0, 1)", "1.0"]) { _ = try pruningMasks(scores: [("a", a)], sparsity: 1, scope: .layer) }
        expectError(["[0, 1)"]) { _ = try pruningMasks(scores: [("a", a)], sparsity: -0.1, scope: .global) }
        // 0.8 of 2 weights rounds to 2: the layer would be empty.
        expectError(["'a'", "at least one"]) { _ = try pruningMasks(scores: [("a", a)], sparsity: 0.8, scope: .layer) }
        let tiny = Tensor(shape: [1], scalars: [0.01]), big = Tensor(shape: [9], scalars: [Float](repeating: 5, count: 9))
        expectError(["'tiny'", "--scope layer"]) {
            _ = try pruningMasks(scores: [("tiny", tiny), ("big", big)], sparsity: 0.1, scope: .global)
        }
        expectError(["NaN"]) {
            _ = try pruningMasks(scores: [("a", Tensor(shape: [2], scalars: [.nan, 1]))], sparsity: 0.1, scope: .layer)
        }
    }

    @Test func scheduleFormulas() {
        #expect(PruningSchedule.gradualSparsity(step: 0, steps: 100, final: 0.9) == 0)
        #expect(PruningSchedule.gradualSparsity(step: 100, steps: 100, final: 0.9) == 0.9)
        #expect(abs(PruningSchedule.gradualSparsity(step: 50, steps: 100, final: 0.8) - 0.8 * (1 - 0.125)) < 1e-12)
        #expect(PruningSchedule.gradualSparsity(step: 150, steps: 100, final: 0.8) == 0.8)
        #expect(abs(PruningSchedule.iterativeSparsity(round: 5, rounds: 5, final: 0.95) - 0.95) < 1e-12)
        // Each round keeps the same share of what is left: (1 − s₁)² = 1 − s₂.
        let s1 = PruningSchedule.iterativeSparsity(round: 1, rounds: 2, final: 0.84)
        #expect(abs((1 - s1) * (1 - s1) - 0.16) < 1e-12)
    }

    @Test func namesAreChecked() {
        expectError(["unknown pruning score 'obs2'", "magnitude, taylor, bn-scale, random"]) {
            _ = try PruningScore(named: "obs2")
        }
        expectError(["unknown pruning structure"]) { _ = try PruningStructure(named: "blocks") }
        expectError(["unknown pruning scope"]) { _ = try PruningScope(named: "net") }
        expectError(["unknown pruning schedule"]) { _ = try PruningSchedule(named: "daily") }
    }
}

@Suite struct ChannelGroupTests {
    /// A resnet8 whose BatchNorms have seen data (non-trivial running statistics).
    private func trainedResNet() throws -> Graph {
        let graph = try Architecture.resnet8.makeGraph(inputShape: [1, 12, 12], classes: 4, seed: 5)
        let data = try images(16, shape: [1, 12, 12], classes: 4, seed: 1)
        for _ in 0..<3 { _ = graph.forward(try data.inputs, mode: .training) }
        return graph
    }

    @Test func residualAddsCoupleChannelsAcrossBranches() throws {
        let graph = try trainedResNet()
        let groups = try ChannelGroups(graph)
        var layers = [String: Int]()
        for group in groups.removableGroups { layers[group.layer.joined(separator: "+"), default: 0] += 1 }
        #expect(layers == ["conv1+layer1_conv2": 16, "layer1_conv1": 16, "layer2_conv1": 32,
                           "layer2_conv2+layer2_downsample_conv": 32, "layer3_conv1": 64,
                           "layer3_conv2+layer3_downsample_conv": 64])
        let plan = try FilterPruningPlan(graph, removing: 0.5, score: .magnitude, data: nil, seed: 0)
        let pruned = try plan.apply(to: graph)
        func conv(_ name: String) -> Conv2d { pruned.node(named: name)!.layer as! Conv2d }
        // Every coupled producer shrinks together, and every reader follows.
        #expect(conv("conv1").outputChannels == 8 && conv("layer1_conv2").outputChannels == 8)
        #expect(conv("layer1_conv1").inputChannels == 8 && conv("layer2_downsample_conv").inputChannels == 8)
        #expect(conv("layer2_conv2").outputChannels == 16 && conv("layer2_downsample_conv").outputChannels == 16)
        #expect((pruned.node(named: "bn1")!.layer as! BatchNorm).features == 8)
        #expect((pruned.node(named: "fc")!.layer as! Linear).inputFeatures == 32)
        // The removed channels were the same ones in both branches: the pruned net computes what the dense net
        // computes with those channels silenced.
        let x = try images(6, shape: [1, 12, 12], classes: 4, seed: 2).inputs
        let masked = try plan.masking(graph).forward(x, mode: .inference)
        let small = pruned.forward(x, mode: .inference)
        #expect((small - masked).maxAbsolute() < 1e-4 * max(1, masked.maxAbsolute()), "\((small - masked).maxAbsolute())")
        #expect(pruned.cost().macs < graph.cost().macs / 3)
    }

    @Test func depthwiseConvsFollowTheirInput() throws {
        let graph = try Architecture.mobilenetTiny.makeGraph(inputShape: [1, 12, 12], classes: 4, seed: 6)
        let data = try images(8, shape: [1, 12, 12], classes: 4, seed: 3)
        _ = graph.forward(try data.inputs, mode: .training)
        let plan = try FilterPruningPlan(graph, removing: 0.5, score: .bnScale, data: nil, seed: 0)
        let pruned = try plan.apply(to: graph)
        let dw = pruned.node(named: "block1_conv_dw")!.layer as! Conv2d
        #expect(dw.groups == 8 && dw.inputChannels == 8 && dw.outputChannels == 8)
        let x = try data.inputs.slice(rows: 0..<3)
        let masked = try plan.masking(graph).forward(x, mode: .inference)
        #expect((pruned.forward(x, mode: .inference) - masked).maxAbsolute() < 1e-4 * max(1, masked.maxAbsolute()))
    }

    @Test(arguments: [Architecture.mobilenetV3, .efficientnet])
    func squeezeExcitationCouplesTheGateWithTheChannelsItScales(architecture: Architecture) throws {
        let graph = try architecture.makeGraph(inputShape: [1, 12, 12], classes: 4, seed: 6)
        let data = try images(8, shape: [1, 12, 12], classes: 4, seed: 3)
        _ = graph.forward(try data.inputs, mode: .training)
        let plan = try FilterPruningPlan(graph, removing: 0.5, score: .magnitude, data: nil, seed: 0)
        let pruned = try plan.apply(to: graph)
        for node in pruned.nodes where node.layer is Multiply {
            // The block's features and its gate keep the same channels; fc1 reads them, fc2 writes them.
            let prefix = String(node.name.dropLast("_scale".count))
            let fc1 = pruned.node(named: "\(prefix)_fc1")!.layer as! Conv2d
            let fc2 = pruned.node(named: "\(prefix)_fc2")!.layer as! Conv2d
            let dense = graph.node(named: "\(prefix)_fc2")!.layer as! Conv2d
            let shapes = Dictionary(uniqueKeysWithValues: zip(pruned.nodes.map(\.name), pruned.outputShapes))
            #expect(fc2.outputChannels == shapes[node.inputs[0]]![0] && fc1.inputChannels == fc2.outputChannels)
            #expect(fc2.outputChannels < dense.outputChannels && fc1.outputChannels < dense.inputChannels)
        }
        // Silenced channels carry 0 through the gate (σ(0) ≠ 0, but it multiplies a silenced channel), so the pruned
        // network computes what the dense one computes with them silenced.
        let x = try data.inputs.slice(rows: 0..<3)
        let masked = try plan.masking(graph).forward(x, mode: .inference)
        let small = pruned.forward(x, mode: .inference)
        #expect((small - masked).maxAbsolute() < 1e-4 * max(1, masked.maxAbsolute()), "\((small - masked).maxAbsolute())")
        #expect(pruned.cost().macs < graph.cost().macs * 6 / 10)
    }

    @Test func concatAndFlattenMapChannels() throws {
        var g = SeededGenerator(seed: 8)
        var b = GraphBuilder(inputShape: [1, 6, 6])
        try b.add("left", Conv2d(inputChannels: 1, outputChannels: 4, kernelSize: 3, padding: 1, generator: &g))
        try b.add("right", Conv2d(inputChannels: 1, outputChannels: 2, kernelSize: 1, generator: &g), inputs: ["input"])
        try b.add("cat", Concat(), inputs: ["left", "right"])
        try b.add("flat", Flatten())
        try b.add("fc", Linear(inputFeatures: 6 * 36, outputFeatures: 3, generator: &g))
        let graph = try b.build()
        let plan = try FilterPruningPlan(graph, removing: 0.5, score: .magnitude, data: nil, seed: 0)
        let pruned = try plan.apply(to: graph)
        #expect((pruned.node(named: "fc")!.layer as! Linear).inputFeatures == 3 * 36)
        let x = try images(2, shape: [1, 6, 6], classes: 3, seed: 4).inputs
        let masked = try plan.masking(graph).forward(x, mode: .inference)
        #expect((pruned.forward(x, mode: .inference) - masked).maxAbsolute() < 1e-5 * max(1, masked.maxAbsolute()))
    }

    @Test func emptyingALayerAndUnknownStructuresAreRefused() throws {
        let graph = try Architecture.fmnistSmall.makeGraph(inputShape: [1, 12, 12], classes: 4, seed: 1)
        // conv1 has 8 channels: 0.95 keeps round(0.4) = 0.
        expectError(["would empty", "conv1"]) {
            _ = try FilterPruningPlan(graph, removing: 0.95, score: .magnitude, data: nil, seed: 0)
        }
        expectError(["BatchNorm", "none"]) {
            _ = try FilterPruningPlan(graph, removing: 0.5, score: .bnScale, data: nil, seed: 0)
        }
        var g = SeededGenerator(seed: 2)
        var b = GraphBuilder(inputShape: [4, 6, 6])
        try b.add("grouped", Conv2d(inputChannels: 4, outputChannels: 4, kernelSize: 3, groups: 2, generator: &g))
        try b.add("flat", Flatten())
        try b.add("fc", Linear(inputFeatures: 4 * 16, outputFeatures: 2, generator: &g))
        expectError(["'grouped'", "depthwise"]) { _ = try ChannelGroups(try b.build()) }
    }
}

@Suite(.serialized) struct PruningPassTests {
    @Test func unstructuredPruningKeepsZerosThroughFineTuning() throws {
        let dense = try model(.fmnistSmall)
        let before = try dense.safeTensors().encoded()
        let train = try images(96, shape: [1, 12, 12], classes: 4, seed: 10)
        for schedule in [PruningSchedule.oneShot, .iterative, .gradual] {
            var settings = PruningSettings(sparsity: 0.8)
            settings.schedule = schedule
            settings.rounds = 3
            settings.finetuneEpochs = 2
            settings.batchSize = 16
            var heard: [PruningStep] = []
            let outcome = try prune(dense, train: train, validation: train.prefix(32), settings: settings) { heard.append($0) }
            let weights = prunableWeights(outcome.model.graph)
            // Global magnitude: exactly round(0.8 · total) zeros, no masks left, the original model untouched.
            let total = weights.reduce(0) { $0 + $1.parameter.value.count }
            let zeros = weights.reduce(0) { $0 + $1.parameter.value.scalars.filter { $0 == 0 }.count }
            #expect(zeros == Int((Double(total) * 0.8).rounded()), "\(schedule): \(zeros) of \(total)")
            #expect(weights.allSatisfy { $0.parameter.mask == nil })
            #expect(try dense.safeTensors().encoded() == before)
            #expect(heard.count == outcome.steps.count && !heard.isEmpty)
            #expect(outcome.steps.count == (schedule == .iterative ? 3 : 1))
            #expect(abs(outcome.steps.last!.sparsity - 0.8) < 1e-3)
            #expect(outcome.model.provenance.last?.settings["schedule"] == schedule.rawValue)
        }
    }

    @Test func layerScopeAndRandomScores() throws {
        let dense = try model(.fmnistSmall)
        let train = try images(48, shape: [1, 12, 12], classes: 4, seed: 11)
        var settings = PruningSettings(sparsity: 0.5)
        settings.scope = .layer
        settings.score = .random
        settings.finetuneEpochs = 0
        let a = try prune(dense, train: train, validation: nil, settings: settings)
        for (name, value) in a.layerSparsity {
            let count = try #require(dense.graph.weightedLayer(named: name)).weight.value.count
            #expect(abs(value - Double(Int((Double(count) * 0.5).rounded())) / Double(count)) < 1e-9, "\(name)")
        }
        // The same seed prunes the same weights.
        let b = try prune(dense, train: train, validation: nil, settings: settings)
        #expect(try a.model.safeTensors().encoded() == b.model.safeTensors().encoded())
    }

    @Test func taylorScoresLeaveTheModelAsItWas() throws {
        let graph = try Architecture.resnet8.makeGraph(inputShape: [1, 12, 12], classes: 4, seed: 2)
        let train = try images(32, shape: [1, 12, 12], classes: 4, seed: 12)
        let buffers = graph.parameters.filter { !$0.parameter.isTrainable }.map(\.parameter.value)
        let scores = try weightScores(graph, score: .taylor, data: ScoringData(dataset: train, batches: 2, batchSize: 16),
                                      seed: 0)
        #expect(scores.count == prunableWeights(graph).count)
        #expect(scores.allSatisfy { $0.scores.scalars.allSatisfy { $0 >= 0 && $0.isFinite } })
        #expect(scores.contains { $0.scores.scalars.contains { $0 > 0 } })
        #expect(graph.parameters.filter { !$0.parameter.isTrainable }.map(\.parameter.value) == buffers)
        #expect(graph.trainableParameters.allSatisfy { $0.gradient.scalars.allSatisfy { $0 == 0 } })
    }

    @Test func filterPruningIsSmallerAndRuns() throws {
        let dense = try model(.fmnistCNN)
        let train = try images(64, shape: [1, 12, 12], classes: 4, seed: 13)
        var settings = PruningSettings(sparsity: 0.5)
        settings.structure = .filter
        settings.finetuneEpochs = 1
        settings.batchSize = 16
        let outcome = try prune(dense, train: train, validation: train.prefix(16), settings: settings)
        let graph = outcome.model.graph
        #expect((graph.node(named: "conv1")!.layer as! Conv2d).outputChannels == 16)
        #expect((graph.node(named: "conv2")!.layer as! Conv2d).outputChannels == 32)
        #expect((graph.node(named: "fc1")!.layer as! Linear).outputFeatures == 64)
        #expect((graph.node(named: "fc2")!.layer as! Linear).outputFeatures == 4)
        #expect(graph.cost().macs * 3 < dense.graph.cost().macs)
        // It saves and loads like any model.
        let reloaded = try Model.load(try outcome.model.safeTensors(), file: "pruned")
        #expect(try reloaded.graph.forward(train.inputs, mode: .inference) == graph.forward(train.inputs, mode: .inference))
        var gradual = settings
        gradual.schedule = .gradual
        expectError(["gradual", "filter"]) { _ = try prune(dense, train: train, validation: nil, settings: gradual) }
    }

    @Test func modelsWithoutPrunableLayersAreRefused() throws {
        var b = GraphBuilder(inputShape: [4])
        try b.add("flat", Flatten())
        let model = Model(architecture: "none", graph: try b.build(), normalization: Normalization(mean: 0, std: 1))
        let train = try images(4, shape: [4], classes: 4, seed: 1)
        expectError(["no conv or linear layer"]) {
            _ = try prune(model, train: train, validation: nil, settings: PruningSettings(sparsity: 0.5))
        }
    }
}

@Suite struct SensitivityTests {
    @Test func eachLayerAloneAndTheModelLeftAsItWas() throws {
        let dense = try model(.fmnistSmall)
        let data = try images(40, shape: [1, 12, 12], classes: 4, seed: 20)
        let before = try dense.safeTensors().encoded()
        let curves = try sensitivity(of: dense, on: data, sparsities: [0, 0.5, 0.9])
        #expect(curves.map(\.layer) == prunableWeights(dense.graph).map(\.node))
        let baseline = try evaluate(dense.graph, on: data).top1
        #expect(curves.allSatisfy { $0.points.map(\.sparsity) == [0, 0.5, 0.9] && $0.points[0].accuracy == baseline })
        #expect(try dense.safeTensors().encoded() == before)
        // Removing 90% of the last layer's weights changes the logits, so some curve must move.
        #expect(curves.contains { $0.points[2].accuracy != baseline })
        expectError(["[0, 1)"]) { _ = try sensitivity(of: dense, on: data, sparsities: [0.5, 1]) }
        expectError(["at least one sparsity"]) { _ = try sensitivity(of: dense, on: data, sparsities: []) }
    }
}

@Suite struct BlockPruningTests {
    @Test func identityBlocksAreFoundAndRemoved() throws {
        let graph = try Architecture.resnet8.makeGraph(inputShape: [1, 12, 12], classes: 4, seed: 7)
        let blocks = residualBlocks(graph)
        // Only layer1 has an identity shortcut; layer2 and layer3 widen and stride through a projection.
        #expect(blocks.map(\.add) == ["layer1_add"])
        #expect(blocks.first?.input == "relu")
        #expect(blocks.first?.branch == ["layer1_conv1", "layer1_bn1", "layer1_relu1", "layer1_conv2", "layer1_bn2"])
        let smaller = try removing(blocks, from: graph)
        #expect(smaller.node(named: "layer1_conv1") == nil && smaller.node(named: "layer1_add") == nil)
        #expect(smaller.node(named: "layer1_relu2")?.inputs == ["relu"])
        // Without the block, the network computes relu2(relu(x)) = relu(x) where the block was: the same as the
        // dense network with the branch's last BatchNorm silenced (γ = β = 0 gives F(x) = 0).
        let bn = graph.node(named: "layer1_bn2")!.layer as! BatchNorm
        bn.weight.value = Tensor(zeros: bn.weight.value.shape)
        bn.bias.value = Tensor(zeros: bn.bias.value.shape)
        let x = try images(4, shape: [1, 12, 12], classes: 4, seed: 3).inputs
        let expected = graph.forward(x, mode: .inference)
        #expect((smaller.forward(x, mode: .inference) - expected).maxAbsolute() < 1e-5 * max(1, expected.maxAbsolute()))
    }

    @Test func layerPruningAsAPass() throws {
        let dense = try model(.resnet8)
        let train = try images(32, shape: [1, 12, 12], classes: 4, seed: 30)
        var settings = PruningSettings(sparsity: 0.5)
        settings.structure = .layer
        settings.finetuneEpochs = 1
        settings.batchSize = 16
        let outcome = try prune(dense, train: train, validation: train.prefix(8), settings: settings)
        #expect(outcome.model.graph.nodes.count == dense.graph.nodes.count - 6)
        #expect(outcome.model.provenance.last?.settings["removed_blocks"] == "layer1_add")
        settings.schedule = .iterative
        expectError(["one-shot"]) { _ = try prune(dense, train: train, validation: nil, settings: settings) }
        settings.schedule = .oneShot
        settings.score = .taylor
        expectError(["taylor"]) { _ = try prune(dense, train: train, validation: nil, settings: settings) }
        settings.score = .magnitude
        expectError(["no residual block"]) {
            _ = try prune(try model(.fmnistSmall), train: train, validation: nil, settings: settings)
        }
    }
}

@Suite struct SecondOrderTests {
    /// ‖X (W − W′)ᵀ‖² on the calibration inputs: what OBS minimises.
    private func reconstructionError(_ x: [Float], n: Int, _ a: [Float], _ b: [Float], rows: Int, columns: Int) -> Double {
        var total = 0.0
        for s in 0..<n { for r in 0..<rows {
            var d = 0.0
            for c in 0..<columns { d += Double(x[s * columns + c]) * Double(a[r * columns + c] - b[r * columns + c]) }
            total += d * d
        } }
        return total
    }

    @Test func obsKeepsTheLayerOutputBetterThanMagnitude() throws {
        var g = SeededGenerator(seed: 40)
        let (n, rows, columns) = (200, 6, 24)
        // Correlated inputs (a shared component), where compensation pays off.
        var x = [Float]()
        for _ in 0..<n {
            let shared = g.nextNormal()
            for c in 0..<columns { x.append(shared * Float(c % 3) + 0.3 * g.nextNormal()) }
        }
        let w = (0..<(rows * columns)).map { _ in g.nextNormal() }
        var h = [Float](repeating: 0, count: columns * columns)
        for s in 0..<n { for i in 0..<columns { for j in 0..<columns { h[i * columns + j] += x[s * columns + i] * x[s * columns + j] / Float(n) } } }
        let pruned = try secondOrderPrune(weights: w, rows: rows, columns: columns, hessian: h, sparsity: 0.5, blockSize: 8)
        #expect(pruned.filter { $0 == 0 }.count == rows * columns / 2)
        let magnitude = try pruningMasks(scores: [("w", Tensor(shape: [rows, columns], scalars: w.map(abs)))], sparsity: 0.5,
                                         scope: .layer)["w"]!.scalars
        let byMagnitude = zip(w, magnitude).map { $0 * $1 }
        let obsError = reconstructionError(x, n: n, w, pruned, rows: rows, columns: columns)
        let magnitudeError = reconstructionError(x, n: n, w, byMagnitude, rows: rows, columns: columns)
        #expect(obsError < 0.8 * magnitudeError, "OBS \(obsError), magnitude \(magnitudeError)")
        // Weights already pruned stay pruned.
        var keep = [Float](repeating: 1, count: rows * columns)
        keep[5] = 0; keep[30] = 0
        let again = try secondOrderPrune(weights: w, rows: rows, columns: columns, hessian: h, sparsity: 0.25,
                                         keepPruned: keep, blockSize: 8)
        #expect(again[5] == 0 && again[30] == 0)
        expectError(["do not fit"]) {
            _ = try secondOrderPrune(weights: w, rows: rows, columns: columns, hessian: [1], sparsity: 0.5)
        }
    }

    @Test func obsAsAPassPrunesEachLayerToItsShare() throws {
        let dense = try model(.fmnistSmall)
        let train = try images(64, shape: [1, 12, 12], classes: 4, seed: 41)
        var settings = PruningSettings(sparsity: 0.6)
        settings.score = .obs
        settings.scope = .layer
        settings.finetuneEpochs = 0
        settings.scoreBatches = 2
        settings.batchSize = 32
        let outcome = try prune(dense, train: train, validation: nil, settings: settings)
        for (name, value) in outcome.layerSparsity {
            let count = prunableWeights(outcome.model.graph).first { $0.node == name }!.parameter.value.count
            // Exactly round(0.6 · entries) per block of 128 columns, so within a few weights of 60% per layer.
            #expect(abs(value - 0.6) < 3.0 / Double(count) + 0.01, "\(name): \(value)")
        }
        settings.schedule = .gradual
        settings.finetuneEpochs = 1
        expectError(["gradual"]) { _ = try prune(dense, train: train, validation: nil, settings: settings) }
    }
}

@Suite struct ReconstructionTests {
    @Test func leastSquaresRefitBringsTheOutputsBackTowardsTheDenseNet() throws {
        let graph = try Architecture.fmnistCNN.makeGraph(inputShape: [1, 12, 12], classes: 4, seed: 9)
        let data = try images(96, shape: [1, 12, 12], classes: 4, seed: 50)
        let plan = try FilterPruningPlan(graph, removing: 0.5, score: .magnitude, data: nil, seed: 0)
        let plain = try plan.apply(to: graph), refitted = try plan.apply(to: graph)
        let names = try reconstructAfterFilterPruning(dense: graph, pruned: refitted, plan: plan,
                                                      data: ScoringData(dataset: data, batches: 3, batchSize: 32))
        // conv1 keeps its input (the image); conv2, fc1 and fc2 lost input channels.
        #expect(names == ["conv2", "fc1", "fc2"])
        let x = try data.inputs
        let dense = graph.forward(x, mode: .inference)
        func error(_ g: Graph) -> Float { (g.forward(x, mode: .inference) - dense).maxAbsolute() }
        #expect(error(refitted) < 0.7 * error(plain), "refitted \(error(refitted)), plain \(error(plain))")
        var settings = PruningSettings(sparsity: 0.5)
        settings.reconstruct = true
        expectError(["filter"]) { try settings.validate() }
    }
}
