// `shrink bench`: inference latency and throughput of model files, or a quick check of the GEMM kernels.
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
    var batchSizes: String = "1,256"

    @Option(help: "Seconds of timed calls per figure (after warm-up).")
    var seconds: Double = 1.0

    @Flag(help: "Compare the model files as a recipe's report does (needs --data): accuracy top-1/top-5, parameters, MACs, bytes, batch-1 latency and batch-256 throughput, compression and speed-up against the first file.")
    var compare = false

    @Option(help: "With --compare: the data spec whose test split measures accuracy.")
    var data: String?

    @OptionGroup var runtime: RuntimeOptions

    func validate() throws {
        if kernels == !models.isEmpty { throw ValidationError("give model files or --kernels (not both)") }
        if compare && data == nil { throw ValidationError("--compare needs --data (the accuracy column)") }
        if compare && kernels { throw ValidationError("--compare compares model files, not --kernels") }
        guard seconds > 0 && seconds <= 600 else { throw ValidationError("--seconds must be in (0, 600]") }
        guard let sizes = try? parseShape(batchSizes, option: "--batch-sizes"), sizes.allSatisfy({ $0 <= 65_536 }) else {
            throw ValidationError("--batch-sizes must be positive integers up to 65536, separated by commas; got '\(batchSizes)'")
        }
    }

    struct LatencyOutput: Encodable {
        var batch_size: Int, median_ms: Double, p99_ms: Double, samples_per_second: Double, calls: Int
    }

    struct ModelOutput: Encodable {
        var path: String, arch: String, parameters: Int, macs: Int, bytes: Int, latency: [LatencyOutput]
    }

    struct KernelOutput: Encodable {
        var name: String, m: Int, n: Int, k: Int, threads: Int, gops: Double, median_ms: Double
    }

    func run() throws {
        try reporting {
            runtime.apply()
            if compare {
                let report = try Report.measure(models: models.map { ($0, $0) }, data: data!, benchSeconds: seconds,
                                                threads: runtime.threads)
                if runtime.json { print(try jsonString(report.rows)) } else { print(report.table) }
            } else if kernels { try runKernels() } else { try runModels() }
        }
    }

    private func runModels() throws {
        let sizes = try parseShape(batchSizes, option: "--batch-sizes")
        var outputs: [ModelOutput] = []
        for path in models {
            let loaded = try LoadedModel(path: path)
            let model = loaded.float
            let cost = model.graph.cost()
            var latencies: [LatencyOutput] = []
            for batch in sizes {
                var generator = SeededGenerator(seed: 0, stream: "bench-input")
                let shape = [batch] + model.graph.inputShape
                let input = Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in generator.nextNormal() })
                let threads = BLAS.threads
                let timing = try measureThrowing(seconds: seconds) { _ = try loaded.infer(input, threads: threads) }
                latencies.append(LatencyOutput(batch_size: batch, median_ms: timing.median * 1e3, p99_ms: timing.p99 * 1e3,
                                               samples_per_second: Double(batch) / timing.median, calls: timing.calls))
            }
            outputs.append(ModelOutput(path: path, arch: model.architecture, parameters: cost.parameters,
                                       macs: cost.macs, bytes: try readFile(path).count, latency: latencies))
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
        var outputs: [KernelOutput] = []
        let shapes = [(1024, 1024, 1024), (256, 128, 3136), (1, 512, 512)]
        // "sgemm" is OpenBLAS through Shrink's wrapper; "sgemm-builtin" is CKernels' packed kernel (GEMM.sgemm).
        for name in ["sgemm", "sgemm-builtin"] {
            for (m, n, k) in shapes {
                var generator = SeededGenerator(seed: 1, stream: "bench-kernels")
                let a = (0..<(m * k)).map { _ in generator.nextUniform() - 0.5 }
                let b = (0..<(k * n)).map { _ in generator.nextUniform() - 0.5 }
                var c = [Float](repeating: 0, count: m * n)
                let backend: GEMMBackend = name == "sgemm" ? .openBLAS : .builtin
                let timing = a.withUnsafeBufferPointer { pa in
                    b.withUnsafeBufferPointer { pb in
                        c.withUnsafeMutableBufferPointer { pc in
                            measure(seconds: seconds) {
                                GEMM.sgemm(.none, .none, m: m, n: n, k: k, a: pa.baseAddress!, b: pb.baseAddress!,
                                           c: pc.baseAddress!, backend: backend)
                            }
                        }
                    }
                }
                outputs.append(KernelOutput(name: name, m: m, n: n, k: k, threads: BLAS.threads,
                                            gops: 2 * Double(m * n * k) / timing.median / 1e9,
                                            median_ms: timing.median * 1e3))
            }
        }
        // The integer engine's u8 × s8 → s32 product: "u8s8-openblas" carries the integers through sgemm in exact
        // K chunks (conversion included), "u8s8-native" is CKernels (AVX-512 VNNI where the CPU has it).
        for backend in [IntegerGEMMBackend.openBLAS, .native] {
            for (m, n, k) in shapes {
                var generator = SeededGenerator(seed: 2, stream: "bench-kernels-u8s8")
                let a = (0..<(m * k)).map { _ in UInt8(generator.nextInt(below: 256)) }
                let b = (0..<(k * n)).map { _ in Int8(truncatingIfNeeded: generator.nextInt(below: 256)) }
                var c = [Int32](repeating: 0, count: m * n)
                let timing = a.withUnsafeBufferPointer { pa in
                    b.withUnsafeBufferPointer { pb in
                        c.withUnsafeMutableBufferPointer { pc in
                            measure(seconds: seconds) {
                                IntegerGEMM.u8s8(m: m, n: n, k: k, a: pa.baseAddress!, b: pb.baseAddress!,
                                                 c: pc.baseAddress!, backend: backend)
                            }
                        }
                    }
                }
                // The native kernel is single-threaded (the integer engine splits batches across threads instead);
                // the OpenBLAS path runs sgemm on the engine's threads.
                outputs.append(KernelOutput(name: "u8s8-\(backend.rawValue)", m: m, n: n, k: k,
                                            threads: backend == .native ? 1 : BLAS.threads,
                                            gops: 2 * Double(m * n * k) / timing.median / 1e9,
                                            median_ms: timing.median * 1e3))
            }
        }
        // The binarized layers' product: ±1 operands packed 64 per word, XNOR + popcount (one bit counts as one
        // multiply-add, so Gop/s compare with sgemm at the same logical shape), one thread.
        for (m, n, k) in shapes {
            var generator = SeededGenerator(seed: 4, stream: "bench-kernels-binary")
            let a = (0..<(m * k)).map { _ in generator.nextUniform() - 0.5 }
            let b = (0..<(n * k)).map { _ in generator.nextUniform() - 0.5 }
            let pa = a.withUnsafeBufferPointer { BinaryGEMM.pack($0.baseAddress!, rows: m, columns: k) }
            let pb = b.withUnsafeBufferPointer { BinaryGEMM.pack($0.baseAddress!, rows: n, columns: k) }
            let timing = measure(seconds: seconds) { _ = BinaryGEMM.multiply(m: m, n: n, k: k, a: pa, b: pb) }
            outputs.append(KernelOutput(name: "binary", m: m, n: n, k: k, threads: 1,
                                        gops: 2 * Double(m * n * k) / timing.median / 1e9,
                                        median_ms: timing.median * 1e3))
        }
        // A pruned linear layer's product: W (n × k, 5% nonzero) in CSR, y (m × n) += x (m × k) · Wᵀ by ck_spmm_csr
        // on one thread. Its Gop/s count the dense operations 2·m·n·k, so the row compares with sgemm's directly.
        for (m, n, k) in shapes {
            var generator = SeededGenerator(seed: 3, stream: "bench-kernels-sparse")
            let x = (0..<(m * k)).map { _ in generator.nextUniform() - 0.5 }
            let w = (0..<(n * k)).map { _ in generator.nextUniform() < 0.05 ? generator.nextUniform() - 0.5 : 0 }
            let sparse = SparseMatrix(dense: Tensor(shape: [n, k], scalars: w))
            var y = [Float](repeating: 0, count: m * n)
            let timing = x.withUnsafeBufferPointer { px in
                y.withUnsafeMutableBufferPointer { py in
                    measure(seconds: seconds) { sparse.multiplyTransposed(px.baseAddress!, samples: m, into: py.baseAddress!) }
                }
            }
            outputs.append(KernelOutput(name: "spmm-5%", m: m, n: n, k: k, threads: 1,
                                        gops: 2 * Double(m * n * k) / timing.median / 1e9,
                                        median_ms: timing.median * 1e3))
        }
        if runtime.json {
            struct Output: Encodable { var kernels: [KernelOutput] }
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

/// `measure` for a body that can throw; the first error stops the measurement.
func measureThrowing(seconds: Double, _ body: () throws -> Void) throws -> (median: Double, p99: Double, calls: Int) {
    var failure: Error?
    let result = measure(seconds: seconds) {
        guard failure == nil else { return }
        do { try body() } catch { failure = error }
    }
    if let failure { throw failure }
    return result
}

/// Per-call timing: a warm-up of at least 0.2 s (and 3 calls), then single calls timed until `seconds` have passed
/// and at least 20 calls were made. Returns the median and 99th percentile in seconds.
func measure(seconds: Double, _ body: () -> Void) -> (median: Double, p99: Double, calls: Int) {
    let clock = ContinuousClock()
    func elapsed(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
    }
    let warmStart = clock.now
    var warmCalls = 0
    while warmCalls < 3 || elapsed(clock.now - warmStart) < 0.2 { body(); warmCalls += 1 }
    var times: [Double] = []
    let start = clock.now
    while times.count < 20 || elapsed(clock.now - start) < seconds {
        let t0 = clock.now
        body()
        times.append(elapsed(clock.now - t0))
    }
    times.sort()
    let p99 = times[min(times.count - 1, Int((Double(times.count) * 0.99).rounded(.up)) - 1)]
    return (times[times.count / 2], p99, times.count)
}
