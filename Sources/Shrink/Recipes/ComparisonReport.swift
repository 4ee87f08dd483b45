// ComparisonReport: a set of models side by side — test accuracy, parameters, MACs, file bytes, batch-1 latency and
// batch-256 throughput, compression and speed-up against the first (dense) one — measured in-process, as a table,
// Markdown, JSON and two SVG charts.
import Datasets
import Foundation
import NeuralNetworks
import Reports
import Tensors

/// The comparison of a set of models against the first.
public struct ComparisonReport: Sendable {
    /// One model's row.
    public struct Row: Codable, Sendable {
        public var model: String, path: String
        public var accuracy: Double, top5: Double, parameters: Int, macs: Int, bytes: Int
        public var latency_batch1_ms: Double?, images_per_second_batch256: Double?
        public var compression: Double, speedup: Double?
    }

    /// One recipe step for the per-step log: its pass, settings and the figures it reported.
    public struct Step: Codable, Sendable {
        public var name: String, pass: String, line: Int, settings: String, from: String?, figures: String
    }

    public var rows: [Row]
    public var steps: [Step] = []

    public init(rows: [Row], steps: [Step] = []) {
        self.rows = rows
        self.steps = steps
    }

    /// Evaluates each model on `data`'s test split, reads its cost and, with `benchSeconds` > 0, times it at batch 1
    /// and 256 (`BenchmarkPass`); `progress` hears of each model.
    public static func measure(_ models: [(name: String, path: String, model: ShrinkModel)], data: DataSplit,
                               benchSeconds: Double, progress: ProgressHandler = { _ in }) throws -> ComparisonReport {
        var rows: [Row] = []
        for (name, path, model) in models {
            progress(PassProgress(pass: "report", message: "measuring \(name)"))
            let metrics = try model.evaluate(on: data.test)
            let cost = model.cost
            var one: Double?, many: Double?
            if benchSeconds > 0 {
                var bench = BenchmarkPass()
                bench.batchSizes = [1, 256]
                bench.seconds = benchSeconds
                let timing = try bench.measure(model)
                one = timing.at(1)?.median_ms
                many = timing.at(256)?.samples_per_second
            }
            rows.append(Row(model: name, path: path, accuracy: metrics.top1, top5: metrics.top5,
                            parameters: cost.parameters, macs: cost.macs, bytes: cost.bytes, latency_batch1_ms: one,
                            images_per_second_batch256: many, compression: 1, speedup: nil))
        }
        if let dense = rows.first {
            for i in rows.indices {
                rows[i].compression = Double(dense.bytes) / Double(max(rows[i].bytes, 1))
                if let a = dense.latency_batch1_ms, let b = rows[i].latency_batch1_ms, b > 0 { rows[i].speedup = a / b }
            }
        }
        return ComparisonReport(rows: rows)
    }

    /// The rows as a text table.
    public var table: TextTable {
        var t = TextTable(headers: ["model", "top-1", "top-5", "parameters", "MACs", "bytes", "batch 1 ms",
                                    "batch 256 img/s", "compression", "speed-up"])
        for r in rows {
            t.append([r.model, String(format: "%.2f%%", 100 * r.accuracy), String(format: "%.2f%%", 100 * r.top5),
                      groupedThousands(r.parameters), groupedThousands(r.macs), groupedThousands(r.bytes),
                      r.latency_batch1_ms.map { String(format: "%.3f", $0) } ?? "–",
                      r.images_per_second_batch256.map { String(format: "%.0f", $0) } ?? "–",
                      String(format: "%.2f×", r.compression), r.speedup.map { String(format: "%.2f×", $0) } ?? "–"])
        }
        return t
    }

    /// The report as Markdown: the table, the charts and the per-step log.
    public func markdown(title: String) -> String {
        var md = "# \(title)\n\nEvery model the recipe produced, on the test split; compression and speed-up are against "
            + "the first model (file bytes; batch-1 latency).\n\n"
        md += "| model | top-1 | top-5 | parameters | MACs | bytes | batch 1 ms | batch 256 images/s | compression | speed-up |\n"
        md += "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
        for r in rows {
            md += "| \(r.model) | \(String(format: "%.2f%%", 100 * r.accuracy)) | \(String(format: "%.2f%%", 100 * r.top5)) | "
                + "\(groupedThousands(r.parameters)) | \(groupedThousands(r.macs)) | \(groupedThousands(r.bytes)) | "
                + "\(r.latency_batch1_ms.map { String(format: "%.3f", $0) } ?? "–") | "
                + "\(r.images_per_second_batch256.map { String(format: "%.0f", $0) } ?? "–") | "
                + "\(String(format: "%.2f×", r.compression)) | \(r.speedup.map { String(format: "%.2f×", $0) } ?? "–") |\n"
        }
        md += "\n![accuracy against bytes](accuracy-bytes.svg)\n"
        if rows.contains(where: { $0.latency_batch1_ms != nil }) { md += "\n![accuracy against latency](accuracy-latency.svg)\n" }
        if !steps.isEmpty {
            md += "\n## Steps\n\nWhat each pass did, with its settings (the recipe's options) and the figures it reported "
                + "(all of its report is in `steps/STEP.json`).\n\n| step | pass | settings | figures |\n|---|---|---|---|\n"
            for step in steps {
                let settings = (step.from.map { "from \($0); " } ?? "") + (step.settings.isEmpty ? "defaults" : step.settings)
                md += "| \(step.name) (line \(step.line)) | \(step.pass) | `\(settings)` | "
                    + "\(step.figures.replacingOccurrences(of: "|", with: "/")) |\n"
            }
        }
        return md
    }

    /// DIR/report.md, DIR/report.json, DIR/accuracy-bytes.svg and (with latency) DIR/accuracy-latency.svg, each
    /// written atomically.
    public func write(to directory: String, title: String) throws {
        try AtomicFile.write(Array(markdown(title: title).utf8), to: "\(directory)/report.md")
        struct Document: Encodable { var models: [Row]; var steps: [Step] }
        try AtomicFile.write(Array((try jsonString(Document(models: rows, steps: steps)) + "\n").utf8),
                             to: "\(directory)/report.json")
        let bytesChart = LineChart(title: "Accuracy against size", xLabel: "file size (KB)", yLabel: "test accuracy (%)",
                                   series: rows.map {
                                       .init(name: $0.model, points: [(Double($0.bytes) / 1000, 100 * $0.accuracy)], connected: false)
                                   })
        try AtomicFile.write(Array(bytesChart.svg.utf8), to: "\(directory)/accuracy-bytes.svg")
        let timed = rows.compactMap { row in row.latency_batch1_ms.map { (row, $0) } }
        if !timed.isEmpty {
            let latencyChart = LineChart(title: "Accuracy against latency", xLabel: "batch-1 latency (ms)",
                                         yLabel: "test accuracy (%)", series: timed.map { row, latency in
                                             .init(name: row.model, points: [(latency, 100 * row.accuracy)], connected: false)
                                         })
            try AtomicFile.write(Array(latencyChart.svg.utf8), to: "\(directory)/accuracy-latency.svg")
        }
    }
}
