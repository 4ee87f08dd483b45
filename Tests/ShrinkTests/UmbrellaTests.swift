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
        let model = Model(architecture: "mlp", graph: graph, normalization: Normalization.fit(data.inputs))
        let prepared = try model.prepare(data)
        var settings = TrainingConfiguration()
        settings.epochs = 3
        settings.batchSize = 16
        _ = Trainer(graph: graph, configuration: settings).fit(train: prepared)
        #expect(evaluate(graph, on: prepared).top1 > 0.9)
        var table = TextTable(headers: ["parameters"])
        table.append([groupedThousands(graph.cost().parameters)])
        #expect(table.description.contains("34,434"))  // (4·256+256) + (256·128+128) + (128·2+2)
        let path = NSTemporaryDirectory() + "umbrella-\(UUID().uuidString).safetensors"
        try model.save(to: path)
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(try Model.load(from: path).graph.forward(prepared.inputs, mode: .inference)
            == graph.forward(prepared.inputs, mode: .inference))
    }
}
