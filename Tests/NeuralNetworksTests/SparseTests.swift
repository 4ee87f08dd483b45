// Sparse weights: the CSR kernel's vectorized and portable paths give the same bits and track the dense product,
// a linear layer on the sparse kernel computes what the dense one does (and drops its copy when it trains), and
// sparse storage (bitmask and values) round-trips through a model file and refuses a mask that does not fit.
import CKernels
import Foundation
import Datasets
import NeuralNetworks
import Tensors
import Testing

private func sparseMatrix(rows: Int, columns: Int, density: Float, seed: UInt64) -> Tensor {
    var g = SeededGenerator(seed: seed)
    return Tensor(shape: [rows, columns], scalars: (0..<(rows * columns)).map { _ in
        g.nextUniform() < density ? g.nextUniform() * 2 - 1 : 0
    })
}

@Suite struct SparseKernelTests {
    @Test(arguments: [(1, 7, 33), (5, 10, 40), (16, 9, 100), (37, 64, 300)])
    func pathsAgreeAndTrackTheDenseProduct(n: Int, rows: Int, columns: Int) {
        let w = sparseMatrix(rows: rows, columns: columns, density: 0.2, seed: UInt64(n + rows))
        let csr = SparseMatrix(dense: w)
        var g = SeededGenerator(seed: 3)
        let x = (0..<(n * columns)).map { _ in g.nextUniform() - 0.5 }
        let start = (0..<(n * rows)).map { Float($0 % 5) }
        var expected = [Double](repeating: 0, count: n * rows)
        for s in 0..<n { for r in 0..<rows {
            expected[s * rows + r] = Double(start[s * rows + r])
            for c in 0..<columns { expected[s * rows + r] += Double(w.scalars[r * columns + c]) * Double(x[s * columns + c]) }
        } }
        var results: [[Float]] = []
        for vectorized in [Int32(0), 1] {
            var y = start
            let ran = csr.rowStart.withUnsafeBufferPointer { ps in
                csr.columnIndex.withUnsafeBufferPointer { pc in
                    csr.values.withUnsafeBufferPointer { pv in
                        ck_spmm_csr_with(vectorized, Int64(rows), Int64(columns), ps.baseAddress!, pc.baseAddress,
                                         pv.baseAddress, Int64(n), x, Int64(columns), &y, Int64(rows))
                    }
                }
            }
            if ran == 0 { continue }
            results.append(y)
            #expect(zip(y, expected).allSatisfy { abs(Double($0) - $1) < 1e-4 }, "vectorized \(vectorized)")
        }
        if results.count == 2 { #expect(results[0] == results[1]) }
        #expect(abs(csr.density - Double(csr.values.count) / Double(rows * columns)) < 1e-12)
    }

    @Test func linearLayerOnTheSparseKernel() {
        let w = sparseMatrix(rows: 12, columns: 50, density: 0.1, seed: 7)
        var g = SeededGenerator(seed: 4)
        let linear = Linear(weight: w, bias: Tensor(shape: [12], scalars: (0..<12).map { Float($0) / 10 }))
        let x = Tensor(shape: [20, 50], scalars: (0..<1000).map { _ in g.nextNormal() })
        let dense = linear.forward([x], mode: .inference)
        #expect(!linear.useSparseKernel(maximumDensity: 0.05))  // 10% dense: above the limit, stays dense
        #expect(linear.useSparseKernel(maximumDensity: 0.3) && linear.sparseWeight != nil)
        let sparse = linear.forward([x], mode: .inference)
        #expect((sparse - dense).maxAbsolute() < 1e-5)
        #expect((linear.forward([x.slice(rows: 3..<4)], mode: .inference) - dense.slice(rows: 3..<4)).maxAbsolute() < 1e-5)
        #expect((linear.forward([x], clampingAt: .infinity) - ReLU().forward([dense], mode: .inference)).maxAbsolute() < 1e-5)
        _ = linear.forward([x], mode: .training)
        #expect(linear.sparseWeight == nil)
    }
}

@Suite struct SparseStorageTests {
    @Test func modelFilesStoreSparseWeightsWhereSmaller() throws {
        let graph = try Architecture.mlp.makeGraph(inputShape: [20], classes: 4, seed: 2)
        let fc1 = graph.node(named: "fc1")!.layer as! Linear
        fc1.weight.value = Tensor(shape: fc1.weight.value.shape,
                                  scalars: fc1.weight.value.scalars.enumerated().map { $0.offset % 10 == 0 ? $0.element : 0 })
        let model = Model(architecture: "mlp", graph: graph, normalization: Normalization(mean: 0, std: 1))
        let path = NSTemporaryDirectoryPath() + "/sparse-\(UInt32.random(in: 0...UInt32.max)).safetensors"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try model.save(to: path, sparse: true)
        let container = try SafeTensorsFile.decode(try readFile(path), file: path)
        #expect(container.tensors["fc1.weight"] == nil && container.tensors["fc1.weight_mask"] != nil)
        #expect(container.tensors["fc2.weight"] != nil)  // dense weights stay F32
        let stored = try #require(try SparseWeightTensor.read("fc1.weight", in: container, file: path))
        #expect(stored.values.count == (fc1.weight.value.count + 9) / 10)
        #expect(stored.storedBytes < fc1.weight.value.count)
        let loaded = try Model.load(from: path)
        let x = Tensor(shape: [3, 20], scalars: (0..<60).map { Float($0 % 7) - 3 })
        #expect(loaded.graph.forward(x, mode: .inference) == graph.forward(x, mode: .inference))
        // A mask that claims more nonzeros than there are values is refused, naming the tensor.
        var broken = container
        broken.tensors["fc1.weight_mask"]!.bytes[0] |= 0b0111_1110
        let error = #expect(throws: ShrinkError.self) { _ = try Model.load(broken, file: "broken.safetensors") }
        #expect(error?.message.contains("fc1.weight") == true && error?.message.contains("broken.safetensors") == true)
    }
}

private func NSTemporaryDirectoryPath() -> String { FileManager.default.temporaryDirectory.path }
