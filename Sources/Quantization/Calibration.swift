// Calibration: runs calibration samples through the float graph and lets one observer per edge record the
// activations flowing there (the graph input and every node's output), as step 1 of post-training quantization.
// The samples must come from the training split, never the test split; `calibrate` cannot tell, so callers choose.
import Datasets
import NeuralNetworks
import Tensors

/// The activation statistics of one calibration run: an observer per edge, keyed by node name (`input` for the
/// graph input).
public struct CalibrationResult {
    /// The observer that saw each edge's values.
    public var observers: [String: any Observer]
    /// How many samples went through the graph.
    public var samples: Int
}

/// Runs the first `samples` inputs of `dataset` (already normalised, e.g. by `Model.prepare`) through `graph` in
/// inference mode, in batches of `batchSize`, with a fresh `kind` observer on every edge. Activations are observed
/// per tensor (one range per edge), as integer engines requantize them.
///
/// - Throws: `ShrinkError(.value)` when `samples` is below 1 or the dataset is empty; an observer's error (a NaN or
///   infinite activation) naming the node.
public func calibrate(_ graph: Graph, on dataset: Dataset, samples: Int, kind: ObserverKind = .minmax,
                      batchSize: Int = 256) throws -> CalibrationResult {
    try calibrate(graph, on: dataset, samples: samples, observer: .builtIn(kind), batchSize: batchSize)
}

/// `calibrate(_:on:samples:kind:batchSize:)` with the observers made by `observer`, built-in or user-defined: one
/// fresh per-tensor observer (`observer.make(axis: nil)`) on every edge.
///
/// - Throws: as the built-in form; `ShrinkError(.value)` for a custom observer that is named like a built-in one or
///   does not keep per-tensor statistics when asked to.
public func calibrate(_ graph: Graph, on dataset: Dataset, samples: Int, observer: ObserverChoice,
                      batchSize: Int = 256) throws -> CalibrationResult {
    guard samples >= 1, dataset.count >= 1 else {
        throw ShrinkError(.value, "calibration needs at least one sample; got \(min(samples, dataset.count))")
    }
    let count = min(samples, dataset.count)
    var observers: [String: any Observer] = [Graph.inputName: try observer.makeChecked(axis: nil)]
    for node in graph.nodes { observers[node.name] = try observer.makeChecked(axis: nil) }
    let names = Set(graph.nodes.map(\.name))
    var start = 0
    while start < count {
        let end = min(start + batchSize, count)
        let batch = try dataset.inputs(start..<end)
        try observe(batch, edge: Graph.inputName, observers)
        // Keeping every node's value also turns off inference fusion, so each edge is seen as the layers give it.
        for (name, value) in graph.forward(batch, mode: .inference, keeping: names) {
            try observe(value, edge: name, observers)
        }
        start = end
    }
    return CalibrationResult(observers: observers, samples: count)
}

private func observe(_ value: Tensor, edge: String, _ observers: [String: any Observer]) throws {
    do {
        try observers[edge]!.observe(value)
    } catch let error as ShrinkError {
        throw ShrinkError(error.kind, "calibration at node '\(edge)': \(error.message)")
    }
}
