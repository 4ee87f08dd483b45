// LayerInputStatistics: what the layer-wise reconstruction methods need to know about each conv/linear layer's input
// on calibration data — the second moment XᵀX of its unfolded input rows (one per group), and their mean. A layer
// y = W x loses E‖(W̃ − W) x‖² = tr(ΔW H ΔWᵀ) when its weights move by ΔW, with H = E[x xᵀ]; its outputs' mean moves by
// ΔW E[x]. Second-order pruning (OBS, SparseGPT), GPTQ and AdaRound read H; bias correction reads E[x].
import Tensors

/// The input statistics of one conv or linear layer: per group (one for a linear or ungrouped conv), over every
/// unfolded input row (each output pixel of each sample for a conv; each sample for a linear).
public struct LayerInputStatistics: Sendable {
    /// The length of one unfolded row: in/groups · k · k for a conv, the input features for a linear.
    public let depth: Int
    /// Per group, Σ x xᵀ (depth × depth, row-major) over all rows.
    public var sums: [[Float]]
    /// Per group, Σ x (depth) over all rows.
    public var rowSums: [[Double]]
    /// How many rows went in (samples × output pixels for a conv).
    public var rows: Int
    /// How many samples went in.
    public var samples: Int

    /// Per group, E[x xᵀ] over the rows (the Hessian of the layer's mean squared reconstruction error, halved).
    public var secondMoments: [[Float]] { sums.map { h in h.map { $0 / Float(max(rows, 1)) } } }
    /// Per group, E[x] over the rows.
    public var means: [[Float]] { rowSums.map { s in s.map { Float($0 / Double(max(rows, 1))) } } }
}

extension Graph {
    /// The input statistics of the conv and linear nodes in `layers` (every one when nil) over `batches` of prepared
    /// inputs, run in inference mode.
    ///
    /// - Throws: `ShrinkError(.value)` when no batch holds a sample; `ShrinkError(.unknownName)` for a name that is
    ///   no conv or linear node.
    public func layerInputStatistics(_ batches: some Sequence<Tensor>,
                                     layers: Set<String>? = nil) throws -> [String: LayerInputStatistics] {
        let selected = nodes.filter { ($0.layer is Conv2d || $0.layer is Linear) && (layers?.contains($0.name) ?? true) }
        for name in layers ?? [] where !selected.contains(where: { $0.name == name }) {
            throw ShrinkError(.unknownName, "'\(name)' is no conv or linear node of the graph")
        }
        let inputs = Set(selected.map { $0.inputs[0] })
        var statistics = [String: LayerInputStatistics]()
        var samples = 0
        for x in batches where x.shape[0] > 0 {
            let values = forward(x, mode: .inference, keeping: inputs)
            let n = x.shape[0]
            samples += n
            for node in selected {
                let input = node.inputs[0] == Graph.inputName ? x : values[node.inputs[0]]!
                if let linear = node.layer as? Linear {
                    let k = linear.inputFeatures
                    var s = statistics[node.name] ?? LayerInputStatistics(
                        depth: k, sums: [[Float](repeating: 0, count: k * k)],
                        rowSums: [[Double](repeating: 0, count: k)], rows: 0, samples: 0)
                    input.withUnsafeBufferPointer { px in
                        s.sums[0].withUnsafeMutableBufferPointer { ph in
                            GEMM.sgemm(.transposed, .none, m: k, n: k, k: n, a: px.baseAddress!, b: px.baseAddress!,
                                       beta: 1, c: ph.baseAddress!)
                        }
                        for r in 0..<n { for j in 0..<k { s.rowSums[0][j] += Double(px[r * k + j]) } }
                    }
                    s.rows += n
                    statistics[node.name] = s
                } else if let conv = node.layer as? Conv2d {
                    let shape = input.shape  // (N, C, H, W)
                    let cg = conv.inputChannels / conv.groups
                    let g = ConvolutionGeometry(channels: shape[1], height: shape[2], width: shape[3],
                                                kernelHeight: conv.kernelSize, kernelWidth: conv.kernelSize,
                                                stride: conv.stride, padding: conv.padding)
                    let depth = cg * conv.kernelSize * conv.kernelSize, pixels = g.columnCount
                    var s = statistics[node.name] ?? LayerInputStatistics(
                        depth: depth, sums: Array(repeating: [Float](repeating: 0, count: depth * depth), count: conv.groups),
                        rowSums: Array(repeating: [Double](repeating: 0, count: depth), count: conv.groups), rows: 0,
                        samples: 0)
                    var columns = [Float](repeating: 0, count: g.columnRows * pixels)
                    input.withUnsafeBufferPointer { px in
                        for sample in 0..<n {
                            columns.withUnsafeMutableBufferPointer { pc in
                                im2col(px.baseAddress! + sample * shape[1] * shape[2] * shape[3], g, pc.baseAddress!)
                            }
                            columns.withUnsafeBufferPointer { pc in
                                for group in 0..<conv.groups {
                                    let a = pc.baseAddress! + group * depth * pixels
                                    s.sums[group].withUnsafeMutableBufferPointer { ph in
                                        GEMM.sgemm(.none, .transposed, m: depth, n: depth, k: pixels, a: a, b: a, beta: 1,
                                                   c: ph.baseAddress!)
                                    }
                                    for row in 0..<depth {
                                        var sum: Double = 0
                                        for p in 0..<pixels { sum += Double(a[row * pixels + p]) }
                                        s.rowSums[group][row] += sum
                                    }
                                }
                            }
                        }
                    }
                    s.rows += n * pixels
                    statistics[node.name] = s
                }
            }
        }
        guard samples > 0 else { throw ShrinkError(.value, "layer input statistics need at least one sample") }
        return statistics.mapValues { var s = $0; s.samples = samples; return s }
    }
}
