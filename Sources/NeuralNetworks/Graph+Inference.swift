// Parallel inference: a large batch is split across threads, each running the graph with single-threaded BLAS,
// because two thread pools (ours and OpenBLAS's) spinning on the same cores collapse throughput.
import Dispatch
import Tensors

extension Graph {
    /// Runs inference on a batch with `threads` threads in total.
    ///
    /// With one thread, or fewer samples than 2 per thread, the whole batch goes through one forward pass and
    /// OpenBLAS uses `threads` threads inside it (what a batch-1 latency needs). Otherwise the batch is cut into
    /// `threads` contiguous chunks run concurrently with OpenBLAS single-threaded; outputs are concatenated in order.
    /// Inference reads no mutable layer state, so the chunks share the graph safely. The thread setting
    /// (`BLAS.threads`) is process-wide: it is changed for the duration of the call and restored after, so callers
    /// that run several inferences concurrently should pass `threads: 1` to each.
    public func infer(_ input: Tensor, threads: Int) -> Tensor {
        let n = input.shape[0]
        let workers = min(threads, n / 2)
        guard workers > 1 else {
            let saved = BLAS.threads
            BLAS.threads = threads
            defer { BLAS.threads = saved }
            return forward(input, mode: .inference)
        }
        let saved = BLAS.threads
        BLAS.threads = 1
        defer { BLAS.threads = saved }
        let bounds = (0...workers).map { $0 * n / workers }
        let outputs = UnsafeMutableBufferPointer<Tensor?>.allocate(capacity: workers)
        outputs.initialize(repeating: nil)
        defer { outputs.deinitialize(); outputs.deallocate() }
        // Each worker writes only its own slot; inference mutates no graph state (see the layers' forward).
        nonisolated(unsafe) let graph = self, slots = outputs
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            slots[w] = graph.forward(input.slice(rows: bounds[w]..<bounds[w + 1]), mode: .inference)
        }
        var scalars: [Float] = []
        scalars.reserveCapacity(n * outputShape.reduce(1, *))
        for w in 0..<workers { scalars.append(contentsOf: outputs[w]!.scalars) }
        return Tensor(shape: [n] + outputShape, scalars: scalars)
    }
}
