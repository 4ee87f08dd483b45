// `shrink sensitivity`: each prunable layer pruned alone to a range of sparsities, as a table, JSON and an SVG chart.
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

    @Option(help: "Data spec: fashion-mnist, a directory of IDX files, or an .npz file.")
    var data: String

    @Option(help: "Sparsities to measure, comma-separated, each in [0, 1).")
    var sparsities: String = "0,0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9"

    @Option(help: "Ranking: magnitude, taylor or random.")
    var score: String = "magnitude"

    @Option(help: "Where to measure: train (the last --samples training samples) or test.")
    var split: String = "train"

    @Option(help: "Samples to measure on.")
    var samples: Int = 2000

    @Option(help: "Also write the curves as an SVG chart to this file (written atomically).")
    var svg: String?

    @Option(help: "Seed of random scores.")
    var seed: UInt64 = 0

    @OptionGroup var runtime: RuntimeOptions

    func validate() throws {
        guard samples >= 1 && samples <= 1_000_000 else {
            throw ValidationError("--samples must be in 1…1000000, got \(samples)")
        }
        guard split == "train" || split == "test" else { throw ValidationError("--split must be train or test, got '\(split)'") }
        _ = try parsedSparsities()
        _ = try PruningScore(named: score)
    }

    func parsedSparsities() throws -> [Double] {
        let values = sparsities.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
        guard !values.isEmpty, values.allSatisfy({ $0 != nil && $0! >= 0 && $0! < 1 }) else {
            throw ValidationError("--sparsities must be numbers in [0, 1) separated by commas, got '\(sparsities)'")
        }
        return values.map { $0! }
    }

    struct Output: Encodable {
        var split: String, samples: Int, score: String
        var layers: [LayerSensitivity]
    }

    func run() throws {
        try reporting {
            runtime.apply()
            if let svg { try checkWritable(svg) }
            let float = try loadFloatModel(model, advice: "analyse the float model it came from").model
            let source = try DataSource.load(data)
            let scoreKind = try PruningScore(named: score)
            let train = try float.prepare(source.train)
            let measured = split == "test" ? try float.prepare(source.test).prefix(samples)
                : train.rows(max(0, train.count - samples)..<train.count)
            let layers = try Shrink.sensitivity(
                of: float, on: measured, sparsities: try parsedSparsities(), score: scoreKind,
                scoring: ScoringData(dataset: train.prefix(max(1, train.count - samples))), seed: seed) { layer in
                printError("measured \(layer)")
            }
            if let svg {
                var chart = LineChart(title: "Sensitivity of \(float.architecture) (\(score), no fine-tuning)",
                                      xLabel: "sparsity of the layer", yLabel: "top-1 accuracy (%)",
                                      series: layers.map { layer in
                                          .init(name: layer.layer, points: layer.points.map { ($0.sparsity, 100 * $0.accuracy) })
                                      })
                chart.xRange = 0...1
                try AtomicFile.write(Array(chart.svg.utf8), to: svg)
            }
            if runtime.json {
                print(try jsonString(Output(split: split, samples: measured.count, score: score, layers: layers)))
                return
            }
            let columns = layers.first?.points.map { String(format: "%.0f%%", 100 * $0.sparsity) } ?? []
            var table = TextTable(headers: ["layer", "weights"] + columns)
            for layer in layers {
                table.append([layer.layer, groupedThousands(layer.weights)]
                    + layer.points.map { String(format: "%.2f", 100 * $0.accuracy) })
            }
            print("top-1 accuracy (%) on \(measured.count) \(split == "test" ? "test" : "held-out training") samples, "
                + "each layer pruned alone by \(score)")
            print(table)
        }
    }
}
