// TrainingCheckpoint: the state of a training run after a whole epoch — every parameter and running statistic, the
// optimizer's buffers, the dropout generators' positions, the step count and the history — in one safetensors file
// written atomically, so a run killed at any point resumes from its last epoch and ends with the bytes of an
// uninterrupted run. A checkpoint carries a key (the caller's fingerprint of the settings, data and thread count)
// and is only ever resumed by a run with the same key.
import Datasets
import Foundation
import Tensors

/// A layer with random state that advances during training (dropout masks).
public protocol RandomStateLayer: Layer {
    /// The generator's position.
    var randomState: [UInt64] { get set }
}

/// Where `Trainer.fit` keeps its checkpoint and what run it belongs to.
public struct TrainingCheckpoint: Sendable, Equatable {
    /// The checkpoint file (written after every epoch, atomically).
    public var path: String
    /// What the run is (settings, data, threads): a file with another key is never resumed, but replaced.
    public var key: String

    public init(path: String, key: String) {
        self.path = path
        self.key = key
    }

    /// The format version written in `shrink.checkpoint`.
    public static let formatVersion = "1"

    private struct EpochRecord: Codable {
        var epoch: Int, train: Metrics, test: Metrics?, seconds: Double
    }

    private struct State: Codable {
        var key: String
        var epochs_done: Int
        var step: Int
        var stop_requested: Bool
        var train_seconds: Double
        var samples_seen: Int
        var history: [EpochRecord]
        var optimizer_steps: [String: Int]
        var random: [String: [String]]
    }

    /// What a checkpoint restored: where training goes on.
    struct Resumed {
        var epochsDone: Int, step: Int, stopRequested: Bool, history: TrainingHistory
    }

    /// Writes the state after `history.epochs.count` epochs.
    func save(graph: Graph, extra: [Parameter], optimizer: any Optimizer, step: Int, stopRequested: Bool,
              history: TrainingHistory) throws {
        guard let optimizer = optimizer as? any CheckpointableOptimizer else {
            throw ShrinkError(.unsupported, "checkpoints need an optimizer whose state can be saved")
        }
        var tensors: [(String, SafeTensor)] = graph.parameters.map { ("parameter.\($0.name)", SafeTensor($0.parameter.value)) }
        tensors += extra.enumerated().map { ("extra.\($0.offset)", SafeTensor($0.element.value)) }
        var steps: [String: Int] = [:]
        for entry in optimizer.state(of: graph.trainableParameters + extra) {
            for (name, values) in entry.arrays.sorted(by: { $0.key < $1.key }) {
                tensors.append(("optimizer.\(entry.index).\(name)", SafeTensor(Tensor(shape: [values.count], scalars: values))))
            }
            steps["\(entry.index)"] = entry.steps
        }
        var random: [String: [String]] = [:]
        for node in graph.nodes {
            if let layer = node.layer as? any RandomStateLayer { random[node.name] = layer.randomState.map { String($0) } }
        }
        let state = State(key: key, epochs_done: history.epochs.count, step: step, stop_requested: stopRequested,
                          train_seconds: history.trainSeconds, samples_seen: history.samplesSeen,
                          history: history.epochs.map { EpochRecord(epoch: $0.epoch, train: $0.train, test: $0.test,
                                                                    seconds: $0.seconds) },
                          optimizer_steps: steps, random: random)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let metadata = ["shrink.checkpoint": Self.formatVersion,
                        "shrink.training_state": String(decoding: try encoder.encode(state), as: UTF8.self)]
        try AtomicFile.write(try SafeTensorsFile(tensors: tensors, metadata: metadata).encoded(), to: path)
    }

    /// Restores the state the file holds into `graph`, `extra` and `optimizer` when it exists and has this key;
    /// nil when there is no file or it belongs to another run (which the next save replaces).
    ///
    /// - Throws: `ShrinkError(.format)` naming the file when it is not a checkpoint or does not fit the graph.
    func restore(graph: Graph, extra: [Parameter], optimizer: any Optimizer) throws -> Resumed? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        let file = try SafeTensorsFile.decode(try readFile(path), file: path)
        guard file.metadata["shrink.checkpoint"] == Self.formatVersion, let text = file.metadata["shrink.training_state"] else {
            throw ShrinkError(.format, "\(path) is not a Shrink training checkpoint (version \(Self.formatVersion))")
        }
        let state: State
        do { state = try JSONDecoder().decode(State.self, from: Data(text.utf8)) } catch {
            throw ShrinkError(.format, "\(path): the training state does not decode: \(error)")
        }
        guard state.key == key else { return nil }
        func tensor(_ name: String, like parameter: Parameter) throws -> Tensor {
            guard let stored = file.tensors[name] else { throw ShrinkError(.format, "\(path) has no tensor '\(name)'") }
            let value = try stored.floatTensor(name: name, file: path)
            guard value.shape == parameter.value.shape else {
                throw ShrinkError(.format, "\(path): '\(name)' has shape \(value.shape), the model's is \(parameter.value.shape)")
            }
            return value
        }
        // Read everything before changing anything, so a bad file leaves the graph as it was.
        let values = try graph.parameters.map { try tensor("parameter.\($0.name)", like: $0.parameter) }
        let extraValues = try extra.enumerated().map { try tensor("extra.\($0.offset)", like: $0.element) }
        guard let optimizer = optimizer as? any CheckpointableOptimizer else {
            throw ShrinkError(.unsupported, "checkpoints need an optimizer whose state can be restored")
        }
        var optimizerState: [(index: Int, arrays: [String: [Float]], steps: Int)] = []
        for (index, steps) in state.optimizer_steps {
            guard let i = Int(index) else { throw ShrinkError(.format, "\(path): optimizer index '\(index)'") }
            let prefix = "optimizer.\(i)."
            var arrays: [String: [Float]] = [:]
            for (name, stored) in file.tensors where name.hasPrefix(prefix) {
                arrays[String(name.dropFirst(prefix.count))] = try stored.floatTensor(name: name, file: path).scalars
            }
            optimizerState.append((i, arrays, steps))
        }
        var random: [(any RandomStateLayer, [UInt64])] = []
        for node in graph.nodes {
            guard let layer = node.layer as? any RandomStateLayer else { continue }
            guard let words = state.random[node.name]?.compactMap(UInt64.init), words.count == 4 else {
                throw ShrinkError(.format, "\(path): no generator state for '\(node.name)'")
            }
            random.append((layer, words))
        }
        do { try optimizer.restore(optimizerState, of: graph.trainableParameters + extra) } catch let error as ShrinkError {
            throw ShrinkError(error.kind, "\(path): \(error.message)")
        }
        for (entry, value) in zip(graph.parameters, values) { entry.parameter.value = value }
        for (parameter, value) in zip(extra, extraValues) { parameter.value = value }
        for (layer, words) in random { layer.randomState = words }
        var history = TrainingHistory()
        history.epochs = state.history.map { EpochEvent(epoch: $0.epoch, train: $0.train, test: $0.test, seconds: $0.seconds) }
        history.trainSeconds = state.train_seconds
        history.samplesSeen = state.samples_seen
        return Resumed(epochsDone: state.epochs_done, step: state.step, stopRequested: state.stop_requested, history: history)
    }
}
