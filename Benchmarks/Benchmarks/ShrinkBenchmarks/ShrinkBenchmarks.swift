// Benchmarks: sgemm through Shrink's wrapper versus OpenBLAS called directly, the u8 × s8 GEMM (native kernel and
// the OpenBLAS path) beside sgemm at the same shapes, and fmnist-cnn training steps and float and int8 inference at
// batch 1 and 256, each at 1 and 2 threads (the GEMM kernels at 1), and a pruned linear layer on the dense and the
// sparse kernel. Throughput figures are per call; divide by the batch, or by the GEMM's operations.
import Benchmark
import CBLASDirect
import Foundation
import Shrink

private func randomValues(_ count: Int, seed: UInt64) -> [Float] {
    var g = SeededGenerator(seed: seed)
    return (0..<count).map { _ in g.nextUniform() - 0.5 }
}

let benchmarks: @Sendable () -> Void = {
    // As the `shrink` command does: keep freed memory instead of returning large blocks to the system, so that the
    // buffers of one call are not mmap'ed and page-faulted again by the next (glibc's default for blocks ≥ 128 KiB).
    if ProcessInfo.processInfo.environment["SHRINK_BENCH_DEFAULT_MALLOC"] == nil { Allocator.keepFreedMemory() }
    Benchmark.defaultConfiguration = .init(metrics: [.wallClock, .throughput, .mallocCountTotal],
                                           warmupIterations: 5, maxDuration: .seconds(2), maxIterations: 100_000)

    // C (m × n) = A (m × k) · Bᵀ: u8 × s8 → s32 natively and through OpenBLAS, and sgemm on the same shape, 1 thread.
    for (m, n, k) in [(1024, 1024, 1024), (256, 128, 3136), (1, 512, 512)] {
        let shape = "\(m)×\(n)×\(k)"
        var g = SeededGenerator(seed: 9)
        let a = (0..<(m * k)).map { _ in UInt8(g.nextInt(below: 256)) }
        let b = (0..<(n * k)).map { _ in Int8(truncatingIfNeeded: g.nextInt(below: 256)) }
        for backend in IntegerGEMMBackend.allCases {
            Benchmark("u8s8 \(backend.rawValue) \(shape) t1") { benchmark in
                BLAS.threads = 1
                var c = [Int32](repeating: 0, count: m * n)
                benchmark.startMeasurement()
                for _ in benchmark.scaledIterations {
                    a.withUnsafeBufferPointer { pa in
                        b.withUnsafeBufferPointer { pb in
                            c.withUnsafeMutableBufferPointer { pc in
                                IntegerGEMM.u8s8(m: m, n: n, k: k, a: pa.baseAddress!, b: pb.baseAddress!,
                                                 c: pc.baseAddress!, backend: backend)
                            }
                        }
                    }
                }
                blackHole(c)
            }
        }
        let fa = randomValues(m * k, seed: 10), fb = randomValues(n * k, seed: 11)
        Benchmark("sgemm \(shape) t1") { benchmark in
            BLAS.threads = 1
            var c = [Float](repeating: 0, count: m * n)
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                fa.withUnsafeBufferPointer { pa in
                    fb.withUnsafeBufferPointer { pb in
                        c.withUnsafeMutableBufferPointer { pc in
                            GEMM.sgemm(.none, .transposed, m: m, n: n, k: k, a: pa.baseAddress!, lda: k,
                                       b: pb.baseAddress!, ldb: k, c: pc.baseAddress!)
                        }
                    }
                }
            }
            blackHole(c)
        }
    }

    // A pruned fc1 of fmnist-cnn (3136 → 128) at 95% sparsity: the dense kernel on the zero-filled weights against
    // the sparse kernel (CSR) on the same weights, at batch 1 and 256, 1 thread.
    for density in [0.05, 0.1, 0.2, 0.3] {
        var g = SeededGenerator(seed: 12)
        let weights = (0..<(128 * 3136)).map { _ -> Float in g.nextUniform() < Float(density) ? g.nextUniform() - 0.5 : 0 }
        for batch in [1, 256] {
            let x = Tensor(shape: [batch, 3136], scalars: randomValues(batch * 3136, seed: 13))
            for sparse in [false, true] {
                let name = "linear 3136→128 \(Int(100 * density))% dense weights, \(sparse ? "sparse" : "dense") kernel, "
                    + "batch \(batch) t1"
                Benchmark(name) { benchmark in
                    BLAS.threads = 1
                    let layer = Linear(weight: Tensor(shape: [128, 3136], scalars: weights), bias: Tensor(zeros: [128]))
                    if sparse { layer.useSparseKernel(maximumDensity: 1) }
                    benchmark.startMeasurement()
                    for _ in benchmark.scaledIterations { blackHole(layer.forward([x], mode: .inference)) }
                }
            }
        }
    }

    for threads in [1, 2] {
        let n = 256
        let a = randomValues(n * n, seed: 1), b = randomValues(n * n, seed: 2)
        Benchmark("sgemm 256³ wrapper t\(threads)") { benchmark in
            BLAS.threads = threads
            var c = [Float](repeating: 0, count: n * n)
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                a.withUnsafeBufferPointer { pa in
                    b.withUnsafeBufferPointer { pb in
                        c.withUnsafeMutableBufferPointer { pc in
                            BLAS.sgemm(.none, .none, m: n, n: n, k: n, a: pa.baseAddress!, b: pb.baseAddress!,
                                       c: pc.baseAddress!)
                        }
                    }
                }
            }
            blackHole(c)
        }
        Benchmark("sgemm 256³ direct t\(threads)") { benchmark in
            openblas_set_num_threads(Int32(threads))
            var c = [Float](repeating: 0, count: n * n)
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                a.withUnsafeBufferPointer { pa in
                    b.withUnsafeBufferPointer { pb in
                        c.withUnsafeMutableBufferPointer { pc in
                            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, 256, 256, 256, 1, pa.baseAddress!, 256,
                                        pb.baseAddress!, 256, 0, pc.baseAddress!, 256)
                        }
                    }
                }
            }
            blackHole(c)
        }

        for batch in [1, 256] {
            Benchmark("fmnist-cnn int8 inference batch \(batch) t\(threads)") { benchmark in
                let graph = try Architecture.fmnistCNN.makeGraph(inputShape: [1, 28, 28], classes: 10)
                let folded = try graph.foldingBatchNorm()
                let calibration = try Dataset(inputs: Tensor(shape: [256, 1, 28, 28], scalars: randomValues(256 * 784, seed: 5)),
                                              labels: [Int32](repeating: 0, count: 256), classCount: 10)
                let quantized = try QuantizedGraph(folded: folded, calibration: try calibrate(folded, on: calibration,
                                                                                                samples: 256))
                let x = Tensor(shape: [batch, 1, 28, 28], scalars: randomValues(batch * 784, seed: 3))
                BLAS.threads = threads
                benchmark.startMeasurement()
                for _ in benchmark.scaledIterations { blackHole(try quantized.forward(x)) }
            }
            Benchmark("fmnist-cnn inference batch \(batch) t\(threads)") { benchmark in
                let graph = try Architecture.fmnistCNN.makeGraph(inputShape: [1, 28, 28], classes: 10)
                let x = Tensor(shape: [batch, 1, 28, 28], scalars: randomValues(batch * 784, seed: 3))
                benchmark.startMeasurement()
                for _ in benchmark.scaledIterations { blackHole(graph.infer(x, threads: threads)) }
            }
        }

        Benchmark("fmnist-cnn training step batch 128 t\(threads)") { benchmark in
            BLAS.threads = threads
            let graph = try Architecture.fmnistCNN.makeGraph(inputShape: [1, 28, 28], classes: 10)
            let optimizer = SGD(learningRate: 0.01, momentum: 0.9)
            let x = Tensor(shape: [128, 1, 28, 28], scalars: randomValues(128 * 784, seed: 4))
            let labels = (0..<128).map { Int32($0 % 10) }
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                graph.zeroGradients()
                let logits = graph.forward(x, mode: .training)
                try graph.backward(seeds: [graph.outputName: crossEntropy(logits: logits, labels: labels).gradient])
                optimizer.step(graph.trainableParameters)
            }
        }
    }
}
