// Reconstruction: after filter pruning, the layers that lost input channels get new weights that best reproduce,
// on calibration data, what the dense layer computed from the dense inputs — least squares, min ‖X′W′ᵀ − X Wᵀ‖²
// over W′ with a small ridge, solved by Cholesky (LAPACKE sposv). Layers are visited in graph order, each on the
// outputs of those already reconstructed, so errors do not pile up. This recovers much of the accuracy the surgery
// cost without any fine-tuning.
//
// [1] He, Zhang & Sun, "Channel Pruning for Accelerating Very Deep Neural Networks", ICCV 2017.
// [2] Luo, Wu & Lin, "ThiNet: A Filter Level Pruning Method for Deep Neural Network Compression", ICCV 2017.
import Datasets
import NeuralNetworks
import Tensors

/// Re-fits, in place, every dense conv and linear layer of `pruned` whose input lost channels, so that on the
/// calibration batches of `data` its outputs (before bias) match the kept outputs of the same layer in `dense`.
/// Returns the names of the layers re-fitted.
///
/// - Throws: `ShrinkError` when the graphs do not correspond, a normal-equation matrix is singular or `data` has a
///   batch size below 1.
@discardableResult
public func reconstructAfterFilterPruning(dense: Graph, pruned: Graph, plan: FilterPruningPlan, data: ScoringData,
                                          ridge: Float = 1e-3) throws -> [String] {
    guard data.batchSize >= 1 else {
        throw ShrinkError(.value, "reconstruction needs a batch size of at least 1, got \(data.batchSize)")
    }
    var refitted: [String] = []
    let batches = Array(BatchSchedule(count: data.dataset.count, batchSize: data.batchSize, seed: 0)
        .batches(epoch: 0).prefix(data.batches))
    for node in pruned.nodes {
        guard let denseNode = dense.node(named: node.name) else {
            throw ShrinkError(.value, "reconstruction: node '\(node.name)' is not in the dense graph")
        }
        let input = node.inputs[0]
        let keptRows = plan.groups.keptPositions(node.name, removing: plan.removed)
        let target: (weight: Tensor, isConv: Conv2d?)
        let weight: Parameter
        if let conv = node.layer as? Conv2d, conv.groups == 1, let denseConv = denseNode.layer as? Conv2d,
           conv.inputChannels < denseConv.inputChannels {
            target = (select(denseConv.weight.value, rows: keptRows), conv)
            weight = conv.weight
        } else if let linear = node.layer as? Linear, let denseLinear = denseNode.layer as? Linear,
                  linear.inputFeatures < denseLinear.inputFeatures {
            target = (select(denseLinear.weight.value, rows: keptRows), nil)
            weight = linear.weight
        } else {
            continue
        }
        let outputs = weight.value.shape[0], depth = weight.value.count / outputs
        let denseDepth = target.weight.count / outputs
        var gram = [Float](repeating: 0, count: depth * depth)       // Σ X′ᵀ X′
        var cross = [Float](repeating: 0, count: depth * outputs)    // Σ X′ᵀ (X Wᵀ)
        for indices in batches {
            let (x, _) = try data.dataset.batch(indices)
            let denseInput = input == Graph.inputName ? x : dense.forward(x, mode: .inference, keeping: [input])[input]!
            let prunedInput = input == Graph.inputName ? x : pruned.forward(x, mode: .inference, keeping: [input])[input]!
            // Rows of the least-squares problem: samples (linear) or output pixels (conv, via im2col).
            let (a, b, count) = rows(dense: denseInput, pruned: prunedInput, conv: target.isConv)
            // T = X Wᵀ (count × outputs), then accumulate X′ᵀX′ and X′ᵀT.
            var t = [Float](repeating: 0, count: count * outputs)
            a.withUnsafeBufferPointer { pa in
                target.weight.withUnsafeBufferPointer { pw in
                    t.withUnsafeMutableBufferPointer { pt in
                        GEMM.sgemm(.none, .transposed, m: count, n: outputs, k: denseDepth, a: pa.baseAddress!,
                                   b: pw.baseAddress!, c: pt.baseAddress!)
                    }
                }
            }
            b.withUnsafeBufferPointer { pb in
                gram.withUnsafeMutableBufferPointer { pg in
                    GEMM.sgemm(.transposed, .none, m: depth, n: depth, k: count, a: pb.baseAddress!, b: pb.baseAddress!,
                               beta: 1, c: pg.baseAddress!)
                }
                t.withUnsafeBufferPointer { pt in
                    cross.withUnsafeMutableBufferPointer { pc in
                        GEMM.sgemm(.transposed, .none, m: depth, n: outputs, k: count, a: pb.baseAddress!,
                                   b: pt.baseAddress!, beta: 1, c: pc.baseAddress!)
                    }
                }
            }
        }
        let meanDiagonal = (0..<depth).reduce(Float(0)) { $0 + gram[$1 * depth + $1] } / Float(depth)
        for i in 0..<depth { gram[i * depth + i] += ridge * max(meanDiagonal, 1e-12) }
        let solution: [Float]   // depth × outputs = W′ᵀ
        do {
            solution = try LinearAlgebra.solveSymmetric(gram, n: depth, cross, columns: outputs)
        } catch let error as ShrinkError {
            throw ShrinkError(error.kind, "reconstruction of '\(node.name)': \(error.message)")
        }
        var refit = [Float](repeating: 0, count: outputs * depth)
        for o in 0..<outputs { for k in 0..<depth { refit[o * depth + k] = solution[k * outputs + o] } }
        weight.value = Tensor(shape: weight.value.shape, scalars: refit)
        refitted.append(node.name)
    }
    return refitted
}

/// The least-squares rows of one batch: (dense rows, pruned rows, row count). A linear layer's rows are its input
/// samples; a conv's are its output pixels, im2col columns transposed, over every sample.
private func rows(dense: Tensor, pruned: Tensor, conv: Conv2d?) -> ([Float], [Float], Int) {
    guard let conv else { return (dense.scalars, pruned.scalars, dense.shape[0]) }
    func unfold(_ t: Tensor) -> [Float] {
        let (n, c, h, w) = (t.shape[0], t.shape[1], t.shape[2], t.shape[3])
        let g = ConvolutionGeometry(channels: c, height: h, width: w, kernelHeight: conv.kernelSize,
                                    kernelWidth: conv.kernelSize, stride: conv.stride, padding: conv.padding)
        let k = g.columnRows, p = g.columnCount
        var columns = [Float](repeating: 0, count: k * p), out = [Float](repeating: 0, count: n * p * k)
        t.withUnsafeBufferPointer { pt in
            for s in 0..<n {
                columns.withUnsafeMutableBufferPointer { im2col(pt.baseAddress! + s * c * h * w, g, $0.baseAddress!) }
                for row in 0..<k { for pixel in 0..<p { out[(s * p + pixel) * k + row] = columns[row * p + pixel] } }
            }
        }
        return out
    }
    let g = dense.shape
    let pixels = ((g[2] + 2 * conv.padding - conv.kernelSize) / conv.stride + 1)
        * ((g[3] + 2 * conv.padding - conv.kernelSize) / conv.stride + 1)
    return (unfold(dense), unfold(pruned), g[0] * pixels)
}
