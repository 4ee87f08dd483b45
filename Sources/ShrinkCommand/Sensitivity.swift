// `shrink sensitivity`: SensitivityPass — each prunable layer pruned alone to a range of sparsities, as a table,
// JSON and an SVG chart.
import ArgumentParser
import Foundation
import Shrink

struct Sensitivity: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Accuracy against sparsity for each conv and linear layer pruned alone (no fine-tuning).",
        discussion: """
            Each layer in turn loses the lowest-scored share of its weights (magnitude by default) while the others \
            stay dense; the accuracy is measured on --samples held-out training samples (the end of the training \
            split), or on the test split with --split test, and the weights are put back. Layers whose curve stays \
            flat can take a higher sparsity.
            """)

    @Argument(help: "The float model file (.safetensors).")
    var model: String

    @OptionGroup var data: DataOptions

    @Option(help: "Sparsities to measure, comma-separated, each in [0, 1).")
    var sparsities: String = SensitivityPass().sparsities.map { "\($0)" }.joined(separator: ",")

    @Option(help: "Ranking.")
    var score: PruningScore = SensitivityPass().score

    @Option(help: "Where to measure: train (the last --samples training samples) or test.")
    var split: SplitKind = SensitivityPass().split

    @Option(help: "Samples to measure on.")
    var samples: Int = SensitivityPass().samples

    @Option(help: "Also write the curves as an SVG chart to this file (written atomically).")
    var svg: String?

    @Option(help: "Seed of random scores.")
    var seed: UInt64 = SensitivityPass().seed

    @OptionGroup var runtime: RuntimeOptions

    func pass() throws -> SensitivityPass {
        let values = sparsities.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
        guard values.allSatisfy({ $0 != nil }) else {
            throw ValidationError("--sparsities must be numbers in [0, 1) separated by commas, got '\(sparsities)'")
        }
        var p = SensitivityPass()
        p.sparsities = values.compactMap { $0 }
        p.score = score
        p.split = split
        p.samples = samples
        p.seed = seed
        return p
    }

    func validate() throws { try validating(try pass(), keys: ["sparsities", "samples", "score", "split", "seed"]) }

    func run() throws {
        try reporting {
            runtime.apply()
            if let svg { try checkWritable(svg) }
            let result = try pass().run(try ShrinkModel.load(from: model), data: try data.load(),
                                        progress: ProgressPrinter("sensitivity").handler)
            let d = try details(of: result.report, as: SensitivityPass.Details.self)
            if let svg {
                var chart = LineChart(title: "Sensitivity of \(d.arch) (\(score.rawValue), no fine-tuning)",
                                      xLabel: "sparsity of the layer", yLabel: "top-1 accuracy (%)",
                                      series: d.layers.map { layer in
                                          .init(name: layer.layer, points: layer.points.map { ($0.sparsity, 100 * $0.accuracy) })
                                      })
                chart.xRange = 0...1
                try AtomicFile.write(Array(chart.svg.utf8), to: svg)
            }
            if runtime.json {
                print(try jsonString(result.report))
                return
            }
            let columns = d.layers.first?.points.map { String(format: "%.0f%%", 100 * $0.sparsity) } ?? []
            var table = TextTable(headers: ["layer", "weights"] + columns)
            for layer in d.layers {
                table.append([layer.layer, groupedThousands(layer.weights)]
                    + layer.points.map { String(format: "%.2f", 100 * $0.accuracy) })
            }
            print("top-1 accuracy (%) on \(d.samples) \(split == .test ? "test" : "held-out training") samples, "
                + "each layer pruned alone by \(score.rawValue)")
            print(table)
        }
    }
}
