// Weight initialisation shared by Linear and Conv2d.
import Tensors

/// He (Kaiming) uniform initialisation for layers followed by ReLU: `W ~ U(−b, b)` with `b = √(6 / fanIn)`.
///
/// [1] He et al., "Delving Deep into Rectifiers", 2015.
func heUniform(shape: [Int], fanIn: Int, generator: inout SeededGenerator) -> Tensor {
    let bound = (6.0 / Float(max(fanIn, 1))).squareRoot()
    var t = Tensor(zeros: shape)
    t.withUnsafeMutableBufferPointer { b in
        for i in 0..<b.count { b[i] = (generator.nextUniform() * 2 - 1) * bound }
    }
    return t
}
