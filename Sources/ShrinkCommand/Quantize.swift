// `shrink quantize`: post-training quantization to the integer engine (uint8 activations, per-channel int8
// weights), with calibration on the training split and an accuracy-driven choice of observer.
import ArgumentParser
import Foundation
import Shrink

struct Quantize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Quantize a float model to int8 (uint8 activations, per-channel int8 weights).",
        discussion: """
            BatchNorm is folded first and ReLU fused into requantization. Calibration uses the first \
            --calibration-samples of the training split; the next --validation-samples of the training split judge \
            each attempt; the test split is only used for the final report. With --observer auto the observers are \
            tried in the order minmax, percentile, entropy, mse, moving-average until the validation accuracy is \
            within --max-accuracy-drop points of the float model's (default 0.3), else the best is kept.
            """)

    @Argument(help: "The float model file (.safetensors).")
    var model: String

    @Option(help: "Data spec: fashion-mnist, a directory of IDX files, or an .npz file.")
    var data: String

    @Option(help: "Output model file (.safetensors); written atomically.")
    var out: String

    @Option(help: "Training samples used for calibration.")
    var calibrationSamples: Int = 1000

    @Option(help: "Further training samples that judge each attempt.")
    var validationSamples: Int = 2000

    @Option(help: "Observer: \(ObserverKind.allCases.map(\.rawValue).joined(separator: ", ")), or auto.")
    var observer: String = "auto"

    @Option(help: "Tolerated drop in validation accuracy, in percentage points (with --observer auto).")
    var maxAccuracyDrop: Double = 0.3

    @OptionGroup var runtime: RuntimeOptions

    func validate() throws {
        guard calibrationSamples >= 1 && calibrationSamples <= 1_000_000 else {
            throw ValidationError("--calibration-samples must be in 1…1000000, got \(calibrationSamples)")
        }
        guard validationSamples >= 1 && validationSamples <= 1_000_000 else {
            throw ValidationError("--validation-samples must be in 1…1000000, got \(validationSamples)")
        }
        guard maxAccuracyDrop >= 0 && maxAccuracyDrop <= 100 else {
            throw ValidationError("--max-accuracy-drop must be in 0…100 points, got \(maxAccuracyDrop)")
        }
        if observer != "auto" { _ = try ObserverKind(named: observer) }
    }

    struct Output: Encodable {
        var out: String, observer: String, within_tolerance: Bool
        var attempts: [QuantizationAttempt]
        var float_validation_accuracy: Double
        var float_test_accuracy: Double, quantized_test_accuracy: Double, test_samples: Int
        var float_bytes: Int, quantized_bytes: Int
        var float_nodes: [String]
    }

    func run() throws {
        try reporting {
            runtime.apply()
            try checkWritable(out)
            let floatFile = try readFile(model)
            let container = try SafeTensorsFile.decode(floatFile, file: model)
            guard !QuantizedModel.isQuantized(container) else {
                throw ShrinkError(.value, "\(model) is already quantized")
            }
            let float = try Model.load(container, file: model)
            let split = try DataSource.load(data)
            let train = try float.prepare(split.train), test = try float.prepare(split.test)
            let calibrationCount = min(calibrationSamples, train.count)
            guard train.count > calibrationCount else {
                throw ShrinkError(.value, "the training split has \(train.count) samples; calibration takes "
                    + "\(calibrationCount) and validation needs more")
            }
            let validationCount = min(validationSamples, train.count - calibrationCount)
            let validation = try Dataset(
                inputs: train.inputs.slice(rows: calibrationCount..<(calibrationCount + validationCount)),
                labels: Array(train.labels[calibrationCount..<(calibrationCount + validationCount)]),
                classCount: train.classCount)
            let kinds = observer == "auto"
                ? [ObserverKind.minmax, .percentile, .entropy, .mse, .movingAverage] : [try ObserverKind(named: observer)]
            let outcome = try quantizeAfterTraining(float, calibration: train.prefix(calibrationCount),
                                                    calibrationSamples: calibrationCount, validation: validation,
                                                    observers: kinds, maximumDrop: observer == "auto" ? maxAccuracyDrop : nil)
            for attempt in outcome.attempts {
                printError(String(format: "attempt %@: validation accuracy %.2f%% (float %.2f%%)", attempt.observer,
                                  100 * attempt.validationAccuracy, 100 * outcome.floatValidationAccuracy))
            }
            try outcome.model.save(to: out)
            let floatTest = evaluate(float.graph, on: test)
            let quantizedTest = Shrink.metrics(logits: try outcome.model.predict(test.inputs), labels: test.labels)
            let floatBytes = floatFile.count, quantizedBytes = try readFile(out).count
            let output = Output(out: out, observer: outcome.attempts.last.map(\.observer) ?? "",
                                within_tolerance: outcome.withinTolerance, attempts: outcome.attempts,
                                float_validation_accuracy: outcome.floatValidationAccuracy,
                                float_test_accuracy: floatTest.top1, quantized_test_accuracy: quantizedTest.top1,
                                test_samples: test.count, float_bytes: floatBytes, quantized_bytes: quantizedBytes,
                                float_nodes: outcome.model.graph.floatComputedNodes)
            if runtime.json {
                print(try jsonString(output))
            } else {
                print(String(format: "%@: test accuracy %.2f%% (float %.2f%%), %@ → %@ bytes (%.3f×); saved %@",
                             output.observer, 100 * quantizedTest.top1, 100 * floatTest.top1,
                             groupedThousands(floatBytes), groupedThousands(quantizedBytes),
                             Double(quantizedBytes) / Double(floatBytes), out))
            }
        }
    }
}
