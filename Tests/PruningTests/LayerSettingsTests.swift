// Per-layer pruning settings by node name: a layer's own sparsity is exactly what it loses, in both scopes and in
// filter pruning; excluded layers stay dense; coupled producers must agree; unknown names are refused naming the node
// and the prunable ones; the JSON of settings without them is what it was.
import Datasets
import Foundation
import NeuralNetworks
import Pruning
import Tensors
import Testing

private func zeros(_ graph: Graph, _ node: String) -> Int {
    graph.weightedLayer(named: node)!.weight.value.scalars.filter { $0 == 0 }.count
}

@Suite(.serialized) struct LayerSettingsTests {
    @Test(arguments: [PruningScope.layer, .global])
    func ownSparsityAndExcludedLayers(scope: PruningScope) throws {
        let dense = try model(.fmnistSmall)   // conv1 72, conv2 1152, fc1 4608, fc2 128 weights
        let train = try images(32, shape: [1, 12, 12], classes: 4, seed: 30)
        var settings = PruningSettings(sparsity: 0.5)
        settings.scope = scope
        settings.finetuneEpochs = 0
        settings.layerSparsity = ["conv1": 0.25, "fc1": 0.9]
        settings.excludedLayers = ["fc2"]
        let outcome = try prune(dense, train: train, validation: nil, settings: settings)
        let graph = outcome.model.graph
        #expect(zeros(graph, "conv1") == 18)     // round(72 · 0.25)
        #expect(zeros(graph, "fc1") == 4147)     // round(4608 · 0.9) = round(4147.2)
        #expect(zeros(graph, "conv2") == 576)    // alone in the shared target (either scope): round(1152 · 0.5)
        #expect(graph.weightedLayer(named: "fc2")!.weight.value == dense.graph.weightedLayer(named: "fc2")!.weight.value)
        let reported = Dictionary(uniqueKeysWithValues: outcome.layerSparsity.map { ($0.name, $0.sparsity) })
        #expect(reported["fc2"] == 0 && reported["conv1"] == 0.25)
        #expect(outcome.model.provenance.last?.settings["layer_sparsity"] == "conv1:0.25,fc1:0.9")
        #expect(outcome.model.provenance.last?.settings["excluded_layers"] == "fc2")
    }

    @Test func theGlobalThresholdIsSharedByTheOtherLayersOnly() throws {
        let dense = try model(.fmnistSmall)
        let train = try images(16, shape: [1, 12, 12], classes: 4, seed: 31)
        var settings = PruningSettings(sparsity: 0.6)
        settings.finetuneEpochs = 0
        settings.layerSparsity = ["conv1": 0]   // sparsity 0: left exactly as it was
        let graph = try prune(dense, train: train, validation: nil, settings: settings).model.graph
        #expect(graph.weightedLayer(named: "conv1")!.weight.value == dense.graph.weightedLayer(named: "conv1")!.weight.value)
        // conv2, fc1 and fc2 share one magnitude threshold: round(0.6 · 5888) = 3533 zeros among them.
        #expect(zeros(graph, "conv2") + zeros(graph, "fc1") + zeros(graph, "fc2") == 3533)
        let rest = ["conv2", "fc1", "fc2"].flatMap { dense.graph.weightedLayer(named: $0)!.weight.value.scalars.map(abs) }
        let threshold = rest.sorted()[3532]
        for node in ["conv2", "fc1", "fc2"] {
            let before = dense.graph.weightedLayer(named: node)!.weight.value.scalars
            let after = graph.weightedLayer(named: node)!.weight.value.scalars
            #expect(zip(before, after).allSatisfy { abs($0) <= threshold ? $1 == 0 : $1 == $0 }, "\(node)")
        }
    }

    @Test func filterPruningPerLayer() throws {
        let dense = try model(.fmnistCNN)   // conv1 32, conv2 64, fc1 128 channels; fc2 is the output
        let train = try images(16, shape: [1, 12, 12], classes: 4, seed: 32)
        var settings = PruningSettings(sparsity: 0.5)
        settings.structure = .filter
        settings.finetuneEpochs = 0
        settings.layerSparsity = ["conv1": 0.25]
        settings.excludedLayers = ["fc1"]
        let graph = try prune(dense, train: train, validation: nil, settings: settings).model.graph
        #expect((graph.node(named: "conv1")!.layer as! Conv2d).outputChannels == 24)
        #expect((graph.node(named: "conv2")!.layer as! Conv2d).outputChannels == 32)
        #expect((graph.node(named: "fc1")!.layer as! Linear).outputFeatures == 128)
        // Iterative rounds reach each layer's own target.
        settings.schedule = .iterative
        settings.rounds = 2
        let iterative = try prune(dense, train: train, validation: nil, settings: settings)
        #expect((iterative.model.graph.node(named: "conv1")!.layer as! Conv2d).outputChannels == 24)
        #expect(iterative.steps.count == 2)
    }

