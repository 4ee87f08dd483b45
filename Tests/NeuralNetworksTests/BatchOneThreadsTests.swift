// A batch of one split across threads gives the bits of one thread: grouped and 1×1 convs (each part doing its own
// bias, product and fused activation), matrix-vector products in bands of rows, adds, channel gates and global means
// in blocks. Shapes are large enough that each layer takes the split with 2 and 3 threads.
import Foundation
import Testing
@testable import NeuralNetworks
import Tensors

@Suite struct BatchOneThreadsTests {
    private func random(_ shape: [Int], _ g: inout SeededGenerator) -> Tensor {
        Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in g.nextNormal() })
    }

    /// How many elements of two runs differ in their bits (0 when identical; the count when the lengths differ).
    private func differing(_ a: [UInt32], _ b: [UInt32]) -> Int {
        a.count == b.count ? zip(a, b).filter { $0 != $1 }.count : max(a.count, b.count)
    }

    /// The layer's inference on one, two and three threads, as bit patterns.
    private func onThreads(_ run: () -> Tensor) -> [[UInt32]] {
        [1, 2, 3].map { t in Parallel.withThreads(t) { run() }.scalars.map(\.bitPattern) }
    }

    @Test(arguments: [
        // (input channels, output channels, kernel, stride, padding, groups, size)
        (64, 64, 3, 1, 1, 4, 24),    // grouped 3×3 (RegNet-style group width 16)
        (48, 96, 3, 2, 1, 3, 30),    // grouped, strided
        (64, 128, 1, 1, 0, 1, 20),   // 1×1, 400 pixels: bands of 32 columns with a ragged last band
        (96, 48, 1, 1, 0, 2, 18),    // grouped 1×1
        (256, 128, 1, 1, 0, 1, 7),   // 49 pixels: too few to split by pixels, split by output channels
        (128, 128, 3, 1, 1, 8, 7),   // few pixels, grouped: split by groups
        (96, 96, 3, 1, 1, 3, 7),     // few pixels, fewer groups than parts: split by output channels in each group
    ])
    func convolutionsGiveTheBitsOfOneThread(c: Int, o: Int, k: Int, stride: Int, pad: Int, groups: Int, size: Int) {
        var g = SeededGenerator(seed: UInt64(c * 7 + o + groups))
        let x = random([1, c, size, size], &g)
        let conv = Conv2d(weight: random([o, c / groups, k, k], &g), bias: random([o], &g), stride: stride,
                          padding: pad, groups: groups)
        // A grouped conv's parts are whole groups: the bits of one thread. An ungrouped 1×1 conv's parts are bands
        // of columns of one product, which OpenBLAS may round differently from the whole (its kernels for a band's
        // last columns are not the full tile's); the builtin GEMM's sums do not depend on the band.
        let exact = groups > 1 || GEMM.backend == .builtin
        let plain = onThreads { conv.forward([x], mode: .inference) }
        agree(plain, exact: exact)
        for activation in [FusedActivation.clamp(cap: 6), .pointwise(.silu, alpha: 0, beta: 0)] {
            let fused = onThreads { conv.forward([x], fusing: activation) }
            agree(fused, exact: exact)
            // Fused equals the layer then the activation, on one thread.
            var separate = Parallel.withThreads(1) { conv.forward([x], mode: .inference) }
            separate.withUnsafeMutableBufferPointer { activation.apply($0.baseAddress!, count: $0.count) }
            #expect(differing(fused[0], separate.scalars.map(\.bitPattern)) == 0)
        }
    }

    /// Runs on 2 and 3 threads equal the run on one: bit for bit, or within float rounding of its sums.
    private func agree(_ runs: [[UInt32]], exact: Bool) {
        for run in runs.dropFirst() {
            if exact {
                #expect(differing(runs[0], run) == 0)
            } else {
                let one = runs[0].map(Float.init(bitPattern:)), other = run.map(Float.init(bitPattern:))
                #expect(one.count == other.count)
                let worst = zip(one, other).map { abs($0 - $1) / max(1, abs($0)) }.max() ?? 0
                #expect(worst < 1e-5)
            }
        }
    }

    @Test func matrixVectorProductsGiveTheBitsOfOneThread() {
        var g = SeededGenerator(seed: 3)
        let linear = Linear(weight: random([1000, 576], &g), bias: random([1000], &g))
        let x = random([1, 576], &g)
        let runs = onThreads { linear.forward([x], mode: .inference) }
        #expect(differing(runs[0], runs[1]) == 0 && differing(runs[0], runs[2]) == 0)
        // Row r is W[r] · x + b[r] for every band.
        let y = Tensor(shape: [1, 1000], scalars: runs[2].map(Float.init(bitPattern:)))
        let w = linear.weight.value.scalars, b = linear.bias!.value.scalars, xs = x.scalars
        for r in [0, 15, 16, 499, 500, 999] {
            var expected = Double(b[r])
            for j in 0..<576 { expected += Double(w[r * 576 + j]) * Double(xs[j]) }
            #expect(abs(Double(y.scalars[r]) - expected) < 1e-3)
        }
    }

    @Test func addsGatesAndMeansGiveTheBitsOfOneThread() {
        var g = SeededGenerator(seed: 4)
        let a = random([1, 96, 40, 40], &g), b = random([1, 96, 40, 40], &g), c = random([1, 96, 40, 40], &g)
        let gate = random([1, 96, 1, 1], &g)
        let add = Add(), multiply = Multiply(), mean = GlobalAvgPool()
        let sums = onThreads { add.forward([a, b, c], mode: .inference) }
        #expect(differing(sums[0], sums[1]) == 0 && differing(sums[0], sums[2]) == 0)
        let expected = zip(zip(a.scalars, b.scalars), c.scalars).map { (($0.0 + $0.1) + $1).bitPattern }
        #expect(differing(sums[2], expected) == 0)
        let gated = onThreads { multiply.forward([a, gate], mode: .inference) }
        #expect(differing(gated[0], gated[1]) == 0 && differing(gated[0], gated[2]) == 0)
        #expect(gated[2][1600 * 5 + 7] == (a.scalars[1600 * 5 + 7] * gate.scalars[5]).bitPattern)
        let products = onThreads { multiply.forward([a, b], mode: .inference) }
        #expect(differing(products[0], products[1]) == 0 && differing(products[0], products[2]) == 0)
        let means = onThreads { mean.forward([a], mode: .inference) }
        #expect(differing(means[0], means[1]) == 0 && differing(means[0], means[2]) == 0)
        let plane = a.scalars[(1600 * 95)..<(1600 * 96)].reduce(Float(0), +) / 1600
        #expect(means[2][95] == plane.bitPattern)
    }
    /// A batch whose activations pass the pass budget runs as several forward passes (4 MiB a sample here: two a
    /// pass), each sample's output that of the pass it ran in, on one thread and split across two.
    @Test func largeActivationsRunInPassesThatFitTheCache() throws {
        var g = SeededGenerator(seed: 5)
        var b = GraphBuilder(inputShape: [1, 128, 128])
        try b.add("conv", Conv2d(weight: random([64, 1, 1, 1], &g), bias: random([64], &g), stride: 1, padding: 0))
        try b.add("relu", ReLU())
        try b.add("pool", GlobalAvgPool())
        try b.add("fc", Linear(weight: random([3, 64], &g), bias: nil))
        let graph = try b.build()
        #expect(graph.samplesPerPass == 2)
        let x = random([5, 1, 128, 128], &g)
        var expected: [UInt32] = []
        for start in stride(from: 0, to: 5, by: 2) {
            let part = start..<min(5, start + 2)
            expected += Parallel.withThreads(1) { graph.forward(x.slice(rows: part), mode: .inference) }.scalars
                .map(\.bitPattern)
        }
        #expect(graph.infer(x, threads: 1).scalars.map(\.bitPattern) == expected)
        // Two threads: chunks of 2 and 3 samples, the second in passes of 2 and 1.
        var split: [UInt32] = []
        for part in [0..<2, 2..<4, 4..<5] {
            split += Parallel.withThreads(1) { graph.forward(x.slice(rows: part), mode: .inference) }.scalars.map(\.bitPattern)
        }
        #expect(graph.infer(x, threads: 2).scalars.map(\.bitPattern) == split)
    }
}
