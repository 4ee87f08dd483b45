// Linear: the fully connected layer y = x·Wᵀ + b, as one sgemm per batch.
import CKernels
import Foundation
import Tensors

/// A fully connected layer, `y = x · Wᵀ + b`.
///
/// Shapes: x (N, in), W [out, in] (PyTorch layout), b [out], y (N, out). Initialisation: He uniform for W, zero b.
/// MACs per sample: `in · out`.
public final class Linear: ActivationFusing {
    public let weight: Parameter
    public let bias: Parameter?
    public var inputFeatures: Int { weight.value.shape[1] }
    public var outputFeatures: Int { weight.value.shape[0] }
    private var savedInput = Tensor(zeros: [0])
    /// The weight in CSR form, when inference runs the sparse kernel (see `useSparseKernel`); dropped by a training
    /// forward, since training changes the weights.
    public private(set) var sparseWeight: SparseMatrix?

    /// Creates the layer from its tensors: `weight` [out, in], `bias` [out] or nil.
    public init(weight: Tensor, bias: Tensor?) {
        precondition(weight.rank == 2, "Linear weight must be [out, in], got \(weight.shape)")
        precondition(bias == nil || bias!.shape == [weight.shape[0]], "Linear bias must be [\(weight.shape[0])]")
        self.weight = Parameter(weight)
        self.bias = bias.map { Parameter($0) }
    }

    /// Creates a He-initialised layer.
    public convenience init(inputFeatures: Int, outputFeatures: Int, bias: Bool = true, generator: inout SeededGenerator) {
        self.init(weight: heUniform(shape: [outputFeatures, inputFeatures], fanIn: inputFeatures, generator: &generator),
                  bias: bias ? Tensor(zeros: [outputFeatures]) : nil)
    }

    public var kind: String { "linear" }
    public var parameters: [(name: String, parameter: Parameter)] {
        [("weight", weight)] + (bias.map { [("bias", $0)] } ?? [])
    }
    public var spec: LayerSpec {
        var s = LayerSpec(kind: kind)
        s.inputFeatures = inputFeatures; s.outputFeatures = outputFeatures; s.bias = bias != nil
        return s
    }

    public func outputShape(for inputShapes: [[Int]]) throws -> [Int] {
        try expectInputs(inputShapes, count: 1, kind)
        guard inputShapes[0] == [inputFeatures] else {
            throw ShrinkError(.shape, "linear expects input (\(inputFeatures)), got \(inputShapes[0])")
        }
        return [outputFeatures]
    }

    public func macs(for inputShapes: [[Int]]) -> Int { inputFeatures * outputFeatures }

    public func forward(_ inputs: [Tensor], mode: Mode) -> Tensor {
        compute(inputs[0], mode: mode, fusing: nil)
    }

    /// Inference with the following activation fused in.
    public func forward(_ inputs: [Tensor], fusing activation: FusedActivation) -> Tensor {
        compute(inputs[0], mode: .inference, fusing: activation)
    }

    /// The density below which the sparse kernel beats the dense one here (docs/benchmarks.md, "Sparse kernel").
    public static let sparseKernelDensity = 0.1

    /// Runs inference through the sparse kernel (`ck_spmm_csr`) when at most `maximumDensity` of the weights are
    /// nonzero, with a CSR copy of the current weights; returns whether it does. Training drops the copy (the dense
    /// path trains); after changing the weights by hand, call this again.
    @discardableResult
    public func useSparseKernel(maximumDensity: Double) -> Bool {
        let matrix = SparseMatrix(dense: weight.value)
        sparseWeight = matrix.density <= maximumDensity ? matrix : nil
        return sparseWeight != nil
    }

    private func compute(_ x: Tensor, mode: Mode, fusing activation: FusedActivation?) -> Tensor {
        // x (N, in)
        let n = x.shape[0], i = inputFeatures, o = outputFeatures
        if mode == .training { sparseWeight = nil }
        var y = Tensor(uninitialized: [n, o])  // (N, out)
        y.withUnsafeMutableBufferPointer { py in
            if let bias {
                bias.value.withUnsafeBufferPointer { pb in
                    for row in 0..<n { (py.baseAddress! + row * o).update(from: pb.baseAddress!, count: o) }
                }
            } else {
                py.update(repeating: 0)
            }
            x.withUnsafeBufferPointer { px in
                if let sparseWeight {
                    sparseWeight.multiplyTransposed(px.baseAddress!, samples: n, into: py.baseAddress!)
                    return
                }
                weight.value.withUnsafeBufferPointer { pw in
                    if n == 1 {
                        // Bands of rows across threads once the band's weights pass 256 KiB (a batch of one reads
                        // every weight once: the product is memory-bound). Each row's dot product is the same.
                        nonisolated(unsafe) let (w, xv, yv) = (pw.baseAddress!, px.baseAddress!, py.baseAddress!)
                        Parallel.forEachRange(count: o, grain: max(16, (1 << 16) / max(i, 1))) { rows in
                            BLAS.sgemv(.none, rows: rows.count, columns: i, a: w + rows.lowerBound * i, x: xv,
                                       beta: 1, y: yv + rows.lowerBound)
                        }
                    } else if mode == .inference, GEMM.backend == .builtin, GEMM.builtinUsesAVX512 {
                        multiplyPacked(px.baseAddress!, samples: n, into: py.baseAddress!)
                    } else {
                        GEMM.sgemm(.none, .transposed, m: n, n: o, k: i, a: px.baseAddress!,
                                   b: pw.baseAddress!, beta: 1, c: py.baseAddress!)
                    }
                }
            }
            activation?.apply(py.baseAddress!, count: n * o)
        }
        if mode == .training { savedInput = x }
        return y
    }

