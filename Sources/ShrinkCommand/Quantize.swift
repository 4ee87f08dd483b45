// `shrink quantize`: QuantizePass — post-training quantization to the integer engine or of the weights only, with
// calibration and validation on the training split, or mixed precision under a size budget.
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
            within --max-accuracy-drop points of the float model's. If none is, it tries the fixes left at auto, each \
            on the best attempt so far and kept when it helps: cross-layer equalization with bias absorption, \
            empirical bias correction, then GPTQ and AdaRound rounding. If still none is, it ranks the conv and \
            linear layers by the accuracy regained when only that layer stays in float, and keeps up to \
            --max-float-layers of the most sensitive in float. Every attempt is reported; when nothing meets the tolerance the most accurate \
            is saved and the command says so. With --weight-only the model stays a float model whose conv and \
            linear weights are stored in --weight-bits bits (packed) and dequantized at load.
            """)

    @Argument(help: "The float model file (.safetensors).")
    var model: String

    @OptionGroup var data: DataOptions
    @OptionGroup var output: OutputOptions

    @Option(help: "Training samples used for calibration (at most half of a small training split).")
    var calibrationSamples: Int = QuantizePass().split.calibrationSamples

    @Option(help: "Further training samples that judge each attempt.")
    var validationSamples: Int = QuantizePass().split.validationSamples

    @Option(help: "Observer, or auto (the pass's list).")
    var observer: ObserverOption = .auto

    @Option(help: "Weight granularity, or auto (per-channel, then per-tensor).")
    var granularity: GranularityOption = .auto

    @Option(help: "Weight bits, 2…8 (symmetric, narrow range: 2 bits is ternary).")
    var weightBits: Int = QuantizePass().weightBits

    @Option(help: "Activation bits, 2…8 (unsigned, per tensor); not with --weight-only.")
    var activationBits: Int?

    @Flag(help: "Quantize the conv and linear weights only; the model keeps running in float.")
    var weightOnly = false

    @Option(help: "Tolerated drop in validation accuracy, in percentage points.")
    var maxAccuracyDrop: Double = QuantizePass().maxAccuracyDrop

    @Option(help: "How many of the most sensitive conv/linear layers the last retry may keep in float (0: none).")
    var maxFloatLayers: Int = QuantizePass().maxFloatLayers

    @Option(help: "Conv/linear nodes to keep in float from the start, comma-separated.")
    var keepFloat: String = ""

    @Option(help: "Weight bits by conv/linear node name, overriding --weight-bits for those nodes: node=bits, comma-separated (conv1=8,fc1=4).")
    var layerWeightBits: String?

    @Option(help: "Cross-layer equalization with bias absorption (on, off, or auto: tried when the search falls short).")
    var equalization: AutoOr<Switch> = AutoOr(nil)

    @Option(help: "Bias correction of each quantized layer's mean shift: none, empirical (layer by layer on calibration data: each layer's output mean with quantized weights against the float one), analytic (from the BatchNorm statistics), or auto (empirical, tried when the search falls short).")
    var biasCorrection: AutoOr<BiasCorrection> = AutoOr(nil)

    @Option(help: "Weight rounding: nearest, gptq, adaround, or auto (gptq, then adaround, tried when the search falls short).")
    var rounding: AutoOr<WeightRounding> = AutoOr(nil)

    @Option(help: "AdaRound's Adam steps per layer.")
    var adaroundIterations: Int = AdaRoundOptions().iterations

    @Option(help: "Activation ranges set by hand for the integer engine, replacing the observer's: edge=min:max, comma-separated (input=-1:3,relu1=0:6); an edge is input or a node with parameters of its own (a conv or linear whose ReLU is fused has the ReLU's).")
    var edgeRange: String?

    @Option(help: "Write the quantization debugger's report on the chosen model to this directory: report.json, report.txt (per edge: SQNR against float, ranges, clipped share; per layer: weight SQNR and the validation accuracy with only that layer quantized) and sqnr.svg.")
    var report: String?

    @Flag(help: "Choose each conv/linear layer's weight bits (8, 6, 4, 3 or 2) so the file fits --size-budget, losing the least validation accuracy (activations 8-bit).")
    var mixedPrecision = false

    @Option(help: "With --mixed-precision: the largest model file, in bytes.")
    var sizeBudget: Int?

    @OptionGroup var runtime: RuntimeOptions

    func pass() throws -> QuantizePass {
        var p = QuantizePass()
        p.split = CalibrationSplit(calibrationSamples: calibrationSamples, validationSamples: validationSamples)
        if case .kind(let kind) = observer { p.observers = [.builtIn(kind)] }
        if case .one(let g) = granularity { p.granularities = [g] }
        p.weightBits = weightBits
        p.activationBits = activationBits
        p.weightOnly = weightOnly
        p.maxAccuracyDrop = maxAccuracyDrop
        p.maxFloatLayers = maxFloatLayers
        p.keepFloat = keepFloat.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        if let layerWeightBits {
            p.layerWeightBits = try layerSettings(layerWeightBits.split(separator: ",").map(String.init),
                                                  key: "--layer-weight-bits", at: "") { Int($0) }
        }
        p.equalization = equalization.value.map { $0 == .on }
        p.biasCorrection = biasCorrection.value
        p.rounding = rounding.value
        p.adaRoundIterations = adaroundIterations
        if let edgeRange {
            p.edgeRanges = try layerSettings(edgeRange.split(separator: ",").map(String.init), key: "--edge-range",
                                             at: "") { parseRange($0) }
        }
        p.report = report != nil
        p.mixedPrecision = mixedPrecision
        p.sizeBudget = sizeBudget
        return p
    }

    func validate() throws { try validating { try pass() } }

    func run() throws {
        try reporting {
            runtime.apply()
            try output.check()
            let input = try ShrinkModel.load(from: model)
            let result = try pass().run(input, data: try data.load(), progress: ProgressPrinter("quantize").handler)
            try result.model.save(to: output.out)
            let report = result.report
            if let mixed = report.details(as: QuantizePass.MixedDetails.self) {
                let chosen = mixed.bits.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
                try emit(report, out: output.out, json: runtime.json, line: String(
                    format: "mixed precision (%@): test accuracy %.2f%% (float %.2f%%), %@ bytes within a budget of %@; saved %@",
                    chosen, 100 * mixed.quantized_test_accuracy, 100 * mixed.float_test_accuracy,
                    groupedThousands(mixed.bytes), groupedThousands(mixed.size_budget), output.out))
                return
            }
            let d = try details(of: report, as: QuantizePass.Details.self)
            if let directory = self.report, let debugger = d.report {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                try AtomicFile.write(Array(try encoder.encode(debugger)) + [10], to: "\(directory)/report.json")
                try AtomicFile.write(Array((debugger.table + "\n").utf8), to: "\(directory)/report.txt")
                try AtomicFile.write(Array(debugger.chart.svg.utf8), to: "\(directory)/sqnr.svg")
            }
            try emit(report, out: output.out, json: runtime.json, line: String(
                format: "%@: test accuracy %.2f%% (float %.2f%%), %@ → %@ bytes (%.3f×); saved %@", d.chosen.summary,
                100 * d.quantized_test_accuracy, 100 * d.float_test_accuracy, groupedThousands(d.float_bytes),
                groupedThousands(d.quantized_bytes), Double(d.quantized_bytes) / Double(d.float_bytes), output.out))
        }
    }
}