    @Test func coupledProducersMustAgree() throws {
        let dense = try model(.resnet8)
        let train = try images(16, shape: [1, 12, 12], classes: 4, seed: 33)
        var settings = PruningSettings(sparsity: 0.5)
        settings.structure = .filter
        settings.finetuneEpochs = 0
        // conv1 and layer1_conv2 meet at a residual add: naming one sets both (16 channels → 12).
        settings.layerSparsity = ["conv1": 0.25]
        let graph = try prune(dense, train: train, validation: nil, settings: settings).model.graph
        #expect((graph.node(named: "conv1")!.layer as! Conv2d).outputChannels == 12)
        #expect((graph.node(named: "layer1_conv2")!.layer as! Conv2d).outputChannels == 12)
        #expect((graph.node(named: "layer1_conv1")!.layer as! Conv2d).outputChannels == 8)
        settings.layerSparsity = ["conv1": 0.25, "layer1_conv2": 0.5]
        expectError(["'conv1' and 'layer1_conv2'", "coupled", "0.25 and 0.5"]) {
            _ = try prune(dense, train: train, validation: nil, settings: settings)
        }
        settings.layerSparsity = ["conv1": 0.25]
        settings.excludedLayers = ["layer1_conv2"]
        expectError(["coupled", "excluded"]) { _ = try prune(dense, train: train, validation: nil, settings: settings) }
    }

    @Test func unknownNamesAndBadTargetsAreRefused() throws {
        let dense = try model(.fmnistSmall)
        let train = try images(16, shape: [1, 12, 12], classes: 4, seed: 34)
        var settings = PruningSettings(sparsity: 0.5)
        settings.finetuneEpochs = 0
        settings.layerSparsity = ["relu1": 0.5]
        expectError(["'relu1'", "conv1, conv2, fc1, fc2"]) {
            _ = try prune(dense, train: train, validation: nil, settings: settings)
        }
        // Filter pruning cannot remove the output layer's channels: fc2 is not among its layers.
        settings.layerSparsity = [:]
        settings.structure = .filter
        settings.excludedLayers = ["fc2"]
        expectError(["'fc2'", "filter pruning", "conv1, conv2, fc1"]) {
            _ = try prune(dense, train: train, validation: nil, settings: settings)
        }
        settings.structure = .unstructured
        settings.excludedLayers = []
        settings.layerSparsity = ["conv1": 1]
        expectError(["'conv1'", "[0, 1)", "1.0"]) { try settings.validate() }
        settings.layerSparsity = ["conv1": 0.5]
        settings.excludedLayers = ["conv1"]
        expectError(["'conv1'", "excluded", "choose one"]) { try settings.validate() }
        // The pure mask function checks names too.
        let scores = [("a", Tensor(shape: [2], scalars: [1, 2]))]
        let error = #expect(throws: ShrinkError.self) {
            _ = try pruningMasks(scores: scores, sparsity: 0.5, scope: .global, excluded: ["b"])
        }
        #expect(error?.kind == .unknownName && error?.message.contains("'b'") == true)
    }

    @Test func theJSONOfSettingsWithoutLayerSettingsIsUnchanged() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var settings = PruningSettings(sparsity: 0.5)
        #expect(String(decoding: try encoder.encode(settings), as: UTF8.self) == #"{"batch_size":128,"finetune_epochs":1,"#
            + #""learning_rate":0.01,"reconstruct":false,"rounds":5,"schedule":"one-shot","scope":"global","#
            + #""score":"magnitude","score_batches":8,"seed":0,"sparsity":0.5,"structure":"unstructured"}"#)
        settings.layerSparsity = ["fc1": 0.9]
        settings.excludedLayers = ["fc2"]
        let json = try encoder.encode(settings)
        #expect(String(decoding: json, as: UTF8.self).contains(#""excluded_layers":["fc2"],"finetune_epochs":1,"layer_sparsity":{"fc1":0.9}"#))
        let decoded = try JSONDecoder().decode(PruningSettings.self, from: json)
        #expect(decoded.layerSparsity == ["fc1": 0.9] && decoded.excludedLayers == ["fc2"] && decoded.importance == nil)
    }
}