    /// Wᵀ packed for the builtin GEMM (`ck_sgemm_pack_b`) and the weight version it was packed from: inference of a
    /// batch multiplies by it instead of packing the weights again on every call, as `ck_sgemm` would (for a
    /// MobileNetV3 classifier at batch 8, 5% of the network's time). Rebuilt when the weights change.
    private var packed: (version: Int, values: [Float])?
    private let packing = NSLock()

    private func packedWeights() -> [Float] {
        packing.lock()
        defer { packing.unlock() }
        if let packed, packed.version == weight.version { return packed.values }
        let (i, o) = (inputFeatures, outputFeatures)
        var values = [Float](repeating: 0, count: Int(ck_sgemm_packed_b_size(Int64(o), Int64(i))))
        weight.value.withUnsafeBufferPointer { pw in
            ck_sgemm_pack_b(1, Int64(o), Int64(i), pw.baseAddress!, Int64(i), &values)
        }
        packed = (weight.version, values)
        return values
    }

    /// y (samples × out) += x · Wᵀ on the packed weights; a large product splits its output columns across threads
    /// in bands of 32 (the kernel's panel), with the bits of one call.
    private func multiplyPacked(_ x: UnsafePointer<Float>, samples: Int, into y: UnsafeMutablePointer<Float>) {
        let weights = packedWeights()
        let (i, o) = (inputFeatures, outputFeatures)
        let units = (o + 31) / 32
        let parts = samples * i * o >= GEMM.parallelThreshold ? min(BLAS.threads, units) : 1
        weights.withUnsafeBufferPointer { pp in
            nonisolated(unsafe) let (pp, x, y) = (pp, x, y)
            Parallel.perform(iterations: parts, threads: parts) { part in
                let start = min(o, units * part / parts * 32), end = min(o, units * (part + 1) / parts * 32)
                guard start < end else { return }
                ck_sgemm_packed(0, Int64(samples), Int64(o), Int64(i), x, Int64(i), pp.baseAddress!, 1, y, Int64(o),
                                Int64(start), Int64(end))
            }
        }
    }

    public func backward(_ outputGradient: Tensor, needsInputGradient: [Bool]) -> [Tensor?] {
        let dy = outputGradient  // (N, out)
        let x = savedInput       // (N, in)
        let n = x.shape[0], i = inputFeatures, o = outputFeatures
        dy.withUnsafeBufferPointer { pdy in
            // y = x · Wᵀ + b  ⇒  dW += dyᵀ · x, db += Σ_n dy
            x.withUnsafeBufferPointer { px in
                weight.gradient.withUnsafeMutableBufferPointer { pdw in
                    GEMM.sgemm(.transposed, .none, m: o, n: i, k: n, a: pdy.baseAddress!,
                               b: px.baseAddress!, beta: 1, c: pdw.baseAddress!)
                }
            }
            if let bias {
                bias.gradient.withUnsafeMutableBufferPointer { pdb in
                    for row in 0..<n {
                        let r = pdy.baseAddress! + row * o
                        for j in 0..<o { pdb[j] += r[j] }
                    }
                }
            }
        }
        guard needsInputGradient[0] else { return [nil] }
        // dx = dy · W
        var dx = Tensor(zeros: [n, i])
        dy.withUnsafeBufferPointer { pdy in
            weight.value.withUnsafeBufferPointer { pw in
                dx.withUnsafeMutableBufferPointer { pdx in
                    GEMM.sgemm(.none, .none, m: n, n: i, k: o, a: pdy.baseAddress!, b: pw.baseAddress!,
                               c: pdx.baseAddress!)
                }
            }
        }
        return [dx]
    }
}

extension Graph {
    /// Switches every linear layer whose weights are at most `maximumDensity` nonzero to the sparse kernel for
    /// inference (see `Linear.useSparseKernel`); returns their names. Dense layers are left as they are.
    @discardableResult
    public func useSparseKernels(maximumDensity: Double = Linear.sparseKernelDensity) -> [String] {
        nodes.compactMap { node in
            guard let linear = node.layer as? Linear, linear.useSparseKernel(maximumDensity: maximumDensity) else { return nil }
            return node.name
        }
    }
}
