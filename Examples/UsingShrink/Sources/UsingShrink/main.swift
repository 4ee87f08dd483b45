// Load, prune, quantize, save — one call each (docs/library.md, "The steps as calls"). Runs on synthetic data so
// that it needs nothing but the library: 8×8 images whose class is the column of a bright stripe.
import Foundation
import Shrink

func images(_ n: Int, _ g: inout SeededGenerator) throws -> Dataset {
    var x: [Float] = [], y: [Int32] = []
    for i in 0..<n {
        let label = i % 4
        for p in 0..<64 { x.append(p % 8 / 2 == label ? 0.9 : Float(g.nextInt(below: 30)) / 100) }
        y.append(Int32(label))
    }
    return try Dataset(inputs: Tensor(shape: [n, 1, 8, 8], scalars: x), labels: y, classCount: 4)
}
var generator = SeededGenerator(seed: 1)
let train = try images(256, &generator), test = try images(64, &generator)
let directory = NSTemporaryDirectory() + "using-shrink-\(getpid())"
try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(atPath: directory) }

// Train and save a model, then load it back.
let graph = try Architecture.fmnistSmall.makeGraph(inputShape: [1, 8, 8], classes: 4, seed: 0)
var training = TrainingConfiguration()
training.epochs = 4
training.batchSize = 32
_ = try Trainer(graph: graph, configuration: training).fit(train: train)
try Model(architecture: "fmnist-small", graph: graph, normalization: Normalization(mean: 0, std: 1))
    .save(to: directory + "/dense.safetensors")
let dense = try Model.load(from: directory + "/dense.safetensors")
let denseAccuracy = evaluate(dense.graph, on: test).top1

// Prune half of the weights (global magnitude, one shot, one epoch of fine-tuning).
var pruning = PruningSettings(sparsity: 0.5)
pruning.finetuneEpochs = 1
pruning.batchSize = 32
let pruned = try prune(dense, train: train, validation: test, settings: pruning).model

// Quantize to int8 and save.
let quantized = try quantizeAfterTraining(pruned, calibration: train, calibrationSamples: 128, validation: test)
try quantized.product.save(to: directory + "/int8.safetensors")
let int8Accuracy = metrics(logits: try quantized.product.predict(test.inputs), labels: test.labels).top1

print(String(format: "dense %.2f%% → pruned and int8 %.2f%%, %d bytes", 100 * denseAccuracy, 100 * int8Accuracy,
             try readFile(directory + "/int8.safetensors").count))
guard int8Accuracy > 0.5 else { fatalError("the example's model did not learn") }
