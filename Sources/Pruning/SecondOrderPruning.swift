// SecondOrderPruning: Optimal Brain Surgeon on each layer's reconstruction problem, as OBC and SparseGPT solve it.
// For a layer y = W x with calibration inputs X, the loss of removing weights is measured by H = XᵀX / N; pruning
// weight q of a row costs w_q² / [H⁻¹]_qq and the rest of the row compensates by −(w_q / [H⁻¹]_qq) · H⁻¹[q, ·].
// SparseGPT's column order makes this one Cholesky factor U of H⁻¹ (A⁻¹ = UᵀU, via LAPACKE) for the whole layer:
// columns are visited left to right in blocks of 128; in each block the weights with the lowest w² / U_qq² go, and
// every pruned weight's error is spread over the columns to its right.
//
// [1] Hassibi & Stork, "Second order derivatives for network pruning: Optimal Brain Surgeon", NIPS 1992.
// [2] Frantar & Alistarh, "SparseGPT: Massive Language Models Can Be Accurately Pruned in One-Shot", ICML 2023.
import Datasets
import NeuralNetworks
import Tensors

/// Prunes `weights` (rows × columns, row-major) to `sparsity` given the layer's input Hessian `hessian`
/// (columns × columns, XᵀX / N), updating the remaining weights to keep the layer's outputs on the calibration data.
/// Positions where `keepPruned` is 0 are pruned whatever their score (weights already pruned stay pruned).
///
/// - Throws: `ShrinkError` when the sizes do not fit or the dampened Hessian is not positive definite.
public func secondOrderPrune(weights: [Float], rows: Int, columns: Int, hessian: [Float], sparsity: Double,
                             keepPruned mask: [Float]? = nil, blockSize: Int = 128,
                             dampening: Float = 0.01) throws -> [Float] {
    guard weights.count == rows * columns, hessian.count == columns * columns, mask.map({ $0.count == weights.count }) ?? true else {
        throw ShrinkError(.shape, "second-order pruning: \(weights.count) weights, a \(hessian.count)-element Hessian "
            + "and \(mask?.count ?? 0) mask entries do not fit \(rows) × \(columns)")
    }
    var w = weights, h = hessian
    // Inputs that never fire carry no information: their weights go and their diagonal becomes 1.
    for c in 0..<columns where h[c * columns + c] == 0 {
        h[c * columns + c] = 1
        for r in 0..<rows { w[r * columns + c] = 0 }
    }
    let meanDiagonal = (0..<columns).reduce(Float(0)) { $0 + h[$1 * columns + $1] } / Float(columns)
    for c in 0..<columns { h[c * columns + c] += dampening * meanDiagonal }
    let u = try LinearAlgebra.choleskyOfInverse(h, n: columns)
    var block = 0
    while block < columns {
        let end = min(block + blockSize, columns), count = end - block
        // The block's mask: the lowest w² / U_qq² across all rows of the block, exactly round(s · entries).
        var scored: [(score: Float, index: Int)] = []
        scored.reserveCapacity(rows * count)
        for r in 0..<rows {
            for i in 0..<count {
                let c = block + i, d = u[c * columns + c]
                let forced = mask.map { $0[r * columns + c] == 0 } ?? false
                scored.append((forced ? -.infinity : w[r * columns + c] * w[r * columns + c] / (d * d), r * count + i))
            }
        }
        scored.sort { ($0.score, $0.index) < ($1.score, $1.index) }
        var pruned = [Bool](repeating: false, count: rows * count)
        for entry in scored.prefix(Int((Double(rows * count) * sparsity).rounded())) { pruned[entry.index] = true }
        // Column by column: remove, and spread each row's error over the columns to its right.
        var errors = [Float](repeating: 0, count: rows * count)
        for i in 0..<count {
            let c = block + i, d = u[c * columns + c]
            for r in 0..<rows where pruned[r * count + i] {
                let error = w[r * columns + c] / d
                errors[r * count + i] = error
                w[r * columns + c] = 0
                for j in (c + 1)..<end { w[r * columns + j] -= error * u[c * columns + j] }
            }
        }
        // The rest of the layer: W[:, end…] −= E · U[block…end, end…].
        if end < columns {
            for r in 0..<rows {
                for i in 0..<count where errors[r * count + i] != 0 {
                    let e = errors[r * count + i], c = block + i
                    for j in end..<columns { w[r * columns + j] -= e * u[c * columns + j] }
                }
            }
        }
        block = end
    }
    return w
}

/// The input Hessians XᵀX / N of every prunable layer (per group for a grouped conv), from calibration batches, N the
/// number of samples. Keys are node names; a grouped conv has one matrix per group, in order.
func layerHessians(_ graph: Graph, data: ScoringData) throws -> [String: [[Float]]] {
    let schedule = BatchSchedule(count: data.dataset.count, batchSize: data.batchSize, seed: 0)
    let batches = try schedule.batches(epoch: 0).prefix(data.batches).map { try data.dataset.batch($0).0 }
    do {
        return try graph.layerInputStatistics(batches).mapValues { s in
            s.sums.map { h in h.map { $0 / Float(s.samples) } }
        }
    } catch let error as ShrinkError where error.kind == .value {
        throw ShrinkError(.value, "second-order pruning needs calibration samples")
    }
}

/// Prunes every prunable layer of `graph` by OBS to its share of `targets` (node → sparsity), in place, and sets
/// the parameters' masks to the resulting zero patterns.
func secondOrderPruneLayers(_ graph: Graph, targets: [String: Double], data: ScoringData) throws {
    let hessians = try layerHessians(graph, data: data)
    for (node, parameter) in prunableWeights(graph) {
        guard let target = targets[node], let hs = hessians[node] else { continue }
        let shape = parameter.value.shape
        let groups = hs.count, rows = shape[0] / groups, columns = parameter.value.count / shape[0]
        var result = [Float]()
        result.reserveCapacity(parameter.value.count)
        for (group, h) in hs.enumerated() {
            let range = (group * rows * columns)..<((group + 1) * rows * columns)
            do {
                result += try secondOrderPrune(weights: Array(parameter.value.scalars[range]), rows: rows, columns: columns,
                                               hessian: h, sparsity: target,
                                               keepPruned: parameter.mask.map { Array($0.scalars[range]) })
            } catch let error as ShrinkError {
                throw ShrinkError(error.kind, "second-order pruning of '\(node)': \(error.message)")
            }
        }
        parameter.value = Tensor(shape: shape, scalars: result)
        parameter.mask = Tensor(shape: shape, scalars: result.map { $0 == 0 ? 0 : 1 })
    }
}
