// Parallel inference: a large batch is split across threads, each running the graph with single-threaded BLAS,
// because two thread pools (ours and OpenBLAS's) spinning on the same cores collapse throughput; and each thread's
// share into forward passes small enough that their activations stay in cache.
import Tensors

extension Graph {
    /// Runs inference on a batch with `threads` threads in total.
    ///
    /// With one thread, or fewer samples than 2 per thread, the batch goes through the graph on the calling thread
    /// and the layers use `threads` threads inside it (what a batch-1 latency needs). Otherwise the batch is cut into
    /// `threads` contiguous chunks run concurrently with OpenBLAS single-threaded; outputs are concatenated in order.
    /// Either way a forward pass takes at most `samplesPerPass` samples (those whose activations fit 8 MiB), so a
    /// large batch of large images runs as several passes that keep their maps in cache.
    /// Inference reads no mutable layer state, so the chunks share the graph safely. `threads` applies to the calling
    /// thread only (`Parallel.withThreads`), so concurrent callers do not disturb each other; calls into OpenBLAS
    /// itself (sgemv at batch 1) use its process-wide setting, which the CLI sets from `--threads`.
    public func infer(_ input: Tensor, threads: Int) -> Tensor {
        Parallel.withThreads(threads) { inferring(input) }
    }

    /// How many samples one forward pass takes: as many as keep the largest activation within `passBudget`, at least
    /// one. Layer by layer, a pass writes each activation and the next layer reads it back; at 8 MiB they stay in the
    /// last-level cache, where a batch of 8 MobileNetV2 images at 224×224 (38 MB of expanded maps) went through
    /// memory (batch 8 on one thread: 88 ms in one pass, 78 in passes of one image; EfficientNet-B0 133 and 117,
    /// fmnist-cnn at batch 256 36 and 33 in passes of 83).
    var samplesPerPass: Int {
        let peak = outputShapes.map { $0.reduce(1, *) }.max() ?? 1
        return max(1, Self.passBudget / max(1, peak * MemoryLayout<Float>.size))
    }

    /// The activation bytes one inference pass aims to stay within (see `samplesPerPass`).
    static let passBudget = 8 << 20

    private func inferring(_ input: Tensor) -> Tensor {
        let n = input.shape[0], size = outputShape.reduce(1, *)
        var output = Tensor(uninitialized: [n] + outputShape)
        output.withUnsafeMutableBufferPointer { po in
            // Each chunk writes only its own rows; inference mutates no graph state (see the layers' forward).
            nonisolated(unsafe) let (graph, po) = (self, po)
            let step = graph.samplesPerPass
            Parallel.forEachChunk(count: n) { _, rows in
                var start = rows.lowerBound
                while start < rows.upperBound {
                    let part = start..<min(rows.upperBound, start + step)
                    let y = graph.forward(input.slice(rows: part), mode: .inference)
                    y.withUnsafeBufferPointer { (po.baseAddress! + part.lowerBound * size).update(from: $0.baseAddress!, count: y.count) }
                    start = part.upperBound
                }
            }
        }
        return output
    }
}
