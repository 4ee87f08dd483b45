// The umbrella module: `import Shrink` alone reaches every public module, as the library docs promise.
import Foundation
import Shrink
import Testing

@Suite struct UmbrellaTests {
    @Test func theLibraryExampleRunsWithOneImport() throws {
        var generator = SeededGenerator(seed: 1)
        var x: [Float] = [], y: [Int32] = []
        for i in 0..<120 {
            let label = i % 2
            x.append(contentsOf: (0..<4).map { d in generator.nextNormal() * 0.3 + (d == label ? 1.5 : 0) })
            y.append(Int32(label))
        }
        let data = try Dataset(inputs: Tensor(shape: [120, 4], scalars: x), labels: y, classCount: 2)
        let graph = try Architecture.mlp.makeGraph(inputShape: data.sampleShape, classes: 2, seed: 0)
        let model = Model(architecture: "mlp", graph: graph, normalization: Normalization.fit(try data.inputs))
        let prepared = try model.prepare(data)
        var settings = TrainingConfiguration()
        settings.epochs = 3
        settings.batchSize = 16
        _ = try Trainer(graph: graph, configuration: settings).fit(train: prepared)
        #expect(try evaluate(graph, on: prepared).top1 > 0.9)
        var table = TextTable(headers: ["parameters"])
        table.append([groupedThousands(graph.cost().parameters)])
        #expect(table.description.contains("34,434"))  // (4·256+256) + (256·128+128) + (128·2+2)
        let path = NSTemporaryDirectory() + "umbrella-\(UUID().uuidString).safetensors"
        try model.save(to: path)
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(try Model.load(from: path).graph.forward(prepared.inputs, mode: .inference)
            == graph.forward(prepared.inputs, mode: .inference))
    }

    @Test func thePruningExampleRunsWithOneImport() throws {
        // The calls of docs/library.md's "Prune a model", on a small data set.
        var generator = SeededGenerator(seed: 2)
        var x: [Float] = [], y: [Int32] = []
        for i in 0..<160 {
            let label = i % 2
            x.append(contentsOf: (0..<4).map { d in generator.nextNormal() * 0.3 + (d == label ? 1.5 : 0) })
            y.append(Int32(label))
        }
        let train = try Dataset(inputs: Tensor(shape: [160, 4], scalars: x), labels: y, classCount: 2)
        let model = Model(architecture: "mlp", graph: try Architecture.mlp.makeGraph(inputShape: [4], classes: 2, seed: 0),
                          normalization: Normalization(mean: 0, std: 1))
        let fitting = train.rows(0..<(train.count - 40)), validation = train.rows((train.count - 40)..<train.count)
        var settings = PruningSettings(sparsity: 0.9)
        settings.schedule = .iterative
        settings.rounds = 2
        var rounds = 0
        let outcome = try prune(model, train: fitting, validation: validation, settings: settings) { _ in rounds += 1 }
        #expect(rounds == 2)
        let path = NSTemporaryDirectory() + "umbrella-pruned-\(UUID().uuidString).safetensors"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try outcome.model.save(to: path, sparse: true)
        let loaded = try Model.load(from: path)
        #expect(loaded.graph.useSparseKernels() == ["fc1", "fc2", "fc3"].filter { name in
            (loaded.graph.node(named: name)!.layer as! Linear).useSparseKernel(maximumDensity: Linear.sparseKernelDensity)
        })
        var filters = PruningSettings(sparsity: 0.5)
        filters.structure = .filter
        let thinner = try prune(model, train: fitting, validation: validation, settings: filters).model
        #expect(thinner.graph.cost().macs < model.graph.cost().macs)
    }
}
