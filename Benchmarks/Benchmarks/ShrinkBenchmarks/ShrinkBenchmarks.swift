// Benchmarks: sgemm through Shrink's wrapper versus OpenBLAS called directly, and fmnist-cnn training steps and
// inference at batch 1 and 256, each at 1 and 2 threads. Throughput figures are per call; divide by the batch.
import Benchmark
import CBLASDirect
import Shrink

private func randomValues(_ count: Int, seed: UInt64) -> [Float] {
    var g = SeededGenerator(seed: seed)
    return (0..<count).map { _ in g.nextUniform() - 0.5 }
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(metrics: [.wallClock, .throughput, .mallocCountTotal],
                                           warmupIterations: 5, maxDuration: .seconds(2), maxIterations: 100_000)

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
                graph.backward(seeds: [graph.outputName: crossEntropy(logits: logits, labels: labels).gradient])
                optimizer.step(graph.trainableParameters)
            }
        }
    }
}
