// A researcher's own code on Shrink (docs/library.md): a pruning importance and an observer of one's own, plugged
// into the library's passes and run through a recipe built in Swift; then post-training quantization called as one
// pass, calibrated and validated on parts of the training split, with its report. Runs on synthetic data so that it
// needs nothing but the library: 8×8 images whose class is the column of a bright stripe.
import Foundation
import Shrink

/// Ranks the filters of a conv (or the neurons of a linear layer) by the L2 norm of their weights; single weights by
/// their square. A user-defined `PruningImportance`, in place of the built-in scores.
struct L2FilterNorm: PruningImportance {
    let name = "l2-filter-norm"

    func weightScores(_ layer: PrunableLayer) throws -> Tensor {
        Tensor(shape: layer.weight.shape, scalars: layer.weight.scalars.map { $0 * $0 })
    }

    func channelScores(_ layer: PrunableLayer) throws -> [Float] {
        let channels = layer.weight.shape[0], row = layer.weight.count / max(channels, 1)
        return (0..<channels).map { c in
            layer.weight.scalars[(c * row)..<((c + 1) * row)].reduce(0) { $0 + $1 * $1 }.squareRoot()
        }
    }
}

/// Clips an activation's range to the mean of each calibration batch's minimum and maximum, so that one outlying
/// batch does not stretch the scale; per-channel statistics (weights) fall back to the exact min/max. A user-defined
/// `Observer`, reaching the passes as `ObserverChoice.custom`.
final class MeanRangeObserver: Observer {
    let axis: Int?
    var name: String { "mean-range" }
    private var minimums: [Float] = [], maximums: [Float] = []
    private let exact: MinMaxObserver

    init(axis: Int?) {
        self.axis = axis
        exact = MinMaxObserver(axis: axis)
    }

    func observe(_ tensor: Tensor) throws {
        if axis != nil { return try exact.observe(tensor) }
        guard let low = tensor.scalars.min(), let high = tensor.scalars.max(), low.isFinite, high.isFinite else {
            throw ShrinkError(.value, "the mean-range observer needs finite, non-empty tensors")
        }
        minimums.append(low)
        maximums.append(high)
    }

    func computeParameters(bits: Int, signed: Bool, symmetric: Bool, narrowRange: Bool) throws -> QuantizationParameters {
        if axis != nil {
            return try exact.computeParameters(bits: bits, signed: signed, symmetric: symmetric, narrowRange: narrowRange)
        }
        guard !minimums.isEmpty else { throw ShrinkError(.value, "the mean-range observer has observed nothing") }
        let low = minimums.reduce(0, +) / Float(minimums.count), high = maximums.reduce(0, +) / Float(maximums.count)
        return try .compute(minimum: min(low, 0), maximum: max(high, 0), bits: bits, signed: signed, symmetric: symmetric,
                            narrowRange: narrowRange)
    }

    func reset() {
        minimums = []
        maximums = []
        exact.reset()
    }

    var description: String { "MeanRangeObserver(batches: \(minimums.count))" }
}

func images(_ n: Int, _ g: inout SeededGenerator) -> (x: [Float], y: [Int64]) {
    var x: [Float] = [], y: [Int64] = []
    for i in 0..<n {
        let label = i % 4
        for p in 0..<64 { x.append(p % 8 / 2 == label ? 0.9 : Float(g.nextInt(below: 30)) / 100) }
        y.append(Int64(label))
    }
    return (x, y)
}

let directory = NSTemporaryDirectory() + "using-shrink-\(getpid())"
try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(atPath: directory) }

// The data spec: an .npz with a training and a test split.
var generator = SeededGenerator(seed: 1)
let train = images(256, &generator), test = images(64, &generator)
let data = directory + "/stripes.npz"
try NPZ.write([("x_train", NPYArray(float32: train.x, shape: [256, 1, 8, 8])), ("y_train", NPYArray(int64: train.y, shape: [256])),
               ("x_test", NPYArray(float32: test.x, shape: [64, 1, 8, 8])), ("y_test", NPYArray(int64: test.y, shape: [64]))],
              to: data, compressed: false)

// A recipe built in Swift: train, prune half of every layer's filters by the L2 norm (fine-tuned on the training
// split minus its last 64 samples, which measure each step), then int8 with the own observer tried first.
var training = TrainPass(arch: .fmnistSmall)
training.epochs = 4
training.batchSize = 32
var pruning = PrunePass(settings: PruningSettings(sparsity: 0.5))
pruning.settings.structure = .filter
pruning.settings.importance = L2FilterNorm()
pruning.settings.batchSize = 32
pruning.validationSamples = 64
var quantizing = QuantizePass()
quantizing.observers = [.custom(name: "mean-range") { MeanRangeObserver(axis: $0) }, .minmax]
quantizing.split = CalibrationSplit(calibrationSamples: 128, validationSamples: 64)
let recipe = try Recipe(data: data, steps: [RecipeStep("dense", training), RecipeStep("pruned", pruning),
                                            RecipeStep("int8", quantizing)], benchSeconds: 0)
let outcome = try RecipeRunner(recipe, directory: directory + "/run").run()
print(outcome.report.table)

// The same quantization as one pass on the dense model: its report says what it tried and chose.
let split = try loadData(data)
let dense = try ShrinkModel.load(from: directory + "/run/models/dense.safetensors")
let result = try quantizing.run(dense, data: split) { print("  " + $0.message) }
guard let details = result.report.details(as: QuantizePass.Details.self),
      let before = result.report.before, let after = result.report.after else {
    fatalError("the quantize pass reported no figures")
}
print(String(format: "dense %.2f%% → int8 (%@) %.2f%% on the test split; %d → %d bytes", 100 * (before.testAccuracy ?? 0),
             details.chosen.summary, 100 * (after.testAccuracy ?? 0), before.bytes, after.bytes))
guard let int8 = outcome.report.rows.last, int8.accuracy > 0.5, (after.testAccuracy ?? 0) > 0.5 else {
    print("the example's models did not learn")
    exit(1)
}
