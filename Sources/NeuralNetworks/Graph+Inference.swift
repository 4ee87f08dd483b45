// Parallel inference: a large batch is split across threads, each running the graph with single-threaded BLAS,
// because two thread pools (ours and OpenBLAS's) spinning on the same cores collapse throughput.
import Tensors

extension Graph {
    /// Runs inference on a batch with `threads` threads in total.
    ///
    /// With one thread, or fewer samples than 2 per thread, the whole batch goes through one forward pass and
    /// the GEMMs use `threads` threads inside it (what a batch-1 latency needs). Otherwise the batch is cut into
    /// `threads` contiguous chunks run concurrently with OpenBLAS single-threaded; outputs are concatenated in order.
    /// Inference reads no mutable layer state, so the chunks share the graph safely. `threads` applies to the calling
    /// thread only (`Parallel.withThreads`), so concurrent callers do not disturb each other; calls into OpenBLAS
    /// itself (sgemv at batch 1) use its process-wide setting, which the CLI sets from `--threads`.
    public func infer(_ input: Tensor, threads: Int) -> Tensor {
        Parallel.withThreads(threads) { inferring(input) }
    }

    private func inferring(_ input: Tensor) -> Tensor {
        let n = input.shape[0], size = outputShape.reduce(1, *)
        var output = Tensor(uninitialized: [n] + outputShape)
        output.withUnsafeMutableBufferPointer { po in
            // Each chunk writes only its own rows; inference mutates no graph state (see the layers' forward).
            nonisolated(unsafe) let (graph, po) = (self, po)
            Parallel.forEachChunk(count: n) { _, rows in
                let y = graph.forward(input.slice(rows: rows), mode: .inference)
                y.withUnsafeBufferPointer { (po.baseAddress! + rows.lowerBound * size).update(from: $0.baseAddress!, count: y.count) }
            }
        }
        return output
    }
}
