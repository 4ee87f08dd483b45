// Tensor basics: indexing, reshaping, slicing and gathering rows, elementwise operations and reductions.
import Tensors
import Testing

@Suite struct TensorTests {
    @Test func indexingIsRowMajor() {
        var t = Tensor(shape: [2, 3], scalars: [0, 1, 2, 3, 4, 5])
        #expect(t[1, 0] == 3 && t[0, 2] == 2)
        t[1, 2] = 9
        #expect(t.scalars.last == 9)
        #expect(t.reshaped([3, 2])[2, 1] == 9)
    }

    @Test func sliceAndGatherRows() {
        let t = Tensor(shape: [3, 2], scalars: [0, 1, 2, 3, 4, 5])
        #expect(t.slice(rows: 1..<3).scalars == [2, 3, 4, 5])
        #expect(t.gather(rows: [2, 0][...]).scalars == [4, 5, 0, 1])
        #expect(t.gather(rows: [][...]).shape == [0, 2])
    }

    @Test func arithmeticAndReductions() {
        let a = Tensor(shape: [3], scalars: [1, -4, 2]), b = Tensor(shape: [3], scalars: [1, 1, 1])
        #expect((a + b).scalars == [2, -3, 3])
        #expect((a - b).scalars == [0, -5, 1])
        #expect((a * 2).scalars == [2, -8, 4])
        #expect(a.sum() == -1 && a.maxAbsolute() == 4 && a.dot(b) == -1)
        #expect(Tensor(zeros: [0]).mean() == 0)
        #expect(Tensor(shape: [2, 3], scalars: [0, 5, 5, 7, 1, 2]).argmaxRows() == [1, 0])
        #expect(Tensor(shape: [2], scalars: [1, .nan]).firstNonFiniteIndex() == 1)
    }
}
