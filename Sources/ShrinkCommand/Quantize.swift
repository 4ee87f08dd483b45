// `shrink quantize`: post-training quantization to the integer engine (uint8 activations, per-channel int8
// weights), with calibration on the training split and an accuracy-driven choice of observer.
import ArgumentParser
import Foundation
import Shrink

struct Quantize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Quantize a float model: to the integer engine (int8 by default), or its weights only.",
        discussion: """
            BatchNorm is folded first and ReLU fused into requantization. Calibration uses the first \
            --calibration-samples of the training split; the next --validation-samples of the training split judge \
            each attempt; the test split is only used for the final report. The pass tries each observer (with \
            --observer auto: minmax, percentile, entropy, mse, moving-average; for --weight-only: minmax, mse, \
            percentile) for each granularity (auto: per-channel, then per-tensor) until the validation accuracy is \
            within --max-accuracy-drop points of the float model's. If none is, it ranks the conv and linear layers \
            by the accuracy regained when only that layer stays in float, and keeps up to --max-float-layers of the \
            most sensitive in float. Every attempt is reported; when nothing meets the tolerance the most accurate \
            is saved and the command says so. With --weight-only the model stays a float model whose conv and \
            linear weights are stored in --weight-bits bits (packed) and dequantized at load.
            """)

    @Argument(help: "The float model file (.safetensors).")
    var model: String

    @Option(help: "Data spec: fashion-mnist, a directory of IDX files, or an .npz file.")
    var data: String

    @Option(help: "Output model file (.safetensors); written atomically.")
    var out: String

    @Option(help: "Training samples used for calibration (at most half of a small training split).")
    var calibrationSamples: Int = 1000

    @Option(help: "Further training samples that judge each attempt.")
    var validationSamples: Int = 2000

    @Option(help: "Observer: \(ObserverKind.allCases.map(\.rawValue).joined(separator: ", ")), or auto.")
    var observer: String = "auto"

    @Option(help: "Weight granularity: per-channel, per-tensor, or auto (per-channel, then per-tensor).")
    var granularity: String = "auto"

    @Option(help: "Weight bits, 2…8 (symmetric, narrow range: 2 bits is ternary).")
    var weightBits: Int = 8

    @Option(help: "Activation bits, 2…8 (unsigned, per tensor); not with --weight-only.")
    var activationBits: Int?

    @Flag(help: "Quantize the conv and linear weights only; the model keeps running in float.")
    var weightOnly = false

    @Option(help: "Tolerated drop in validation accuracy, in percentage points.")
    var maxAccuracyDrop: Double = 0.3

    @Option(help: "How many of the most sensitive conv/linear layers the last retry may keep in float (0: none).")
    var maxFloatLayers: Int = 2

    @Option(help: "Conv/linear nodes to keep in float from the start, comma-separated.")
    var keepFloat: String = ""

    @Flag(help: "Choose each conv/linear layer's weight bits (8, 6, 4, 3 or 2) so the file fits --size-budget, losing the least validation accuracy (activations 8-bit).")
    var mixedPrecision = false

    @Option(help: "With --mixed-precision: the largest model file, in bytes.")
    var sizeBudget: Int?

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
        guard (2...8).contains(weightBits) else {
            throw ValidationError("--weight-bits must be in 2…8, got \(weightBits)")
        }
        if let activationBits {
            guard !weightOnly else { throw ValidationError("--activation-bits does not apply with --weight-only") }
            guard (2...8).contains(activationBits) else {
                throw ValidationError("--activation-bits must be in 2…8, got \(activationBits)")
            }
        }
        guard maxFloatLayers >= 0 && maxFloatLayers <= 10_000 else {
            throw ValidationError("--max-float-layers must be in 0…10000, got \(maxFloatLayers)")
        }
        if observer != "auto" { _ = try ObserverKind(named: observer) }
        if mixedPrecision {
            guard let sizeBudget, sizeBudget >= 1 else {
                throw ValidationError("--mixed-precision needs --size-budget BYTES (a positive number of bytes)")
            }
            guard !weightOnly, activationBits == nil, weightBits == 8 else {
                throw ValidationError("--mixed-precision chooses the weight bits itself (8-bit activations); drop "
                    + "--weight-only, --weight-bits and --activation-bits")
            }
        } else if sizeBudget != nil {
            throw ValidationError("--size-budget applies with --mixed-precision")
        }
        if granularity != "auto" { _ = try Granularity(named: granularity) }
    }

    struct Output: Encodable {
        var out: String, mode: String, within_tolerance: Bool
        var chosen: QuantizationSettings
        var attempts: [QuantizationAttempt]
        var float_validation_accuracy: Double, quantized_validation_accuracy: Double
        var float_test_accuracy: Double, quantized_test_accuracy: Double, test_samples: Int
        var float_bytes: Int, quantized_bytes: Int
        var float_layers: [String]
        var float_nodes: [String]
    }

    func run() throws {
        try reporting {
            runtime.apply()
            try checkWritable(out)
            let (float, floatFile) = try loadFloatModel(model, advice: "quantize the float model it came from")
            let split = try DataSource.load(data)
            let train = try float.prepare(split.train), test = try float.prepare(split.test)
            guard train.count >= 2 else {
                throw ShrinkError(.value, "the training split of \(data) has \(train.count) samples; quantization needs "
                    + "at least 2 (calibration, then validation)")
            }
            // A small training split is shared half and half between calibration and validation.
            let calibrationCount = min(calibrationSamples, max(1, train.count / 2))
            let validationCount = min(validationSamples, train.count - calibrationCount)
            let validation = train.rows(calibrationCount..<(calibrationCount + validationCount))
            if mixedPrecision {
                try runMixedPrecision(float: float, floatBytes: floatFile.count, train: train, test: test,
                                      calibrationCount: calibrationCount, validation: validation)
                return
            }
            let autoObservers: [ObserverKind] = weightOnly ? [.minmax, .mse, .percentile]
                : [.minmax, .percentile, .entropy, .mse, .movingAverage]
            let search = try QuantizationSearch(
                observers: observer == "auto" ? autoObservers : [try ObserverKind(named: observer)],
                granularities: granularity == "auto" ? [.perChannel, .perTensor] : [try Granularity(named: granularity)],
                weightBits: weightBits, activationBits: weightOnly ? nil : (activationBits ?? 8),
                maximumDrop: maxAccuracyDrop, maximumFloatLayers: maxFloatLayers,
                keepFloat: keepFloat.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
            let outcome = try quantizeAfterTraining(float, calibration: train.prefix(calibrationCount),
                                                    calibrationSamples: calibrationCount, validation: validation,
                                                    search: search) { attempt in
                printError(String(format: "attempt (%@) %@: validation accuracy %.2f%%", attempt.stage,
                                  attempt.settings.summary, 100 * attempt.validationAccuracy))
            }
            let floatValidation = outcome.floatValidationAccuracy
            if !outcome.withinTolerance {
                printError(String(format: "warning: no attempt came within %.2f points of the float model's %.2f%%; "
                    + "saving the most accurate (%.2f%%)", maxAccuracyDrop, 100 * floatValidation,
                    100 * outcome.chosenAccuracy))
            }
            try outcome.product.save(to: out)
            let floatTest = evaluate(float.graph, on: test)
            let quantizedTest = Shrink.metrics(logits: try outcome.product.predict(test.inputs), labels: test.labels)
            let floatBytes = floatFile.count, quantizedBytes = try readFile(out).count
            let output = Output(out: out, mode: weightOnly ? "weight-only" : "integer",
                                within_tolerance: outcome.withinTolerance, chosen: outcome.chosen,
                                attempts: outcome.attempts, float_validation_accuracy: floatValidation,
                                quantized_validation_accuracy: outcome.chosenAccuracy,
                                float_test_accuracy: floatTest.top1, quantized_test_accuracy: quantizedTest.top1,
                                test_samples: test.count, float_bytes: floatBytes, quantized_bytes: quantizedBytes,
                                float_layers: outcome.chosen.floatLayers, float_nodes: outcome.product.floatNodes)
            if runtime.json {
                print(try jsonString(output))
            } else {
                print(String(format: "%@: test accuracy %.2f%% (float %.2f%%), %@ → %@ bytes (%.3f×); saved %@",
                             outcome.chosen.summary, 100 * quantizedTest.top1, 100 * floatTest.top1,
                             groupedThousands(floatBytes), groupedThousands(quantizedBytes),
                             Double(quantizedBytes) / Double(floatBytes), out))
            }
        }
    }

    struct MixedOutput: Encodable {
        var out: String, mode: String, size_budget: Int, bytes: Int, float_bytes: Int
        var bits: [String: Int]
        var sensitivity: [Sensitivity]
        var float_validation_accuracy: Double, quantized_validation_accuracy: Double
        var float_test_accuracy: Double, quantized_test_accuracy: Double, test_samples: Int

        struct Sensitivity: Encodable { var node: String, bits: Int, validation_accuracy: Double }
    }

    /// `--mixed-precision`: per-layer weight bits under `--size-budget`.
    private func runMixedPrecision(float: Model, floatBytes: Int, train: Dataset, test: Dataset, calibrationCount: Int,
                                   validation: Dataset) throws {
        let outcome = try mixedPrecisionQuantization(
            float, calibration: train.prefix(calibrationCount), calibrationSamples: calibrationCount,
            validation: validation, budget: sizeBudget!,
            observer: observer == "auto" ? .minmax : try ObserverKind(named: observer))
        try outcome.model.save(to: out)
        let floatTest = evaluate(float.graph, on: test)
        let quantizedTest = Shrink.metrics(logits: try outcome.model.predict(test.inputs), labels: test.labels)
        let output = MixedOutput(
            out: out, mode: "mixed-precision", size_budget: sizeBudget!, bytes: try readFile(out).count,
            float_bytes: floatBytes, bits: Dictionary(uniqueKeysWithValues: outcome.bits.map { ($0.node, $0.bits) }),
            sensitivity: outcome.sensitivity.map { .init(node: $0.node, bits: $0.bits, validation_accuracy: $0.accuracy) },
            float_validation_accuracy: outcome.floatValidationAccuracy,
            quantized_validation_accuracy: outcome.validationAccuracy, float_test_accuracy: floatTest.top1,
            quantized_test_accuracy: quantizedTest.top1, test_samples: test.count)
        if runtime.json {
            print(try jsonString(output))
        } else {
            let chosen = outcome.bits.map { "\($0.node) \($0.bits)" }.joined(separator: ", ")
            print(String(format: "mixed precision (%@): test accuracy %.2f%% (float %.2f%%), %@ bytes within a budget of "
                         + "%@; saved %@", chosen, 100 * quantizedTest.top1, 100 * floatTest.top1,
                         groupedThousands(output.bytes), groupedThousands(sizeBudget!), out))
        }
    }
}
