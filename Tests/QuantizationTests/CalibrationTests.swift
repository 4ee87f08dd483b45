// Calibration: one observer per edge, ranges that match the activations, clear errors for empty or NaN input.
import Datasets
import NeuralNetworks
import Quantization
import Tensors
import Testing

private func data(_ values: [Float], rows: Int) throws -> Dataset {
    try Dataset(inputs: Tensor(shape: [rows, values.count / rows], scalars: values),
                labels: [Int32](repeating: 0, count: rows), classCount: 2)
}

@Suite struct CalibrationTests {
    @Test func everyEdgeGetsAnObserverWithTheActivationRange() throws {
        // fc: y = 2x − 1 on one feature; relu clips at 0. Inputs 0…1 → fc output −1…1, relu output 0…1.
        let fc = Linear(weight: Tensor(shape: [1, 1], scalars: [2]), bias: Tensor(shape: [1], scalars: [-1]))
        let graph = try Graph(inputShape: [1], nodes: [Node(name: "fc", layer: fc, inputs: ["input"]),
                                                       Node(name: "relu", layer: ReLU(), inputs: ["fc"])])
        let dataset = try data((0...10).map { Float($0) / 10 }, rows: 11)
        let result = try calibrate(graph, on: dataset, samples: 100, kind: .minmax, batchSize: 4)
        #expect(result.samples == 11)
        #expect(Set(result.observers.keys) == ["input", "fc", "relu"])
        let fcParameters = try result.observers["fc"]!.computeParameters(bits: 8, signed: false, symmetric: false)
        #expect(abs(fcParameters.scales[0] - 2 / 255) < 1e-6)       // range [−1, 1]
        #expect(fcParameters.zeroPoints[0] == 128)                    // round(255 − 1·255/2) = round(127.5) = 128
        let reluParameters = try result.observers["relu"]!.computeParameters(bits: 8, signed: false, symmetric: false)
        #expect(abs(reluParameters.scales[0] - 1 / 255) < 1e-6)     // range [0, 1]
        #expect(reluParameters.zeroPoints[0] == 0)
    }

    @Test func onlyTheFirstSamplesAreUsed() throws {
        let graph = try Graph(inputShape: [1], nodes: [Node(name: "relu", layer: ReLU(), inputs: ["input"])])
        let dataset = try data([1, 2, 100], rows: 3)
        let result = try calibrate(graph, on: dataset, samples: 2)
        let parameters = try result.observers["input"]!.computeParameters(bits: 8, signed: false, symmetric: false)
        #expect(abs(parameters.scales[0] - 2 / 255) < 1e-6)         // 100 was never seen
    }

    @Test func emptyCalibrationIsAnError() throws {
        let graph = try Graph(inputShape: [1], nodes: [Node(name: "relu", layer: ReLU(), inputs: ["input"])])
        #expect(throws: ShrinkError.self) { try calibrate(graph, on: try data([1], rows: 1), samples: 0) }
    }

    @Test func nanActivationsNameTheNode() throws {
        // A weight of +∞ turns finite inputs into ∞ · 0 = NaN or ∞ at the first node.
        let fc = Linear(weight: Tensor(shape: [1, 1], scalars: [.infinity]), bias: nil)
        let graph = try Graph(inputShape: [1], nodes: [Node(name: "fc", layer: fc, inputs: ["input"])])
        do {
            _ = try calibrate(graph, on: try data([0, 1], rows: 2), samples: 2)
            Issue.record("calibration accepted non-finite activations")
        } catch let error as ShrinkError {
            #expect(error.message.contains("node 'fc'"))
        }
    }
}
