// KernelBenchmark: the speed of the engine's products at fixed shapes — sgemm through OpenBLAS and the built-in
// kernel, the integer engine's u8 × s8 → s32 product (OpenBLAS-carried and native), the binarized layers'
// XNOR-popcount product and a pruned linear layer's sparse product — each timed with `measureCalls`.
import Foundation
import Tensors

/// One kernel at one shape.
public struct KernelTiming: Encodable, Sendable {
    public var name: String, m: Int, n: Int, k: Int, threads: Int, gops: Double, median_ms: Double
}

/// Times every kernel at (1024, 1024, 1024), (256, 128, 3136) and (1, 512, 512) for at least `seconds` each.
/// Gop/s count 2·m·n·k operations (one bit of the binary product counts as one multiply-add), so rows compare.
public func benchmarkKernels(seconds: Double) throws -> [KernelTiming] {
    guard seconds > 0 && seconds <= 600 else { throw ShrinkError(.value, "seconds must be in (0, 600], got \(seconds)") }
    var outputs: [KernelTiming] = []
    let shapes = [(1024, 1024, 1024), (256, 128, 3136), (1, 512, 512)]
    func record(_ name: String, _ m: Int, _ n: Int, _ k: Int, threads: Int, _ timing: Timing) {
        outputs.append(KernelTiming(name: name, m: m, n: n, k: k, threads: threads,
                                    gops: 2 * Double(m * n * k) / timing.median / 1e9, median_ms: timing.median * 1e3))
    }
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
                        measureCalls(seconds: seconds) {
                            GEMM.sgemm(.none, .none, m: m, n: n, k: k, a: pa.baseAddress!, b: pb.baseAddress!,
                                       c: pc.baseAddress!, backend: backend)
                        }
                    }
                }
            }
            record(name, m, n, k, threads: BLAS.threads, timing)
        }
    }
    // The integer engine's u8 × s8 → s32 product: "u8s8-openblas" carries the integers through sgemm in exact
    // K chunks (conversion included), "u8s8-native" is CKernels (AVX-512 VNNI where the CPU has it). The native
    // kernel is single-threaded (the integer engine splits batches across threads instead).
    for backend in [IntegerGEMMBackend.openBLAS, .native] {
        for (m, n, k) in shapes {
            var generator = SeededGenerator(seed: 2, stream: "bench-kernels-u8s8")
            let a = (0..<(m * k)).map { _ in UInt8(generator.nextInt(below: 256)) }
            let b = (0..<(k * n)).map { _ in Int8(truncatingIfNeeded: generator.nextInt(below: 256)) }
            var c = [Int32](repeating: 0, count: m * n)
            let timing = a.withUnsafeBufferPointer { pa in
                b.withUnsafeBufferPointer { pb in
                    c.withUnsafeMutableBufferPointer { pc in
                        measureCalls(seconds: seconds) {
                            IntegerGEMM.u8s8(m: m, n: n, k: k, a: pa.baseAddress!, b: pb.baseAddress!,
                                             c: pc.baseAddress!, backend: backend)
                        }
                    }
                }
            }
            record("u8s8-\(backend.rawValue)", m, n, k, threads: backend == .native ? 1 : BLAS.threads, timing)
        }
    }
    // The binarized layers' product: ±1 operands packed 64 per word, XNOR + popcount, one thread.
    for (m, n, k) in shapes {
        var generator = SeededGenerator(seed: 4, stream: "bench-kernels-binary")
        let a = (0..<(m * k)).map { _ in generator.nextUniform() - 0.5 }
        let b = (0..<(n * k)).map { _ in generator.nextUniform() - 0.5 }
        let pa = a.withUnsafeBufferPointer { BinaryGEMM.pack($0.baseAddress!, rows: m, columns: k) }
        let pb = b.withUnsafeBufferPointer { BinaryGEMM.pack($0.baseAddress!, rows: n, columns: k) }
        record("binary", m, n, k, threads: 1,
               measureCalls(seconds: seconds) { _ = BinaryGEMM.multiply(m: m, n: n, k: k, a: pa, b: pb) })
    }
    // A pruned linear layer's product: W (n × k, 5% nonzero) in CSR, y (m × n) += x (m × k) · Wᵀ on one thread;
    // its Gop/s count the dense operations, so the row compares with sgemm's directly.
    for (m, n, k) in shapes {
        var generator = SeededGenerator(seed: 3, stream: "bench-kernels-sparse")
        let x = (0..<(m * k)).map { _ in generator.nextUniform() - 0.5 }
        let w = (0..<(n * k)).map { _ in generator.nextUniform() < 0.05 ? generator.nextUniform() - 0.5 : 0 }
        let sparse = SparseMatrix(dense: Tensor(shape: [n, k], scalars: w))
        var y = [Float](repeating: 0, count: m * n)
        let timing = x.withUnsafeBufferPointer { px in
            y.withUnsafeMutableBufferPointer { py in
                measureCalls(seconds: seconds) { sparse.multiplyTransposed(px.baseAddress!, samples: m, into: py.baseAddress!) }
            }
        }
        record("spmm-5%", m, n, k, threads: 1, timing)
    }
    return outputs
}
