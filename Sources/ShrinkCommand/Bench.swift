// `shrink bench`: BenchmarkPass — inference latency and throughput of model files — or the kernels' speed
// (`benchmarkKernels`), or with --compare the comparison report of a recipe for any model files.
import ArgumentParser
import Foundation
import Shrink

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure inference latency/throughput of model files, or GEMM kernel speed with --kernels.",
        discussion: """
            Each figure is measured after a warm-up, timing single calls for at least --seconds; the median and \
            the 99th percentile are reported. The machine may be shared: compare medians and ratios from one run.
            """)

    @Argument(help: "Model files (.safetensors).")
    var models: [String] = []

    @Flag(help: "Benchmark the GEMM kernels at fixed shapes instead of models.")
    var kernels = false

    @Option(help: "Batch sizes, comma-separated.")
    var batchSizes: String = BenchmarkPass().batchSizes.map(String.init).joined(separator: ",")

    @Option(help: "Seconds of timed calls per figure (after warm-up).")
    var seconds: Double = BenchmarkPass().seconds

    @Flag(help: "Compare the model files as a recipe's report does (needs --data): accuracy top-1/top-5, parameters, MACs, bytes, batch-1 latency and batch-256 throughput, compression and speed-up against the first file.")
    var compare = false

    @Option(help: "With --compare: the data spec whose test split measures accuracy.")
    var data: String?

    @OptionGroup var runtime: RuntimeOptions

    func pass() throws -> BenchmarkPass {
        guard let sizes = try? parseShape(batchSizes, option: "--batch-sizes") else {
            throw ValidationError("--batch-sizes must be positive integers up to 65536, separated by commas; got '\(batchSizes)'")
        }
        var p = BenchmarkPass()
        p.batchSizes = sizes
        p.seconds = seconds
        return p
    }

    func validate() throws {
        if kernels == !models.isEmpty { throw ValidationError("give model files or --kernels (not both)") }
        if compare && data == nil { throw ValidationError("--compare needs --data (the accuracy column)") }
        if compare && kernels { throw ValidationError("--compare compares model files, not --kernels") }
        try validating(try pass())
    }

    struct ModelOutput: Encodable {
        var path: String, arch: String, parameters: Int, macs: Int, bytes: Int, latency: [BenchmarkPass.Latency]
    }

    func run() throws {
        try reporting {
            runtime.apply()
            if compare, let data {
                let opened = try models.map { ($0, $0, try ShrinkModel.load(from: $0)) }
                let report = try ComparisonReport.measure(opened, data: try loadData(data), benchSeconds: seconds)
                if runtime.json { print(try jsonString(report.rows)) } else { print(report.table) }
            } else if kernels {
                try runKernels()
            } else {
                try runModels()
            }
        }
    }

    private func runModels() throws {
        let bench = try pass()
        var outputs: [ModelOutput] = []
        for path in models {
            let d = try bench.measure(try ShrinkModel.load(from: path))
            outputs.append(ModelOutput(path: path, arch: d.arch, parameters: d.parameters, macs: d.macs, bytes: d.bytes,
                                       latency: d.latency))
        }
        if runtime.json {
            struct Output: Encodable { var threads: Int; var models: [ModelOutput] }
            print(try jsonString(Output(threads: BLAS.threads, models: outputs)))
            return
        }
        var table = TextTable(headers: ["model", "arch", "parameters", "MACs", "batch", "median ms", "p99 ms", "samples/s"])
        for m in outputs {
            for l in m.latency {
                table.append([m.path, m.arch, groupedThousands(m.parameters), groupedThousands(m.macs), "\(l.batch_size)",
                              String(format: "%.3f", l.median_ms), String(format: "%.3f", l.p99_ms),
                              String(format: "%.0f", l.samples_per_second)])
            }
        }
        print("threads: \(BLAS.threads)")
        print(table)
    }

    private func runKernels() throws {
        let outputs = try benchmarkKernels(seconds: seconds)
        if runtime.json {
            struct Output: Encodable { var kernels: [KernelTiming] }
            print(try jsonString(Output(kernels: outputs)))
            return
        }
        var table = TextTable(headers: ["kernel", "m", "n", "k", "threads", "Gop/s", "median ms"])
        for o in outputs {
            table.append([o.name, "\(o.m)", "\(o.n)", "\(o.k)", "\(o.threads)", String(format: "%.1f", o.gops),
                          String(format: "%.4f", o.median_ms)])
        }
        print(table)
    }
}
